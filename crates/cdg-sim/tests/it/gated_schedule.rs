// The fast gated model against (1) sim-ref's schedules (`GatedSchedule::for_policy`, the folds
// the functional model executes), (2) a naive fold-by-fold count of docs/model.md §5's formulas
// written here from the expanded mask, and (3) the laws of docs/model.md §5 (dense ignores masks, clock-gate =
// dense cycles with no more energy, no policy slower than dense + gather, all-off leaves the base
// pass, all-on gives dense).

use cdg_core::{
    ArchConfig, ConvParams, Cycles, Dataflow, DramBandwidth, GateBlock, GateSpec, Layer,
    LayerMasks, LayerShape, OutputRule, SkipPolicy,
};
use cdg_sim::schedule::{Axis, GatedSchedule, PassSchedule, PlannedFold, gate_fn};
use cdg_sim::{LayerStats, simulate_gated_layer};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy)]
enum MaskKind {
    AllOn,
    AllOff,
    Random,
    Blocky,
}

#[derive(Debug, Clone)]
struct Case {
    params: ConvParams,
    partitions: u64,
    block: (u64, u64, u64),
    kind: MaskKind,
    density: f64,
    rows: u64,
    cols: u64,
    dataflow: Dataflow,
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        (1u64..=6, 1u64..=9, 1u64..=9, 1u64..=20),
        (1u64..=3, 1u64..=2, 0u64..=1),
        (1u64..=5, (1u64..=6, 1u64..=3, 1u64..=4)),
        (
            prop_oneof![
                Just(MaskKind::AllOn),
                Just(MaskKind::AllOff),
                Just(MaskKind::Random),
                Just(MaskKind::Blocky)
            ],
            0.0f64..=1.0,
        ),
        (1u64..=7, 1u64..=7, crate::common::dataflow(), any::<u64>()),
    )
        .prop_map(
            |(
                (c, h, w, n),
                (k, s, p),
                (partitions, block),
                (kind, density),
                (rows, cols, dataflow, seed),
            )| {
                Case {
                    params: ConvParams {
                        in_channels: c,
                        in_height: h,
                        in_width: w,
                        out_channels: n,
                        kernel: [k, k],
                        stride: s,
                        padding: p,
                        rule: OutputRule::Floor,
                    },
                    partitions,
                    block,
                    kind,
                    density,
                    rows,
                    cols,
                    dataflow,
                    seed,
                }
            },
        )
}

struct Built {
    layer: Layer,
    spec: GateSpec,
    masks: LayerMasks,
}

fn build(case: &Case, kind: MaskKind) -> Option<Built> {
    let shape = LayerShape::conv("gconv", case.params.clone()).ok()?;
    let spec = GateSpec {
        base_channels: GateSpec::base_channels_for(shape.in_channels(), case.partitions),
        block: GateBlock::new(case.block.0, case.block.1, case.block.2),
    };
    let mut bits = case.seed;
    let density = case.density;
    let seed = case.seed;
    let masks = LayerMasks::from_fn(&shape, &spec, 1, |_, c, h, w| match kind {
        MaskKind::AllOn => true,
        MaskKind::AllOff => false,
        MaskKind::Random => {
            bits = bits
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((bits >> 11) as f64 / (1u64 << 53) as f64) < density
        }
        MaskKind::Blocky => (c / 2 + h / 2 + w / 3 + seed % 2).is_multiple_of(2),
    })
    .ok()?;
    Some(Built {
        layer: Layer {
            shape,
            gate: Some(spec),
        },
        spec,
        masks,
    })
}

fn arch(case: &Case, policy: SkipPolicy, gather: Option<u64>, overlap: bool) -> ArchConfig {
    let mut a = ArchConfig::default_with("gated-test");
    a.array.rows = case.rows;
    a.array.cols = case.cols;
    a.array.dataflow = case.dataflow;
    a.array.overlap_folds = overlap;
    a.memory.dram_bandwidth = DramBandwidth::Unlimited;
    a.sparsity.support = policy;
    a.sparsity.gather_rows_per_cycle = gather;
    a
}

