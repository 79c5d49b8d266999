//! Cycle-stepped reference engine: an R×C systolic array simulated one clock at a time, with
//! operands moving through PE registers. It exists to check the fast analytic model: its cycle
//! and SRAM counts come from counting what actually happens (operand injections at the array
//! edges, results leaving the array), and its output is the GEMM computed by the moved operands.
//!
//! # Machine
//!
//! Every PE has registers for the operand arriving from the left, the operand (or partial sum)
//! arriving from above, and what the dataflow keeps in place. Each clock, every register takes
//! its neighbour's previous value: left operands move one PE right, top operands one PE down.
//! The array is statically scheduled: a fold always takes a full R×C fold's time; rows or columns
//! a fold does not use carry bubbles (tokens without a value), so they cost time but no SRAM
//! access and no MAC — exactly the convention SCALE-Sim's demand matrices follow.
//!
//! - **OS** (output stationary): rows hold output pixels m, columns filters n. Row r of the
//!   ifmap enters at the left edge skewed by r cycles, column c of the filter at the top skewed by
//!   c; PE (r, c) meets step k at cycle r + c + k and accumulates in place. A fold ends at its
//!   last MAC (PE (R−1, C−1), step T−1); the drain of the accumulators is overlapped with the
//!   next fold (each PE hands its result to the ofmap SRAM as it completes): T + R + C − 2.
//! - **WS / IS** (weight / input stationary): the stationary operand is shifted in from the top
//!   through a per-column load chain, one row per cycle, R cycles; then the streamed operand
//!   enters at the left edge skewed by row, partial sums enter at the top (zero, or the stored
//!   partial sum of an earlier fold, counted as a psum read) skewed by column, flow down one PE
//!   per cycle accumulating, and leave the bottom row into the ofmap SRAM:
//!   R + (T + R + C − 2) cycles.
//!
//! Folds run one after another in schedule order (column folds outer for the dense schedule).
//! With `overlap_folds`, a controller with static knowledge of the schedule starts each fold as
//! early as the pipeline and the data allow (see `Sim::overlap_plan`): OS folds follow each other
//! with period T (each fold after the first saves R + C − 2, as docs/model.md §2 says); WS/IS folds need
//! double-buffered stationary registers (a shadow register per PE, loaded through the chain
//! behind the previous fold's wavefront, swapped in when the new fold's first operand arrives)
//! and follow with period max(T, R) — the chain delivers one row per cycle, and a fold's partial
//! sums leave the array R − 1 cycles after they enter — so the fast model's saving of
//! R + C − 2 + R per fold is reached exactly when T ≥ R. A fold that accumulates onto an output an earlier fold has
//! not yet written also waits (this binds only for gated schedules, e.g. a compacted WS fold
//! streaming an output at an earlier step than the base fold that produced it). The engine
//! checks every hazard anyway (an accumulator or shadow register overwritten before use, a
//! partial sum read before it is written) and reports it as an error rather than computing a
//! wrong number.
//!
//! The machine depends on the dataflow only through its [`Axes`]: when K streams both inputs
//! move and the outputs stay (the OS machine); otherwise the input the stream axis does not
//! index is shifted in first and stays, and partial sums flow down the columns (the WS/IS
//! machine).

use crate::counters::SramAccesses;
use crate::dataflow::{self, Axes, Axis, Input};
use crate::error::SimError;
use crate::matrix::Matrix;
use crate::schedule::{GatedSchedule, Indices, PassDims, PassSchedule, PlannedFold};
use cdg_core::arch::ArrayConfig;
use cdg_core::{Accesses, Cycles, Macs};

type Result<T, E = SimError> = std::result::Result<T, E>;

/// The time one fold occupied: from its first load or injection to its last MAC or extraction,
/// inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoldSpan {
    pub first_cycle: u64,
    pub last_cycle: u64,
}

/// What a run of the engine did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceRun {
    /// The M×N result accumulated in the ofmap SRAM.
    pub output: Matrix,
    /// Cycles from the first injection to the last MAC (OS) or extraction (WS/IS), inclusive.
    pub cycles: Cycles,
    /// SRAM accesses counted at the array edges: inputs injected (streamed, or preloaded when
    /// stationary), outputs leaving the array (final or partial), and stored partial sums read
    /// back to accumulate onto.
    pub sram: SramAccesses,
    /// Multiplies performed with two real operands.
    pub macs: Macs,
    /// MAC slots with real operands whose output was gated off (clock-gated).
    pub macs_clock_gated: Macs,
    /// Per fold, in schedule order.
    pub folds: Vec<FoldSpan>,
}

/// One fold to run and whether its outputs are gated (conditional pass).
#[derive(Debug, Clone, Copy)]
pub struct FoldJob<'a> {
    pub fold: &'a PlannedFold,
    pub gated: bool,
}

