//! The mapper (docs/model.md §8, issue #24): its search against brute-force enumeration of the
//! mapspace, its bounds, and the properties the objective guarantees (monotone in bandwidth and
//! buffers, batching never costs energy per image, the objectives' orderings, gated layers
//! against the ungated best).

use cdg_core::arch::DramBandwidth;
use cdg_core::{
    ArchConfig, ConvParams, Dataflow, GateBlock, GateSpec, Layer, LayerMasks, LayerShape,
    MappingObjective, OutputRule, SkipPolicy,
};
use cdg_sim::baseline::LayerGemm;
use cdg_sim::mapper::{Mapspace, search};
use cdg_sim::memory::compulsory;
use cdg_sim::{LayerOptions, simulate_gated_layer, simulate_layer, simulate_layer_one_pass};
use proptest::prelude::*;

use crate::common::dataflow;

fn objective() -> impl Strategy<Value = MappingObjective> {
    prop_oneof![
        Just(MappingObjective::Latency),
        Just(MappingObjective::Energy),
        Just(MappingObjective::Edp),
    ]
}

fn value(o: MappingObjective, cycles: cdg_core::Cycles, energy: f64) -> f64 {
    match o {
        MappingObjective::Latency => cycles.as_f64(),
        MappingObjective::Energy => energy,
        MappingObjective::Edp => cycles.as_f64() * energy,
    }
}

#[derive(Debug, Clone, Copy)]
struct Design {
    array: (u64, u64),
    df: Dataflow,
    kib: [f64; 3],
    bw: Option<f64>,
    overlap: bool,
    batch: u64,
    objective: MappingObjective,
}

fn arch(d: &Design) -> ArchConfig {
    let mut a = ArchConfig::default_with("mapper");
    a.array.rows = d.array.0;
    a.array.cols = d.array.1;
    a.array.dataflow = d.df;
    a.array.overlap_folds = d.overlap;
    a.memory.ifmap_sram_kib = d.kib[0];
    a.memory.filter_sram_kib = d.kib[1];
    a.memory.ofmap_sram_kib = d.kib[2];
    a.memory.dram_bandwidth = match d.bw {
        None => DramBandwidth::Unlimited,
        Some(b) => DramBandwidth::BytesPerCycle(b),
    };
    a.workload.batch = d.batch;
    a.mapping.objective = d.objective;
    a
}

fn conv((c, h, n, k, s, p): (u64, u64, u64, u64, u64, u64)) -> Option<LayerShape> {
    LayerShape::conv(
        "l",
        ConvParams {
            in_channels: c,
            in_height: h,
            in_width: h,
            out_channels: n,
            kernel: [k, k],
            stride: s,
            padding: p,
            rule: OutputRule::Floor,
        },
    )
    .ok()
}

/// The mapspace of an ungated `shape` on `arch` (as `simulate_layer` builds it).
fn space(arch: &ArchConfig, shape: &LayerShape) -> Mapspace {
    let layer = Layer {
        shape: shape.clone(),
        gate: None,
    };
    let g1 = LayerGemm::of(shape);
    let mut a1 = arch.clone();
    a1.workload.batch = 1;
    let per = shape.kernel()[0] * shape.kernel()[1];
    Mapspace::new(
        arch,
        g1,
        compulsory(arch, &layer, g1.k),
        compulsory(&a1, &layer, g1.k),
        Some((per, shape.in_channels())),
    )
}

fn kib() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0625), Just(0.25), Just(1.0), Just(4.0), Just(64.0)]
}

fn bandwidth() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        Just(None),
        Just(Some(16.0)),
        Just(Some(2.0)),
        Just(Some(0.25))
    ]
}

prop_compose! {
    fn design()(array in (1u64..=5, 1u64..=5), df in dataflow(),
                kib in (kib(), kib(), kib()), bw in bandwidth(), overlap in any::<bool>(),
                batch in 1u64..=3, objective in objective()) -> Design {
        Design { array, df, kib: [kib.0, kib.1, kib.2], bw, overlap, batch, objective }
    }
}

