//! cdg-train (in progress).