fn sim(
    case: &Case,
    b: &Built,
    policy: SkipPolicy,
    gather: Option<u64>,
    overlap: bool,
) -> LayerStats {
    simulate_gated_layer(&arch(case, policy, gather, overlap), &b.layer, &b.masks, 0).unwrap()
}

/// docs/model.md §5's cycle formulas, fold by fold, from the expanded gate: `(fold times)` in
/// execution order for the base pass and the conditional pass.
fn naive_folds(case: &Case, b: &Built, policy: SkipPolicy) -> (Vec<u64>, Vec<u64>) {
    let l = &b.layer.shape;
    let g = l.gemm();
    let kb = l.window_for(b.spec.base_channels);
    let kc = g.k - kb;
    let (r, c) = (case.rows, case.cols);
    let os = crate::common::outputs_stay(case.dataflow);
    let time = |t: u64| if os { t + r + c - 2 } else { 2 * r + c + t - 2 };
    let gate = |m: u64, n: u64| b.masks.gate_at(0, n, m / l.out_width(), m % l.out_width());
    let dims = |k: u64| match case.dataflow {
        Dataflow::OutputStationary => (g.m, g.n, k),
        Dataflow::WeightStationary => (k, g.n, g.m),
        Dataflow::InputStationary => (k, g.m, g.n),
    };
    let mut base = Vec::new();
    if kb > 0 {
        let (sr, sc, t) = dims(kb);
        for _ in 0..sr.div_ceil(r) * sc.div_ceil(c) {
            base.push(time(t));
        }
    }
    let mut cond = Vec::new();
    if kc == 0 {
        return (base, cond);
    }
    let (sr, sc, t) = dims(kc);
    let (fr, fc) = (sr.div_ceil(r), sc.div_ceil(c));
    for j in 0..fc {
        let cols: Vec<u64> = (j * c..((j + 1) * c).min(sc)).collect();
        for i in 0..fr {
            let rows: Vec<u64> = (i * r..((i + 1) * r).min(sr)).collect();
            let any = match case.dataflow {
                Dataflow::OutputStationary => {
                    rows.iter().any(|&m| cols.iter().any(|&n| gate(m, n)))
                }
                Dataflow::WeightStationary => (0..g.m).any(|m| cols.iter().any(|&n| gate(m, n))),
                Dataflow::InputStationary => (0..g.n).any(|n| cols.iter().any(|&m| gate(m, n))),
            };
            match policy {
                SkipPolicy::Dense | SkipPolicy::ClockGate => cond.push(time(t)),
                SkipPolicy::TileSkip => {
                    if any {
                        cond.push(time(t))
                    }
                }
                SkipPolicy::Compact => {}
            }
        }
        if crate::common::traits(policy).gathers {
            match case.dataflow {
                Dataflow::OutputStationary => {
                    let a = (0..g.m)
                        .filter(|&m| cols.iter().any(|&n| gate(m, n)))
                        .count() as u64;
                    for _ in 0..a.div_ceil(r) {
                        cond.push(time(kc));
                    }
                }
                Dataflow::WeightStationary => {
                    let a = (0..g.m)
                        .filter(|&m| cols.iter().any(|&n| gate(m, n)))
                        .count() as u64;
                    if a > 0 {
                        for _ in 0..fr {
                            cond.push(time(a));
                        }
                    }
                }
                Dataflow::InputStationary => {
                    let bj = (0..g.n)
                        .filter(|&n| cols.iter().any(|&m| gate(m, n)))
                        .count() as u64;
                    if bj > 0 {
                        for _ in 0..fr {
                            cond.push(time(bj));
                        }
                    }
                }
            }
        }
    }
    (base, cond)
}