fn layer_dims() -> impl Strategy<Value = (u64, u64, u64, u64, u64, u64)> {
    (2u64..=8, 1u64..=6, 1u64..=9, 1u64..=3, 1u64..=2, 0u64..=1)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(120))]

    /// The search (maximal resident tiles, bound-pruned) finds what brute force over every
    /// candidate and every count of resident tiles finds; every bound is below its candidate's
    /// cost; the chosen mapping's objective is at most every candidate's.
    #[test]
    fn search_equals_brute_force(dims in layer_dims(), d in design()) {
        let shape = conv(dims);
        prop_assume!(shape.is_some());
        let shape = shape.unwrap();
        let a = arch(&d);
        let space = space(&a, &shape);
        let best = search(&space, d.objective);
        let brute = space.brute_force(d.objective);
        let v = |e: &cdg_sim::mapper::Evaluated| (
            e.value(d.objective), e.totals.cycles, e.totals.energy.total().get());
        prop_assert_eq!(v(&best), v(&brute), "search {} vs brute force {}", best.name, brute.name);
        for m in space.candidates() {
            let e = space.evaluate(&m);
            let (c, en) = space.bound(&m);
            prop_assert!(c <= e.totals.cycles, "{}: cycle bound {} > {}", e.name, c, e.totals.cycles);
            prop_assert!(en <= e.totals.energy.total().get() * (1.0 + 1e-12),
                "{}: energy bound {} > {}", e.name, en, e.totals.energy.total());
            prop_assert!(best.value(d.objective) <= e.value(d.objective));
        }
    }

    /// Under `energy`, energy never rises when the DRAM bandwidth grows (same mapspace, only
    /// stalls and leakage change), and a batch never costs more energy per image than batch 1
    /// (the batch-1 mapping run per sample is a candidate).
    #[test]
    fn energy_objective_is_monotone(dims in layer_dims(), mut d in design()) {
        let shape = conv(dims);
        prop_assume!(shape.is_some());
        let layer = Layer { shape: shape.unwrap(), gate: None };
        d.objective = MappingObjective::Energy;
        let run = |d: &Design| simulate_layer(&arch(d), &layer, &LayerOptions::default()).unwrap();
        let e = |s: &cdg_sim::LayerStats| s.totals.energy.total().get();
        let base = run(&d);
        for bw in [Some(0.25), Some(2.0), Some(16.0), None] {
            let grows = match (d.bw, bw) { (_, None) => true, (None, Some(_)) => false, (Some(a), Some(b)) => b >= a };
            if grows {
                let more = run(&Design { bw, ..d });
                prop_assert!(e(&more) <= e(&base) * (1.0 + 1e-12), "{:?} → {:?}: {} > {}", d.bw, bw, e(&more), e(&base));
            }
        }
        let one = run(&Design { batch: 1, ..d });
        prop_assert!(e(&base) / d.batch as f64 <= e(&one) * (1.0 + 1e-12),
            "batch {}: {} per image > {} ({} vs {})", d.batch, e(&base) / d.batch as f64, e(&one), base.mapping, one.mapping);
    }

    /// Under `latency`, cycles never rise when the bandwidth or any buffer grows, and never
    /// exceed SCALE-Sim's single pass (cdg's cycles are its Total Cycles + 1); per layer,
    /// `latency` gives at most the cycles of `energy`, `energy` at most the energy of `latency`.
    #[test]
    fn latency_objective_is_monotone(dims in layer_dims(), mut d in design(), which in 0usize..3) {
        let shape = conv(dims);
        prop_assume!(shape.is_some());
        let layer = Layer { shape: shape.unwrap(), gate: None };
        d.objective = MappingObjective::Latency;
        let run = |d: &Design| simulate_layer(&arch(d), &layer, &LayerOptions::default()).unwrap();
        let base = run(&d);
        let more_bw = run(&Design { bw: d.bw.map(|b| b * 4.0), ..d });
        prop_assert!(more_bw.totals.cycles <= base.totals.cycles);
        let mut kib = d.kib;
        kib[which] *= 4.0;
        let mut bigger = arch(&d);
        bigger.memory.ifmap_sram_kib = kib[0];
        bigger.memory.filter_sram_kib = kib[1];
        bigger.memory.ofmap_sram_kib = kib[2];
        let big = simulate_layer(&bigger, &layer, &LayerOptions::default()).unwrap();
        prop_assert!(big.totals.cycles <= base.totals.cycles, "buffer {which} ×4: {} > {} ({} vs {})",
            big.totals.cycles, base.totals.cycles, big.mapping, base.mapping);
        let one = simulate_layer_one_pass(&arch(&d), &layer, &LayerOptions::default()).unwrap();
        prop_assert!(base.totals.cycles <= one.totals.cycles);
        prop_assert_eq!(one.totals.scalesim.total_cycles.get() + 1, one.totals.cycles.get());
        let en = run(&Design { objective: MappingObjective::Energy, ..d });
        prop_assert!(base.totals.cycles <= en.totals.cycles);
        prop_assert!(en.totals.energy.total() <= base.totals.energy.total());
    }

    /// Gated layers: the `dense` policy never beats the ungated best under the objective; with
    /// BASE 0 and every gate on it costs the ungated best plus the gate unit (every policy that
    /// runs every fold), within rounding.
    #[test]
    fn gated_dense_policy_against_the_ungated_best(
        dims in layer_dims(), d in design(), block in (1u64..=3, 1u64..=2, 1u64..=2),
    ) {
        let shape = conv(dims);
        prop_assume!(shape.is_some());
        let shape = shape.unwrap();
        let spec = GateSpec { base_channels: 0, block: GateBlock::new(block.0, block.1, block.2) };
        let samples = d.batch as usize;
        let masks = LayerMasks::from_fn(&shape, &spec, samples, |_, _, _, _| true).unwrap();
        let mut a = arch(&d);
        a.sparsity.support = SkipPolicy::Dense;
        let layer = Layer { shape: shape.clone(), gate: Some(spec) };
        let run = simulate_gated_layer(&a, &layer, &masks, 0).unwrap();
        let t = &run.totals;
        let o = d.objective;
        prop_assert!(value(o, t.cycles, t.energy.total().get())
            >= value(o, t.cycles_ungated, t.energy_ungated.total().get()) * (1.0 - 1e-12));
        let ungated = simulate_layer(&a, &Layer { shape, gate: None }, &LayerOptions::default()).unwrap();
        prop_assert_eq!(t.cycles, ungated.totals.cycles, "{} vs {}", run.mapping, ungated.mapping);
        let gate = t.energy[cdg_core::EnergyPart::Gate].get();
        let diff = t.energy.total().get() - ungated.totals.energy.total().get();
        prop_assert!((diff - gate).abs() <= 1e-9 * t.energy.total().get(), "{diff} vs gate {gate}");
    }
}

/// A layer too big for its buffers picks different mappings under different objectives, each
/// the best of its own measure, and names them.
#[test]
fn objectives_pick_their_own_best_and_name_it() {
    let shape = conv((256, 10, 256, 3, 1, 0)).unwrap();
    let layer = Layer { shape, gate: None };
    let mut a = ArchConfig::default_with("t");
    a.memory.dram_bandwidth = DramBandwidth::BytesPerCycle(64.0);
    let mut got = Vec::new();
    for o in MappingObjective::ALL {
        a.mapping.objective = o;
        let s = simulate_layer(&a, &layer, &LayerOptions::default()).unwrap();
        assert!(s.mapping.starts_with('k'), "{}", s.mapping);
        assert!(s.mapping.contains("-outer"), "{}", s.mapping);
        got.push((o, s.totals.cycles, s.totals.energy.total().get()));
    }
    let (lat, en) = (got[0], got[1]);
    assert!(lat.1 <= en.1 && en.2 <= lat.2, "{got:?}");
}
