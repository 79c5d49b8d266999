//! Progress bars and human-facing output. Bars draw on stderr only when it is a terminal and
//! `--quiet` is not given; data goes to files or stdout.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

#[derive(Debug, Clone, Copy)]
pub struct Ui {
    bars: bool,
}

impl Ui {
    pub fn new(quiet: bool) -> Self {
        Self {
            bars: !quiet && std::io::stderr().is_terminal(),
        }
    }

    /// A bar of `len` steps with an ETA; hidden when bars are off.
    pub fn bar(&self, len: u64, what: &str) -> ProgressBar {
        if !self.bars {
            return ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
        }
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>10} [{elapsed_precise}] {wide_bar} {pos}/{len} (eta {eta}) {msg}",
            )
            .expect("static template is valid"),
        );
        bar.set_prefix(what.to_owned());
        bar
    }

    pub fn bars_enabled(&self) -> bool {
        self.bars
    }
}
