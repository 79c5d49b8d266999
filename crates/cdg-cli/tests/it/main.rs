//! End-to-end tests of the `cdg` binary, compiled as one test binary; shared helpers live in
//! `support`. The golden outputs, the README's claims and the main job's end-to-end runs are in the
//! workspace's `tests/it/`.

mod cdg_train_ssl;
mod crash;
mod import_onnx;
mod io_inspect;
mod io_python;
mod mapper_cases;
mod masks_synth;
mod merge_shards;
mod plot_heatmap;
mod plot_svgs;
mod report_html;
mod robustness;
mod rtl_check;
mod sim_gated;
mod sim_scalesim;
mod sim_trace;
mod sim_workloads;
mod support;
mod sweep_cli;
mod sweep_fixtures;
mod train_image_folder;
mod train_options;
mod train_resume;
mod train_supervised;
mod user_safe;
mod zoo_networks;
