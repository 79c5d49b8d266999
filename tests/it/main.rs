//! The workspace's cross-crate tests, compiled as one test binary: end-to-end runs of the
//! README's commands, the golden outputs, the README's claims and the agreement of the
//! simulator's independent models. Each crate's own tests stay in `crates/<crate>/tests/it/`.

mod agreement;
mod codesign;
mod golden_outputs;
mod support;
mod sweep_run;