/// Simulates the dense GEMM `a` (M×K ifmap) · `b` (K×N filter) on `array`.
pub fn run_gemm(a: &Matrix, b: &Matrix, array: &ArrayConfig) -> Result<ReferenceRun> {
    check_operands(a, b)?;
    let dims = PassDims::plain(a.rows() as u64, b.cols() as u64, 0, a.cols() as u64);
    let s = PassSchedule::dense(&dims, array.rows, array.cols, array.dataflow);
    let jobs: Vec<_> = s
        .folds
        .iter()
        .map(|fold| FoldJob { fold, gated: false })
        .collect();
    run_folds(a, b, array, &jobs, &|_, _| true)
}

/// Simulates a gated layer's schedule: the base folds, then the conditional folds with outputs
/// whose `gate(m, n)` is off clock-gated ([`run_gated_grouped`] with one group).
pub fn run_gated(
    a: &Matrix,
    b: &Matrix,
    array: &ArrayConfig,
    schedule: &GatedSchedule,
    gate: &dyn Fn(u64, u64) -> bool,
) -> Result<ReferenceRun> {
    run_gated_grouped(a, b, 1, array, schedule, gate)
}

/// The jobs of a gated schedule: its base folds, then its conditional folds (gated).
fn gated_jobs(schedule: &GatedSchedule) -> Vec<FoldJob<'_>> {
    let base = schedule
        .base
        .folds
        .iter()
        .map(|fold| FoldJob { fold, gated: false });
    let cond = schedule
        .cond
        .folds
        .iter()
        .map(|fold| FoldJob { fold, gated: true });
    base.chain(cond).collect()
}

fn check_operands(a: &Matrix, b: &Matrix) -> Result<()> {
    if a.cols() != b.rows() {
        return Err(SimError::Operands {
            a_rows: a.rows(),
            a_cols: a.cols(),
            b_rows: b.rows(),
            b_cols: b.cols(),
        });
    }
    Ok(())
}

/// A fold with its spans materialised as the (m, k, n) indices of each array row, array column
/// and stream step.
struct Job {
    rows: Vec<usize>,
    cols: Vec<usize>,
    steps: Vec<usize>,
    gated: bool,
}

impl Job {
    fn t(&self) -> usize {
        self.steps.len()
    }
}

