//! Progress bars and human-facing output. Bars draw on stderr only when it is a terminal and
//! `--quiet` is not given; data goes to files or stdout.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Ui {
    bars: bool,
    quiet: bool,
}

impl Ui {
    pub fn new(quiet: bool) -> Self {
        Self {
            bars: !quiet && std::io::stderr().is_terminal(),
            quiet,
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

/// The sweep engine's progress as one bar labelled `what`, made when the engine starts. When
/// stderr is not a terminal (a batch job's log) and `--quiet` is not given, a run that lasts
/// longer than [`LOG_AFTER`] prints a progress line every [`LOG_EVERY`] instead.
#[derive(Debug)]
pub struct SweepBar {
    ui: Ui,
    what: &'static str,
    bar: OnceLock<ProgressBar>,
    log: Mutex<Option<LogState>>,
}

/// The first progress line of a long run without a terminal comes after this long.
pub const LOG_AFTER: Duration = Duration::from_secs(5);
/// Later progress lines come this far apart.
pub const LOG_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct LogState {
    started: Instant,
    next: Instant,
    done: u64,
    total: u64,
}

impl SweepBar {
    pub fn new(ui: &Ui, what: &'static str) -> Self {
        Self {
            ui: *ui,
            what,
            bar: OnceLock::new(),
            log: Mutex::new(None),
        }
    }
}

impl cdg_sweep::Progress for SweepBar {
    fn start(&self, total: u64) {
        let _ = self.bar.set(self.ui.bar(total, self.what));
        if !self.ui.bars && !self.ui.quiet {
            let now = Instant::now();
            *self.log.lock().unwrap_or_else(|e| e.into_inner()) = Some(LogState {
                started: now,
                next: now + LOG_AFTER,
                done: 0,
                total,
            });
        }
    }

    fn advance(&self) {
        if let Some(bar) = self.bar.get() {
            bar.inc(1);
        }
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = log.as_mut() {
            s.done += 1;
            let now = Instant::now();
            if now >= s.next && s.done < s.total {
                s.next = now + LOG_EVERY;
                let elapsed = now.duration_since(s.started).as_secs_f64();
                let eta = elapsed / s.done as f64 * (s.total - s.done) as f64;
                eprintln!(
                    "{}: {}/{} points ({:.0}%), {:.0} s elapsed, about {:.0} s left",
                    self.what,
                    s.done,
                    s.total,
                    100.0 * s.done as f64 / s.total.max(1) as f64,
                    elapsed,
                    eta
                );
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
        }
    }
}
