//! Integration tests of `cdg-sim`, compiled as one test binary, one module per topic; shared
//! builders live in `common`.

mod bad_input;
mod baselines;
#[allow(dead_code)]
mod common;
mod custom_policy;
mod dense_laws;
mod functional_conv;
mod gated_batches;
mod gated_samples;
mod gated_schedule;
mod grouped;
mod mapper;
mod reference_engine;
mod reference_gated;
mod reference_vs_fast;
mod reference_vs_gated;
mod scalesim_golden;
