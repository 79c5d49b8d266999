//! Tests of `cdg-report`, compiled as one test binary: one module per topic.

mod heatmap;
mod pareto;
mod plots;
mod report;
