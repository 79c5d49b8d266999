//! Integration tests of cdg-core (one binary).

mod zoo;
