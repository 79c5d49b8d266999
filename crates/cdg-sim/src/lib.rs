//! cdg-sim (in progress).