/// Runs `jobs` in order on `array` and returns what happened. Outputs start at zero; a fold that
/// covers an output an earlier fold wrote reads it back and accumulates onto it.
pub fn run_folds(
    a: &Matrix,
    b: &Matrix,
    array: &ArrayConfig,
    jobs: &[FoldJob<'_>],
    gate: &dyn Fn(u64, u64) -> bool,
) -> Result<ReferenceRun> {
    run_folds_grouped(a, b, 1, array, jobs, gate)
}

/// [`run_gated`] for the block-diagonal GEMM of a grouped layer (`groups` groups; `a` is
/// M × G·K_g, `b` is G·K_g × G·N_g).
pub fn run_gated_grouped(
    a: &Matrix,
    b: &Matrix,
    groups: u64,
    array: &ArrayConfig,
    schedule: &GatedSchedule,
    gate: &dyn Fn(u64, u64) -> bool,
) -> Result<ReferenceRun> {
    run_folds_grouped(a, b, groups, array, &gated_jobs(schedule), gate)
}

/// [`run_folds`] on the block-diagonal GEMM of `groups` groups: weight (k, n) exists only when
/// k and n lie in the same group (k / K_g = n / N_g); elsewhere the PE receives no operand (no
/// SRAM read, no MAC), as a weight buffer holding only the diagonal blocks would feed it.
pub fn run_folds_grouped(
    a: &Matrix,
    b: &Matrix,
    groups: u64,
    array: &ArrayConfig,
    jobs: &[FoldJob<'_>],
    gate: &dyn Fn(u64, u64) -> bool,
) -> Result<ReferenceRun> {
    check_operands(a, b)?;
    let g = usize::try_from(groups).unwrap_or(0);
    if g == 0 || !b.rows().is_multiple_of(g) || !b.cols().is_multiple_of(g) {
        return Err(SimError::layer(
            "reference",
            format!(
                "groups {groups} must divide the filter matrix's {}×{} (K × N)",
                b.rows(),
                b.cols()
            ),
        ));
    }
    if array.rows == 0 || array.cols == 0 {
        return Err(SimError::empty_array(array.rows, array.cols));
    }
    let axes = dataflow::model(array.dataflow).axes();
    let [ar, ac, at] = axes.as_array();
    let extent = |axis: Axis| match axis {
        Axis::M => a.rows(),
        Axis::K => a.cols(),
        Axis::N => b.cols(),
    };
    let mut mat = Vec::with_capacity(jobs.len());
    for (i, j) in jobs.iter().enumerate() {
        let err = |problem: String| SimError::Fold {
            schedule: "schedule",
            fold: i,
            problem,
        };
        let f = j.fold;
        if f.rows.len() > array.rows || f.cols.len() > array.cols {
            return Err(err(format!(
                "uses {}×{} PEs; the array has {}×{}",
                f.rows.len(),
                f.cols.len(),
                array.rows,
                array.cols
            )));
        }
        if f.rows.is_empty() || f.cols.is_empty() || f.steps.is_empty() {
            return Err(err("has an empty index span".into()));
        }
        let conv = |span: &Indices, axis: Axis| -> Result<Vec<usize>> {
            span.iter()
                .map(|v| {
                    if let Some(x) = usize::try_from(v).ok().filter(|&x| x < extent(axis)) {
                        Ok(x)
                    } else {
                        Err(err(format!(
                            "{axis:?} index {v} is outside 0..{}",
                            extent(axis)
                        )))
                    }
                })
                .collect()
        };
        mat.push(Job {
            rows: conv(&f.rows, ar)?,
            cols: conv(&f.cols, ac)?,
            steps: conv(&f.steps, at)?,
            gated: j.gated,
        });
    }
    let mut sim = Sim::new(a, b, array, axes, mat, gate);
    sim.group_sizes = ((b.rows() / g).max(1), (b.cols() / g).max(1));
    if sim.outputs_stay {
        sim.run_os()?;
    } else {
        sim.run_stationary()?;
    }
    Ok(sim.finish())
}

/// An operand moving through the array: which fold and stream step it belongs to, and its value
/// (`None` for a bubble in an unused row or column).
#[derive(Debug, Clone, Copy)]
struct Tok {
    fold: usize,
    step: usize,
    value: Option<i64>,
}

/// A stationary operand on its way down the load chain to row `row`.
#[derive(Debug, Clone, Copy)]
struct LoadTok {
    fold: usize,
    row: usize,
    value: Option<i64>,
}

/// A stationary operand held by a PE, tagged with its fold.
#[derive(Debug, Clone, Copy)]
struct Held {
    fold: usize,
    value: Option<i64>,
}

struct Sim<'a> {
    a: &'a Matrix,
    b: &'a Matrix,
    r: usize,
    c: usize,
    axes: Axes,
    /// K streams: the outputs stay in the PEs and both inputs move (the OS machine).
    outputs_stay: bool,
    overlap: bool,
    jobs: Vec<Job>,
    gate: &'a dyn Fn(u64, u64) -> bool,
    /// (K_g, N_g) of a grouped GEMM ((K, N) for one group).
    group_sizes: (usize, usize),
    out: Matrix,
    /// Contributions written to each output so far.
    written: Vec<u32>,
    /// Contributions promised to each output by folds started so far.
    issued: Vec<u32>,
    /// Per job, per covered output (stream step × column for WS/IS, row × column for OS): how
    /// many contributions must already be written when this fold reads or writes it.
    tickets: Vec<Vec<u32>>,
    sram: SramAccesses,
    macs: u64,
    gated_slots: u64,
    spans: Vec<Option<FoldSpan>>,
    last_cycle: u64,
}

impl<'a> Sim<'a> {
    fn new(
        a: &'a Matrix,
        b: &'a Matrix,
        array: &ArrayConfig,
        axes: Axes,
        jobs: Vec<Job>,
        gate: &'a dyn Fn(u64, u64) -> bool,
    ) -> Self {
        let n_jobs = jobs.len();
        let outputs = a.rows() * b.cols();
        Self {
            a,
            b,
            r: array.rows as usize,
            c: array.cols as usize,
            axes,
            outputs_stay: axes.outputs_on_array(),
            overlap: array.overlap_folds,
            jobs,
            gate,
            group_sizes: (a.cols().max(1), b.cols().max(1)),
            out: Matrix::zeros(a.rows(), b.cols()),
            written: vec![0; outputs],
            issued: vec![0; outputs],
            tickets: vec![Vec::new(); n_jobs],
            sram: SramAccesses::default(),
            macs: 0,
            gated_slots: 0,
            spans: vec![None; n_jobs],
            last_cycle: 0,
        }
    }

    fn finish(self) -> ReferenceRun {
        let cycles = if self.jobs.is_empty() {
            0
        } else {
            self.last_cycle + 1
        };
        ReferenceRun {
            output: self.out,
            cycles: Cycles(cycles),
            sram: self.sram,
            macs: Macs(self.macs),
            macs_clock_gated: Macs(self.gated_slots),
            folds: self.spans.into_iter().flatten().collect(),
        }
    }

    /// (m, k, n) of array row index `ri`, column index `ci`, stream index `si` of job `f`.
    fn mkn(&self, f: usize, ri: usize, ci: usize, si: usize) -> (usize, usize, usize) {
        self.mkn_at(f, Some(ri), Some(ci), Some(si))
    }

    /// [`Sim::mkn`] with some positions left out: their axis reads as 0 (for an operand that
    /// does not depend on it).
    fn mkn_at(
        &self,
        f: usize,
        ri: Option<usize>,
        ci: Option<usize>,
        si: Option<usize>,
    ) -> (usize, usize, usize) {
        let j = &self.jobs[f];
        let at = |axis: Axis| {
            let (list, i) = if axis == self.axes.rows {
                (&j.rows, ri)
            } else if axis == self.axes.cols {
                (&j.cols, ci)
            } else {
                (&j.steps, si)
            };
            i.map_or(0, |i| list[i])
        };
        (at(Axis::M), at(Axis::K), at(Axis::N))
    }

    /// The value of `input` at (m, k, n), counting the SRAM read; `None` for a weight outside
    /// the block diagonal of a grouped GEMM (not stored, so not read: the PE idles).
    fn read(&mut self, input: Input, m: usize, k: usize, n: usize) -> Option<i64> {
        match input {
            Input::Ifmap => {
                self.sram.ifmap_reads += Accesses(1);
                Some(self.a.get(m, k))
            }
            Input::Filter => {
                let (kg, ng) = self.group_sizes;
                if k / kg != n / ng {
                    return None;
                }
                self.sram.filter_reads += Accesses(1);
                Some(self.b.get(k, n))
            }
        }
    }

    fn out_index(&self, m: usize, n: usize) -> usize {
        m * self.b.cols() + n
    }

    /// Hands out, for every output job `f` covers, the number of contributions that must precede
    /// its own. Called when the fold starts, i.e. in schedule order.
    fn issue_tickets(&mut self, f: usize) {
        let j = &self.jobs[f];
        let (outer, inner) = if self.outputs_stay {
            (j.rows.len(), j.cols.len())
        } else {
            (j.t(), j.cols.len())
        };
        let mut t = Vec::with_capacity(outer * inner);
        for o in 0..outer {
            for i in 0..inner {
                let (m, _, n) = if self.outputs_stay {
                    self.mkn(f, o, i, 0)
                } else {
                    self.mkn(f, 0, i, o)
                };
                let e = self.out_index(m, n);
                t.push(self.issued[e]);
                self.issued[e] += 1;
            }
        }
        self.tickets[f] = t;
    }

    /// Whether the MAC at array row `ri`, column `ci`, step `si` of job `f` is performed: always
    /// in an ungated fold, else when its output's gate is on.
    fn gate_on(&self, f: usize, ri: usize, ci: usize, si: usize) -> bool {
        if !self.jobs[f].gated {
            return true;
        }
        let (m, _, n) = self.mkn(f, ri, ci, si);
        (self.gate)(m as u64, n as u64)
    }

    /// Writes `value` as job `f`'s contribution to output (m, n) holding ticket `ticket`,
    /// reading the stored partial sum first when earlier folds contributed (OS).
    fn write_back(
        &mut self,
        cycle: u64,
        f: usize,
        m: usize,
        n: usize,
        ticket: u32,
        value: i64,
    ) -> Result<()> {
        let e = self.out_index(m, n);
        if self.written[e] != ticket {
            return Err(SimError::Hazard {
                cycle,
                what: format!(
                    "fold {f} writes output ({m}, {n}) after {} of the {ticket} contributions \
                     that precede it",
                    self.written[e]
                ),
            });
        }
        let prior = if ticket > 0 {
            self.sram.psum_reads += Accesses(1);
            self.out.get(m, n)
        } else {
            0
        };
        self.out.set(m, n, prior + value);
        self.written[e] += 1;
        self.sram.ofmap_writes += Accesses(1);
        Ok(())
    }

    fn open_span(&mut self, f: usize, cycle: u64) {
        self.spans[f] = Some(FoldSpan {
            first_cycle: cycle,
            last_cycle: cycle,
        });
    }

    fn close_span(&mut self, f: usize, cycle: u64) {
        if let Some(s) = &mut self.spans[f] {
            s.last_cycle = cycle;
        }
        self.last_cycle = self.last_cycle.max(cycle);
    }

    /// An upper bound on the cycles any correct run needs, to turn a stuck engine into an error.
    fn cycle_budget(&self) -> u64 {
        let (r, c) = (self.r as u64, self.c as u64);
        self.jobs
            .iter()
            .map(|j| j.t() as u64 + 2 * r + c + 2)
            .sum::<u64>()
            + 16
    }

    /// The static schedule of overlapped folds: when each fold's first operand enters the array
    /// (OS: PE (0, 0)'s first step; WS/IS: the first streamed step, after its R-cycle load).
    ///
    /// A fold starts as early as the pipeline allows — right behind the previous fold's last
    /// step (OS: period T; WS/IS: period max(T, R), the R cycles the load chain needs per
    /// column) — and no earlier than its data allow: an output it accumulates onto must have
    /// been written by the fold before it (OS reads the stored sum at write-back; WS/IS read it
    /// as the partial sum entering the top of the column). For dense schedules the second
    /// condition never binds.
    fn overlap_plan(&self) -> Vec<u64> {
        let os = self.outputs_stay;
        let rr = self.r as u64;
        let mut last_write: Vec<Option<u64>> = vec![None; self.out.rows() * self.out.cols()];
        let mut times: Vec<u64> = Vec::with_capacity(self.jobs.len());
        for f in 0..self.jobs.len() {
            let j = &self.jobs[f];
            let t = j.t() as u64;
            let mut s = match times.last() {
                None if os => 0,
                None => rr,
                Some(&p) => {
                    let tp = self.jobs[f - 1].t() as u64;
                    if os { p + tp } else { p + tp.max(rr) }
                }
            };
            let (outer, inner) = if os {
                (j.rows.len(), j.cols.len())
            } else {
                (j.t(), j.cols.len())
            };
            let position = |o: usize, i: usize| {
                let (m, _, n) = if os {
                    self.mkn(f, o, i, 0)
                } else {
                    self.mkn(f, 0, i, o)
                };
                self.out_index(m, n)
            };
            // Cycles from the fold's start to its read of output (o, i).
            let read_at = |o: usize, i: usize| (o + i) as u64 + if os { t - 1 } else { 0 };
            for o in 0..outer {
                for i in 0..inner {
                    if let Some(w) = last_write[position(o, i)] {
                        s = s.max((w + 1).saturating_sub(read_at(o, i)));
                    }
                }
            }
            for o in 0..outer {
                for i in 0..inner {
                    let write = s + (o + i) as u64 + if os { t - 1 } else { rr - 1 };
                    last_write[position(o, i)] = Some(write);
                }
            }
            times.push(s);
        }
        times
    }

    // -----------------------------------------------------------------------------------------
    // Output stationary
    // -----------------------------------------------------------------------------------------

    fn run_os(&mut self) -> Result<()> {
        let (rr, cc) = (self.r, self.c);
        let n_jobs = self.jobs.len();
        if n_jobs == 0 {
            return Ok(());
        }
        let plan = self.overlap.then(|| self.overlap_plan());
        let mut start: Vec<Option<u64>> = vec![None; n_jobs];
        start[0] = Some(0);
        self.issue_tickets(0);
        self.open_span(0, 0);
        let mut started = 1;
        let mut done_pes = vec![0usize; n_jobs];
        let mut finished = 0;
        // Registers: operand from the left, operand from above, accumulator (fold, sum).
        let mut left: Vec<Option<Tok>> = vec![None; rr * cc];
        let mut top: Vec<Option<Tok>> = vec![None; rr * cc];
        // Next-cycle registers, every entry rewritten each cycle.
        let mut nl: Vec<Option<Tok>> = vec![None; rr * cc];
        let mut nt: Vec<Option<Tok>> = vec![None; rr * cc];
        let mut acc: Vec<Option<(usize, i64)>> = vec![None; rr * cc];
        let mut lo = 0; // oldest fold that may still inject
        let budget = self.cycle_budget();
        let mut t: u64 = 0;
        while finished < n_jobs {
            if t > budget {
                return Err(SimError::Internal {
                    cycle: t,
                    what: "the array did not finish within its cycle budget".into(),
                });
            }
            // With overlap, a fold starts as soon as the previous one has injected its last
            // step at PE (0, 0).
            if let Some(plan) = &plan {
                while started < n_jobs && plan[started] == t {
                    start[started] = Some(t);
                    self.issue_tickets(started);
                    self.open_span(started, t);
                    started += 1;
                }
            }
            // Shift: new[r][c] takes left[r][c-1] / top[r-1][c]; edges take injections.
            for r in 0..rr {
                for c in (1..cc).rev() {
                    nl[r * cc + c] = left[r * cc + c - 1];
                }
                nl[r * cc] = self.inject_os(&start, lo, started, t, r, true);
            }
            for c in 0..cc {
                for r in (1..rr).rev() {
                    nt[r * cc + c] = top[(r - 1) * cc + c];
                }
                nt[c] = self.inject_os(&start, lo, started, t, c, false);
            }
            // Advance the injection window past folds that have injected everything.
            while lo < started {
                let s = start[lo].unwrap_or(u64::MAX);
                if t >= s + (rr.max(cc) - 1 + self.jobs[lo].t()) as u64 {
                    lo += 1;
                } else {
                    break;
                }
            }
            // Every PE works on what it holds this cycle.
            for r in 0..rr {
                for c in 0..cc {
                    let i = r * cc + c;
                    let (x, y) = match (nl[i], nt[i]) {
                        (None, None) => continue,
                        (Some(x), Some(y)) if x.fold == y.fold && x.step == y.step => (x, y),
                        (x, y) => {
                            return Err(SimError::Internal {
                                cycle: t,
                                what: format!(
                                    "PE ({r}, {c}) holds mismatched operands {x:?} and {y:?}"
                                ),
                            });
                        }
                    };
                    let f = x.fold;
                    if x.step == 0 {
                        if let Some((busy, _)) = acc[i] {
                            return Err(SimError::Hazard {
                                cycle: t,
                                what: format!(
                                    "fold {f} reaches PE ({r}, {c}) while its accumulator still \
                                     holds fold {busy}"
                                ),
                            });
                        }
                        acc[i] = Some((f, 0));
                    }
                    let valid = r < self.jobs[f].rows.len() && c < self.jobs[f].cols.len();
                    if let (Some(av), Some(bv)) = (x.value, y.value) {
                        if self.gate_on(f, r, c, x.step) {
                            match &mut acc[i] {
                                Some((g, sum)) if *g == f => *sum += av * bv,
                                other => {
                                    return Err(SimError::Internal {
                                        cycle: t,
                                        what: format!(
                                            "PE ({r}, {c}) accumulator is {other:?} for fold {f}"
                                        ),
                                    });
                                }
                            }
                            self.macs += 1;
                        } else {
                            self.gated_slots += 1;
                        }
                    }
                    if x.step + 1 == self.jobs[f].t() {
                        let (_, sum) = acc[i].take().unwrap_or((f, 0));
                        if valid {
                            let (m, _, n) = self.mkn(f, r, c, x.step);
                            let ticket = self.tickets[f][r * self.jobs[f].cols.len() + c];
                            self.write_back(t, f, m, n, ticket, sum)?;
                        }
                        done_pes[f] += 1;
                        if done_pes[f] == rr * cc {
                            finished += 1;
                            self.close_span(f, t);
                            if !self.overlap && started < n_jobs && started == f + 1 {
                                start[started] = Some(t + 1);
                                self.issue_tickets(started);
                                self.open_span(started, t + 1);
                                started += 1;
                            }
                        }
                    }
                }
            }
            std::mem::swap(&mut left, &mut nl);
            std::mem::swap(&mut top, &mut nt);
            t += 1;
        }
        Ok(())
    }

    /// The token entering row `edge` at the left (`from_left`) or column `edge` at the top in
    /// cycle `t`, from whichever started fold is injecting there.
    fn inject_os(
        &mut self,
        start: &[Option<u64>],
        lo: usize,
        started: usize,
        t: u64,
        edge: usize,
        from_left: bool,
    ) -> Option<Tok> {
        for (f, &slot) in start.iter().enumerate().take(started).skip(lo) {
            let s = slot? + edge as u64;
            let tf = self.jobs[f].t() as u64;
            if t < s || t >= s + tf {
                continue;
            }
            let step = (t - s) as usize;
            // The left edge feeds the input of the row axis, the top edge that of the column
            // axis.
            let (axis, len) = if from_left {
                (self.axes.rows, self.jobs[f].rows.len())
            } else {
                (self.axes.cols, self.jobs[f].cols.len())
            };
            let value = (edge < len).then_some(()).and_then(|()| {
                let (m, k, n) = if from_left {
                    self.mkn(f, edge, 0, step)
                } else {
                    self.mkn(f, 0, edge, step)
                };
                let input = Input::of(axis).unwrap_or(Input::Ifmap);
                self.read(input, m, k, n)
            });
            return Some(Tok {
                fold: f,
                step,
                value,
            });
        }
        None
    }

    // -----------------------------------------------------------------------------------------
    // Weight / input stationary
    // -----------------------------------------------------------------------------------------

    /// The stationary input at array row `ri`, column `ci` of job `f`, counting the read.
    fn stationary(&mut self, f: usize, ri: usize, ci: usize) -> Option<i64> {
        let j = &self.jobs[f];
        if ri >= j.rows.len() || ci >= j.cols.len() {
            return None;
        }
        // The stationary input does not depend on the stream index.
        let (m, k, n) = self.mkn_at(f, Some(ri), Some(ci), None);
        let input = self.axes.stationary_input().unwrap_or(Input::Filter);
        self.read(input, m, k, n)
    }

    /// The streamed input at array row `ri`, stream step `si` of job `f`, counting the read.
    fn streamed(&mut self, f: usize, ri: usize, si: usize) -> Option<i64> {
        let j = &self.jobs[f];
        if ri >= j.rows.len() || si >= j.steps.len() {
            return None;
        }
        // The streamed input does not depend on the column index.
        let (m, k, n) = self.mkn_at(f, Some(ri), None, Some(si));
        let input = Input::of(self.axes.stream).unwrap_or(Input::Ifmap);
        self.read(input, m, k, n)
    }

    fn run_stationary(&mut self) -> Result<()> {
        let (rr, cc) = (self.r, self.c);
        let n_jobs = self.jobs.len();
        if n_jobs == 0 {
            return Ok(());
        }
        // Per fold: when its stationary load starts, whether the load is skewed by column
        // (overlapped folds load each column right behind the previous fold's wavefront), and
        // when its stream starts.
        let mut load: Vec<Option<(u64, bool)>> = vec![None; n_jobs];
        let mut base: Vec<Option<u64>> = vec![None; n_jobs];
        load[0] = Some((0, false));
        base[0] = Some(rr as u64);
        self.issue_tickets(0);
        self.open_span(0, 0);
        let mut started = 1;
        if self.overlap {
            // Each fold loads its stationary operands column by column right behind the
            // previous fold's wavefront, and streams as early as `overlap_plan` allows.
            let plan = self.overlap_plan();
            for f in 1..n_jobs {
                load[f] = Some((plan[f - 1], true));
                base[f] = Some(plan[f]);
            }
        }
        let mut extracted = vec![0usize; n_jobs];
        let mut finished = 0;
        let mut chain: Vec<Option<LoadTok>> = vec![None; rr * cc];
        let mut shadow: Vec<Option<Held>> = vec![None; rr * cc];
        let mut active: Vec<Option<Held>> = vec![None; rr * cc];
        let mut left: Vec<Option<Tok>> = vec![None; rr * cc];
        let mut psum: Vec<Option<Tok>> = vec![None; rr * cc];
        // Next-cycle registers; `npsum` is cleared each cycle, the others fully rewritten.
        let mut nchain: Vec<Option<LoadTok>> = vec![None; rr * cc];
        let mut nleft: Vec<Option<Tok>> = vec![None; rr * cc];
        let mut npsum: Vec<Option<Tok>> = vec![None; rr * cc];
        let mut lo = 0;
        let budget = self.cycle_budget();
        let mut t: u64 = 0;
        while finished < n_jobs {
            if t > budget {
                return Err(SimError::Internal {
                    cycle: t,
                    what: "the array did not finish within its cycle budget".into(),
                });
            }
            if self.overlap {
                while started < n_jobs && load[started].is_some_and(|(s, _)| s <= t) {
                    self.issue_tickets(started);
                    self.open_span(started, t);
                    started += 1;
                }
            }
            // 1. Load chain: shift down, inject at the top.
            for c in 0..cc {
                for r in (1..rr).rev() {
                    nchain[r * cc + c] = chain[(r - 1) * cc + c];
                }
                nchain[c] = self.inject_load(&load, lo, started, t, c);
            }
            // 2. Stream and partial sums.
            for r in 0..rr {
                for c in (1..cc).rev() {
                    nleft[r * cc + c] = left[r * cc + c - 1];
                }
                nleft[r * cc] = self.inject_stream(&base, lo, started, t, r);
            }
            npsum.fill(None);
            for c in 0..cc {
                let top_in = self.inject_psum(&base, lo, started, t, c)?;
                for r in 0..rr {
                    let i = r * cc + c;
                    // Row 0 takes the injected partial sum; below, the register of the PE
                    // above as it was at the end of the previous cycle.
                    let p_in = if r == 0 {
                        top_in
                    } else {
                        psum[(r - 1) * cc + c]
                    };
                    let (x, p) = match (nleft[i], p_in) {
                        (None, None) => continue,
                        (Some(x), Some(p)) if x.fold == p.fold && x.step == p.step => (x, p),
                        (x, p) => {
                            return Err(SimError::Internal {
                                cycle: t,
                                what: format!(
                                    "PE ({r}, {c}) holds mismatched operand {x:?} and partial \
                                     sum {p:?}"
                                ),
                            });
                        }
                    };
                    let f = x.fold;
                    if active[i].is_none_or(|h| h.fold != f) {
                        match shadow[i].take() {
                            Some(h) if h.fold == f => active[i] = Some(h),
                            other => {
                                return Err(SimError::Hazard {
                                    cycle: t,
                                    what: format!(
                                        "fold {f} reaches PE ({r}, {c}) before its stationary \
                                         operand is loaded (shadow register holds {other:?})"
                                    ),
                                });
                            }
                        }
                    }
                    let w = active[i].and_then(|h| h.value);
                    let value = match (p.value, x.value, w) {
                        (Some(pv), Some(xv), Some(wv)) => {
                            if self.gate_on(f, r, c, x.step) {
                                self.macs += 1;
                                Some(pv + xv * wv)
                            } else {
                                self.gated_slots += 1;
                                Some(pv)
                            }
                        }
                        (pv, _, _) => pv,
                    };
                    npsum[i] = Some(Tok {
                        fold: f,
                        step: p.step,
                        value,
                    });
                }
            }
            // 3. Latch arriving stationary operands into the shadow registers (after any swap
            // above, as a register written and read in the same clock behaves).
            for r in 0..rr {
                for c in 0..cc {
                    let i = r * cc + c;
                    if let Some(tok) = nchain[i].filter(|tok| tok.row == r) {
                        if let Some(h) = shadow[i] {
                            return Err(SimError::Hazard {
                                cycle: t,
                                what: format!(
                                    "fold {}'s stationary operand overwrites fold {}'s in PE \
                                     ({r}, {c}) before use",
                                    tok.fold, h.fold
                                ),
                            });
                        }
                        shadow[i] = Some(Held {
                            fold: tok.fold,
                            value: tok.value,
                        });
                        nchain[i] = None;
                    }
                }
            }
            // 4. Partial sums leaving the bottom row go to the ofmap SRAM.
            for c in 0..cc {
                let Some(p) = npsum[(rr - 1) * cc + c] else {
                    continue;
                };
                let f = p.fold;
                if let Some(v) = p.value {
                    let (m, _, n) = self.mkn(f, 0, c, p.step);
                    let e = self.out_index(m, n);
                    let ticket = self.tickets[f][p.step * self.jobs[f].cols.len() + c];
                    if self.written[e] != ticket {
                        return Err(SimError::Hazard {
                            cycle: t,
                            what: format!(
                                "fold {f} writes output ({m}, {n}) after {} of the {ticket} \
                                 contributions that precede it",
                                self.written[e]
                            ),
                        });
                    }
                    self.out.set(m, n, v);
                    self.written[e] += 1;
                    self.sram.ofmap_writes += Accesses(1);
                }
                extracted[f] += 1;
                if extracted[f] == self.jobs[f].t() * cc {
                    finished += 1;
                    self.close_span(f, t);
                    if !self.overlap && started < n_jobs && started == f + 1 {
                        load[started] = Some((t + 1, false));
                        base[started] = Some(t + 1 + rr as u64);
                        self.issue_tickets(started);
                        self.open_span(started, t + 1);
                        started += 1;
                    }
                }
            }
            while lo < started {
                let b = base[lo].unwrap_or(u64::MAX);
                if t >= b + (rr.max(cc) - 1 + self.jobs[lo].t()) as u64 {
                    lo += 1;
                } else {
                    break;
                }
            }
            std::mem::swap(&mut chain, &mut nchain);
            std::mem::swap(&mut left, &mut nleft);
            std::mem::swap(&mut psum, &mut npsum);
            t += 1;
        }
        Ok(())
    }

    fn inject_load(
        &mut self,
        load: &[Option<(u64, bool)>],
        lo: usize,
        started: usize,
        t: u64,
        c: usize,
    ) -> Option<LoadTok> {
        let rr = self.r;
        for (f, &slot) in load.iter().enumerate().take(started).skip(lo) {
            let (s, skew) = slot?;
            let s = s + if skew { c as u64 } else { 0 };
            if t < s || t >= s + rr as u64 {
                continue;
            }
            // Deepest row first, so every row's operand arrives in the same cycle.
            let row = rr - 1 - (t - s) as usize;
            let value = self.stationary(f, row, c);
            return Some(LoadTok {
                fold: f,
                row,
                value,
            });
        }
        None
    }

    fn inject_stream(
        &mut self,
        base: &[Option<u64>],
        lo: usize,
        started: usize,
        t: u64,
        r: usize,
    ) -> Option<Tok> {
        for (f, &slot) in base.iter().enumerate().take(started).skip(lo) {
            let s = slot? + r as u64;
            if t < s || t >= s + self.jobs[f].t() as u64 {
                continue;
            }
            let step = (t - s) as usize;
            let value = self.streamed(f, r, step);
            return Some(Tok {
                fold: f,
                step,
                value,
            });
        }
        None
    }

    /// The partial sum entering column `c` at the top in cycle `t`: zero for an output's first
    /// contribution, else the stored partial sum (a psum read, which must follow its write).
    fn inject_psum(
        &mut self,
        base: &[Option<u64>],
        lo: usize,
        started: usize,
        t: u64,
        c: usize,
    ) -> Result<Option<Tok>> {
        for (f, &slot) in base.iter().enumerate().take(started).skip(lo) {
            let Some(b) = slot else { continue };
            let s = b + c as u64;
            if t < s || t >= s + self.jobs[f].t() as u64 {
                continue;
            }
            let step = (t - s) as usize;
            let value = if c < self.jobs[f].cols.len() {
                let (m, _, n) = self.mkn(f, 0, c, step);
                let e = self.out_index(m, n);
                let ticket = self.tickets[f][step * self.jobs[f].cols.len() + c];
                if ticket == 0 {
                    Some(0)
                } else if self.written[e] != ticket {
                    return Err(SimError::Hazard {
                        cycle: t,
                        what: format!(
                            "fold {f} reads the partial sum of output ({m}, {n}) before the \
                             fold that produces it has written it"
                        ),
                    });
                } else {
                    self.sram.psum_reads += Accesses(1);
                    Some(self.out.get(m, n))
                }
            } else {
                None
            };
            return Ok(Some(Tok {
                fold: f,
                step,
                value,
            }));
        }
        Ok(None)
    }
}