/// The gather unit's stalls (docs/model.md §5) written from the explicit compact schedule: a
/// unit (an OS pack, or a WS/IS column's list, taken by the column's first fold) costs
/// ⌈scanned / P⌉ cycles from the moment the previous unit was taken, scanned running from the
/// index after the previous pack of its column (the column's first) through its last index;
/// the fold taking it waits for what the array's folds since then (at their full, not
/// overlapped, time) have not covered.
fn naive_gather(case: &Case, cond: &PassSchedule, rate: Option<u64>) -> u64 {
    let Some(p) = rate else { return 0 };
    let (r, c) = (case.rows, case.cols);
    let os = crate::common::outputs_stay(case.dataflow);
    let time = |t: u64| if os { t + r + c - 2 } else { 2 * r + c + t - 2 };
    let (mut since, mut total) = (0u64, 0u64);
    let mut prev: Option<&PlannedFold> = None;
    for f in &cond.folds {
        let same_col = prev.is_some_and(|q| q.cols == f.cols);
        let take = if os {
            let list: Vec<u64> = f.rows.iter().collect();
            let resume = match prev {
                Some(q) if same_col => q.rows.iter().last().unwrap() + 1,
                _ => 0,
            };
            Some(list.last().unwrap() + 1 - resume)
        } else if !same_col {
            Some(f.steps.iter().last().unwrap() + 1)
        } else {
            None
        };
        if let Some(scanned) = take {
            total += scanned.div_ceil(p).saturating_sub(since);
            since = 0;
        }
        since += time(f.steps.len());
        prev = Some(f);
    }
    total
}

