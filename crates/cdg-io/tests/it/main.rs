//! Integration tests of `cdg-io`, compiled as one test binary: the bad-input corpus
//! (`tests/data`), the no-panic properties of every reader, and write/read round trips.

mod corpus;
mod no_panic;
mod roundtrip;
