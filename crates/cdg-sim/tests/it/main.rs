//! Integration tests of `cdg-sim`, compiled as one test binary, one module per topic; shared
//! builders live in `common`. The agreement of the fast model, the stepped engine and the
//! functional executor is tested in the workspace's `tests/it/agreement/`.

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
mod scalesim_golden;
