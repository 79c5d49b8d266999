//! Progress bars and human-facing output. Bars draw on stderr only when it is a terminal and
//! `--quiet` is not given; data goes to files or stdout.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::OnceLock;

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

/// The sweep engine's progress as one bar labelled `what`, made when the engine starts.
#[derive(Debug)]
pub struct SweepBar {
    ui: Ui,
    what: &'static str,
    bar: OnceLock<ProgressBar>,
}

impl SweepBar {
    pub fn new(ui: &Ui, what: &'static str) -> Self {
        Self {
            ui: *ui,
            what,
            bar: OnceLock::new(),
        }
    }
}

impl cdg_sweep::Progress for SweepBar {
    fn start(&self, total: u64) {
        let _ = self.bar.set(self.ui.bar(total, self.what));
    }

    fn advance(&self) {
        if let Some(bar) = self.bar.get() {
            bar.inc(1);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
        }
    }
}
