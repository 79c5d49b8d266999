//! cdg-io (in progress).
