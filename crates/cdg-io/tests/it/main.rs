//! Integration tests of `cdg-io`, compiled as one test binary: the bad-input corpus
//! (`tests/data`), the no-panic properties of every reader, write/read round trips, and
//! output directories.

mod corpus;
mod fuzz;
mod no_panic;
mod output;
mod roundtrip;
