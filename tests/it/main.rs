//! End-to-end tests of the `cdg` binary and cross-crate properties, compiled as one test binary.
//! Shared helpers live in `support`.

mod support;
mod merge_shards;
mod sweep_cli;
mod sweep_fixtures;
mod plot_svgs;
mod plot_heatmap;
mod sweep_run;
mod io_inspect;
mod io_python;
mod sim_scalesim;
mod sim_trace;
mod masks_synth;
mod train_supervised;
mod codesign;
mod sim_gated;
mod cdg_train_ssl;
