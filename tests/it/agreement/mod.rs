//! The simulator's independent models agree (docs/model.md §9): the fast analytic model
//! (`cdg_sim::simulate_layer`, `simulate_gated_layer`) = the cycle-stepped reference engine
//! (`cdg_sim::reference`) = the functional integer executor (`cdg_sim::functional`).
//!
//! - `reference_vs_fast`: fast dense model = stepped engine (cycles, SRAM counts, MACs, folds).
//! - `reference_vs_gated`: fast gated model = stepped engine, per skip policy.
//! - `reference_gated`: stepped engine on gated schedules = functional executor (outputs, MACs,
//!   clock-gated slots).
//!
//! The RTL of the array (`rtl/`) joins the chain here as a further module comparing its
//! Verilator runs with the stepped engine.

mod reference_gated;
mod reference_vs_fast;
mod reference_vs_gated;

/// The property-test helpers of `cdg-sim`'s own tests, shared rather than copied.
#[allow(dead_code)]
#[path = "../../../crates/cdg-sim/tests/it/common.rs"]
mod common;
