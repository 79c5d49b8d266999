//! End-to-end tests of the `cdg` binary and cross-crate properties, compiled as one test binary.
//! Shared helpers live in `support`.

mod support;
