//! One module per subcommand; each owns its clap `*Args` and its `run`.

pub mod compare;
pub mod import;
pub mod inspect;
pub mod masks;
pub mod merge;
pub mod plot;
pub mod report;
pub mod rtl;
pub mod run;
pub mod sim;
pub mod sweep;
pub mod train;