/// Overlapped time of the two passes from their fold cycles, written from the engine's timing
/// (docs/model.md §2): within a pass a fold starts one pipeline period after the previous one
/// (OS T, WS/IS max(T, R)); the conditional pass's first fold waits for the base pass to
/// finish; the layer ends when its last fold does.
fn with_overlap(case: &Case, base: &[u64], cond: &[u64]) -> u64 {
    let (r, c) = (case.rows, case.cols);
    let os = crate::common::outputs_stay(case.dataflow);
    let fill = if os { r + c - 2 } else { 2 * r + c - 2 };
    let period = |t: u64| if os { t } else { t.max(r) };
    let mut end = 0u64;
    for pass in [base, cond] {
        let mut start = end;
        let mut prev: Option<u64> = None;
        for &cycles in pass {
            let t = cycles - fill;
            if let Some(p) = prev {
                start += period(p);
            }
            end = start + cycles;
            prev = Some(t);
        }
    }
    end
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Cycles, folds, MACs and SRAM counts of the fast model equal what sim-ref's schedule
    /// (the one the functional model executes) implies, and a naive fold-by-fold count.
    #[test]
    fn fast_model_equals_schedules_and_naive_counts(case in case(), gather in prop::option::of(1u64..=20), overlap in any::<bool>()) {
        let b = build(&case, case.kind);
        prop_assume!(b.is_some());
        let b = b.unwrap();
        let l = &b.layer.shape;
        let gate = gate_fn(&b.masks, 0);
        let (r, c, df) = (case.rows, case.cols, case.dataflow);
        let g = l.gemm();
        let kb = l.window_for(b.spec.base_channels);
        let active = b.masks.active_elements(0);
        // Naive needed MACs from the expanded mask.
        let mut naive_active = 0;
        for m in 0..g.m {
            for n in 0..g.n {
                if gate(m, n) { naive_active += 1; }
            }
        }
        prop_assert_eq!(naive_active, active);
        let needed = kb * g.m * g.n + (g.k - kb) * naive_active;
        for policy in SkipPolicy::ALL {
            let s = sim(&case, &b, policy, gather, overlap);
            let sched = GatedSchedule::for_policy(policy, l, &b.spec, r, c, df, &gate);
            let stalls = if crate::common::traits(policy).gathers { naive_gather(&case, &sched.cond, gather) } else { 0 };
            let (nb, nc) = naive_folds(&case, &b, policy);
            prop_assert_eq!(s.totals.folds, (sched.base.len() + sched.cond.len()) as u64, "{:?}", policy);
            prop_assert_eq!(nb.len() + nc.len(), s.totals.folds as usize, "{:?}", policy);
            if !overlap {
                prop_assert_eq!(s.totals.compute_cycles, sched.cycles(df, r, c) + Cycles(stalls), "{:?}", policy);
                prop_assert_eq!(s.totals.cond_cycles, sched.cond.cycles(df, r, c) + Cycles(stalls), "{:?}", policy);
            }
            let all: Vec<u64> = nb.iter().chain(&nc).copied().collect();
            let naive = if overlap { with_overlap(&case, &nb, &nc) } else { all.iter().sum() };
            prop_assert_eq!(s.totals.compute_cycles.get(), naive + stalls, "{:?}", policy);
            prop_assert_eq!(s.totals.stall_cycles, Cycles(0));
            prop_assert_eq!(s.totals.macs_needed.get(), needed, "{:?}", policy);
            // Executed slots and SRAM traffic as the schedule's folds imply.
            let mut slots = 0;
            let mut clock_gated = 0;
            let (mut ifmap, mut filter, mut writes) = (0, 0, 0);
            for (pass, gated) in [(&sched.base, false), (&sched.cond, true)] {
                for f in &pass.folds {
                    let (ms, ks, ns) = (f.span(df, Axis::M), f.span(df, Axis::K), f.span(df, Axis::N));
                    slots += f.mac_slots();
                    ifmap += ms.len() * ks.len();
                    filter += ks.len() * ns.len();
                    writes += ms.len() * ns.len();
                    if gated {
                        for (m, n) in f.outputs(df) {
                            if !gate(m, n) { clock_gated += ks.len(); }
                        }
                    }
                }
            }
            prop_assert_eq!(s.totals.macs_executed.get(), slots, "{:?}", policy);
            // PE-row imbalance: needed MACs per physical row over the folds that run.
            let mut per_row = vec![0u64; r as usize];
            for (pass, gated) in [(&sched.base, false), (&sched.cond, true)] {
                for f in &pass.folds {
                    let ks = f.span(df, Axis::K).len();
                    for (row, x) in f.rows.iter().enumerate() {
                        let needed: u64 = match df {
                            Dataflow::OutputStationary => f.cols.iter()
                                .filter(|&n| !gated || gate(x, n)).count() as u64 * ks,
                            Dataflow::WeightStationary | Dataflow::InputStationary => f.outputs(df).filter(|&(m, n)| !gated || gate(m, n)).count() as u64,
                        };
                        per_row[row] += needed;
                    }
                }
            }
            let total: u64 = per_row.iter().sum();
            let want = if total == 0 { 1.0 } else {
                *per_row.iter().max().unwrap() as f64 * r as f64 / total as f64
            };
            prop_assert!((s.rates.pe_imbalance - want).abs() < 1e-9 * want, "{:?}: {} vs {}", policy, s.rates.pe_imbalance, want);
            if !crate::common::traits(policy).discards {
                prop_assert_eq!(s.totals.macs_executed.get() - s.totals.macs_needed.get(), clock_gated, "{:?}", policy);
            }
            prop_assert_eq!(s.totals.sram.ifmap_reads.get(), ifmap, "{:?}", policy);
            prop_assert_eq!(s.totals.sram.filter_reads.get(), filter, "{:?}", policy);
            prop_assert_eq!(s.totals.sram.ofmap_writes.get(), writes, "{:?}", policy);
            // Every output reaches DRAM (at least) once.
            prop_assert!(s.totals.dram.ofmap_write.get() >= g.m * g.n);
            prop_assert_eq!(s.totals.gate_ops, b.masks.blocks_per_sample());
        }
    }

    /// docs/model.md §5's laws of the policies.
    #[test]
    fn policy_laws(case in case(), gather in prop::option::of(1u64..=20)) {
        let b = build(&case, case.kind);
        prop_assume!(b.is_some());
        let b = b.unwrap();
        let on = build(&case, MaskKind::AllOn).unwrap();
        let off = build(&case, MaskKind::AllOff).unwrap();
        let g = b.layer.shape.gemm();
        let kb = b.layer.shape.window_for(b.spec.base_channels);
        let dense = sim(&case, &b, SkipPolicy::Dense, gather, false);
        // `dense` ignores masks: time, traffic and energy are those of any other mask.
        for other in [&on, &off] {
            let d = sim(&case, other, SkipPolicy::Dense, gather, false);
            prop_assert_eq!(d.totals.cycles, dense.totals.cycles);
            prop_assert_eq!(d.totals.sram, dense.totals.sram);
            prop_assert_eq!(d.totals.dram, dense.totals.dram);
            prop_assert_eq!(d.totals.energy, dense.totals.energy);
            prop_assert_eq!(d.totals.macs_executed, dense.totals.macs_executed);
        }
        prop_assert_eq!(dense.totals.macs_executed, dense.totals.macs_dense);
        // `clock-gate`: dense time and traffic, no more energy.
        let cg = sim(&case, &b, SkipPolicy::ClockGate, gather, false);
        prop_assert_eq!(cg.totals.cycles, dense.totals.cycles);
        prop_assert_eq!(cg.totals.sram, dense.totals.sram);
        prop_assert_eq!(cg.totals.dram, dense.totals.dram);
        prop_assert!(cg.totals.energy.total().get() <= dense.totals.energy.total().get() + 1e-9);
        for policy in SkipPolicy::ALL {
            let s = sim(&case, &b, policy, gather, false);
            let sched = GatedSchedule::for_policy(policy, &b.layer.shape, &b.spec, case.rows,
                case.cols, case.dataflow, gate_fn(&b.masks, 0));
            let overhead = if crate::common::traits(policy).gathers {
                naive_gather(&case, &sched.cond, gather)
            } else { 0 };
            prop_assert!(s.totals.cycles.get() <= dense.totals.cycles.get() + overhead, "{:?}", policy);
            // All-off masks leave the base pass.
            let o = sim(&case, &off, policy, gather, false);
            prop_assert_eq!(o.totals.macs_needed.get(), kb * g.m * g.n);
            if crate::common::traits(policy).skips {
                prop_assert_eq!(o.totals.cond_cycles, Cycles(0), "{:?}", policy);
                prop_assert_eq!(o.totals.folds, dense_base_folds(&case, &off));
                prop_assert_eq!(o.totals.macs_executed, o.totals.macs_needed);
            }
            // All-on masks give dense (gather overhead aside).
            let a = sim(&case, &on, policy, None, false);
            let d0 = sim(&case, &on, SkipPolicy::Dense, None, false);
            prop_assert_eq!(a.totals.cycles, d0.totals.cycles, "{:?}", policy);
            prop_assert_eq!(a.totals.macs_executed, a.totals.macs_dense);
            prop_assert_eq!(a.totals.macs_needed, a.totals.macs_dense);
            prop_assert_eq!(a.totals.sram, d0.totals.sram, "{:?}", policy);
            // With every gate on, a real gather unit costs a start-up only: at most R cycles on
            // OS (one pack of R rows), ⌈E / P⌉ on WS and IS (the first column's list of E
            // indices), whatever P.
            let p = gather.unwrap_or(1);
            let real = sim(&case, &on, policy, Some(p), false);
            let extent = match case.dataflow {
                Dataflow::OutputStationary => case.rows,
                Dataflow::WeightStationary => g.m,
                Dataflow::InputStationary => g.n,
            };
            let bound = if crate::common::traits(policy).gathers { extent.div_ceil(p) } else { 0 };
            prop_assert!(real.totals.cycles.get() <= d0.totals.cycles.get() + bound,
                "{:?}: {} > {} + {}", policy, real.totals.cycles, d0.totals.cycles, bound);
        }
    }
}

fn dense_base_folds(case: &Case, b: &Built) -> u64 {
    let l = &b.layer.shape;
    let g = l.gemm();
    let kb = l.window_for(b.spec.base_channels);
    if kb == 0 {
        return 0;
    }
    let (sr, sc) = match case.dataflow {
        Dataflow::OutputStationary => (g.m, g.n),
        Dataflow::WeightStationary => (kb, g.n),
        Dataflow::InputStationary => (kb, g.m),
    };
    sr.div_ceil(case.rows) * sc.div_ceil(case.cols)
}
