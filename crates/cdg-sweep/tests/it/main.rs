//! Tests of `cdg-sweep`, compiled as one test binary: one module per topic, fixtures in
//! `fixtures`.

mod fixtures;
mod main_job;
mod merge;
mod plan;
mod shard;
