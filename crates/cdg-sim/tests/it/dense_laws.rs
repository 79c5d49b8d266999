//! Property tests of the dense model: cycles equal a naive fold-by-fold count, SRAM counts
//! equal the closed forms of docs/model.md §2, and the memory and energy laws hold.

use cdg_core::arch::{RawArchConfig, RawBandwidth, RawMemory};
use cdg_core::{
    ArchConfig, ConvParams, Dataflow, DramBandwidth, EnergyPart, Layer, LayerShape, OutputRule,
};
use cdg_sim::{LayerOptions, LayerStats, simulate_layer, simulate_layer_one_pass};
use proptest::prelude::*;

use crate::common;
use common::{dataflow, pointwise};

fn layer_strategy() -> impl Strategy<Value = Layer> {
    (
        1u64..24,
        1u64..14,
        1u64..14,
        1u64..5,
        1u64..4,
        0u64..3,
        1u64..40,
        any::<bool>(),
    )
        .prop_filter_map("kernel fits", |(c, h, w, k, s, p, n, ceil)| {
            let (p, rule) = if ceil {
                (0, OutputRule::Ceil)
            } else {
                (p, OutputRule::Floor)
            };
            LayerShape::conv(
                "l",
                ConvParams {
                    in_channels: c,
                    in_height: h,
                    in_width: w,
                    out_channels: n,
                    kernel: [k, k],
                    stride: s,
                    padding: p,
                    rule,
                },
            )
            .ok()
            .map(|shape| Layer { shape, gate: None })
        })
}

#[derive(Debug, Clone)]
struct Design {
    rows: u64,
    cols: u64,
    dataflow: Dataflow,
    word_bytes: u64,
    kib: [f64; 3],
    bandwidth: Option<f64>,
    overlap: bool,
}

fn design() -> impl Strategy<Value = Design> {
    let kib = prop_oneof![Just(0.0625), Just(0.25), Just(1.0), Just(4.0), Just(64.0)];
    (
        1u64..20,
        1u64..20,
        dataflow(),
        1u64..4,
        [kib.clone(), kib.clone(), kib],
        prop::option::of(0.25f64..64.0),
        any::<bool>(),
    )
        .prop_map(
            |(rows, cols, dataflow, word_bytes, kib, bandwidth, overlap)| Design {
                rows,
                cols,
                dataflow,
                word_bytes,
                kib,
                bandwidth,
                overlap,
            },
        )
}

/// Builds the config through the validated path, so energy defaults follow the sizes.
fn arch(d: &Design) -> ArchConfig {
    let mut raw = ArchConfig::default_with("t").to_raw();
    raw.array.rows = Some(d.rows);
    raw.array.cols = Some(d.cols);
    raw.array.dataflow = Some(d.dataflow.as_str().into());
    raw.array.overlap_folds = Some(d.overlap);
    raw.energy = Default::default();
    raw.memory = RawMemory {
        word_bytes: Some(d.word_bytes),
        ifmap_sram_kib: Some(d.kib[0]),
        filter_sram_kib: Some(d.kib[1]),
        ofmap_sram_kib: Some(d.kib[2]),
        dram_bytes_per_cycle: Some(match d.bandwidth {
            None => RawBandwidth::Text("unlimited".into()),
            Some(b) => RawBandwidth::BytesPerCycle(b),
        }),
    };
    ArchConfig::try_from(raw).unwrap()
}

/// The single-pass dense model, whose closed forms these laws state.
fn sim(a: &ArchConfig, l: &Layer) -> LayerStats {
    simulate_layer_one_pass(a, l, &LayerOptions::default()).unwrap()
}

/// Cycles by walking every fold, written apart from the model.
fn naive_cycles(d: &Design, l: &Layer) -> u64 {
    let g = l.shape.gemm();
    let (r, c) = (d.rows, d.cols);
    let (sr, sc, t) = match d.dataflow {
        Dataflow::OutputStationary => (g.m, g.n, g.k),
        Dataflow::WeightStationary => (g.k, g.n, g.m),
        Dataflow::InputStationary => (g.k, g.m, g.n),
    };
    let mut total = 0;
    let mut first = true;
    let mut col = 0;
    while col < sc {
        let mut row = 0;
        while row < sr {
            let fill = match d.dataflow {
                Dataflow::OutputStationary => r + c - 2,
                Dataflow::WeightStationary | Dataflow::InputStationary => 2 * r + c - 2,
            };
            // Overlapped, a fold starts one pipeline period after the previous one: T for OS,
            // max(T, R) for WS/IS (the stationary operand needs R cycles to load).
            let period = match d.dataflow {
                Dataflow::OutputStationary => t,
                Dataflow::WeightStationary | Dataflow::InputStationary => t.max(r),
            };
            total += if d.overlap && !first {
                period
            } else {
                t + fill
            };
            first = false;
            row += r;
        }
        col += c;
    }
    total
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn cycles_equal_a_naive_fold_loop(l in layer_strategy(), d in design()) {
        let a = arch(&d);
        let s = sim(&a, &l);
        prop_assert_eq!(s.totals.compute_cycles.get(), naive_cycles(&d, &l));
        prop_assert_eq!(s.totals.cycles, s.totals.compute_cycles + s.totals.stall_cycles);
        prop_assert!(s.totals.prefetch_cycles <= s.totals.stall_cycles);
        prop_assert_eq!(s.totals.folds, s.row_folds * s.col_folds);
    }

    #[test]
    fn sram_counts_follow_the_closed_forms(l in layer_strategy(), d in design()) {
        let s = sim(&arch(&d), &l);
        let g = l.shape.gemm();
        let (m, k, n) = (g.m, g.k, g.n);
        let (fr, fc) = (s.row_folds, s.col_folds);
        let (ifmap, filter, ofmap, psum) = match d.dataflow {
            Dataflow::OutputStationary => (fc * m * k, fr * k * n, m * n, 0),
            Dataflow::WeightStationary => (fc * m * k, k * n, fr * m * n, (fr - 1) * m * n),
            Dataflow::InputStationary => (m * k, fc * k * n, fr * m * n, (fr - 1) * m * n),
        };
        prop_assert_eq!(s.totals.sram.ifmap_reads.get(), ifmap);
        prop_assert_eq!(s.totals.sram.filter_reads.get(), filter);
        prop_assert_eq!(s.totals.sram.ofmap_writes.get(), ofmap);
        prop_assert_eq!(s.totals.sram.psum_reads.get(), psum);
    }

    #[test]
    fn dram_is_at_least_compulsory(l in layer_strategy(), d in design()) {
        let s = sim(&arch(&d), &l);
        prop_assert!(s.totals.dram.ifmap_read >= s.totals.compulsory.ifmap);
        prop_assert!(s.totals.dram.filter_read >= s.totals.compulsory.filter);
        prop_assert!(s.totals.dram.ofmap_write >= s.totals.compulsory.ofmap);
        prop_assert!(s.totals.dram.total() >= s.totals.compulsory.total());
    }

    #[test]
    fn dram_equals_compulsory_when_everything_fits(l in layer_strategy(), mut d in design()) {
        d.kib = [1024.0; 3];
        let s = sim(&arch(&d), &l);
        prop_assert_eq!(s.totals.dram.ifmap_read, s.totals.compulsory.ifmap);
        prop_assert_eq!(s.totals.dram.filter_read, s.totals.compulsory.filter);
        prop_assert_eq!(s.totals.dram.ofmap_write, s.totals.compulsory.ofmap);
        prop_assert_eq!(s.totals.dram.psum().get(), 0);
    }

    #[test]
    fn unlimited_bandwidth_never_stalls(l in layer_strategy(), mut d in design()) {
        d.bandwidth = None;
        let s = sim(&arch(&d), &l);
        prop_assert_eq!(s.totals.stall_cycles.get(), 0);
        prop_assert_eq!(s.totals.prefetch_cycles.get(), 0);
        prop_assert_eq!(s.totals.cycles, s.totals.compute_cycles);
    }

    #[test]
    fn stalls_never_decrease_when_bandwidth_decreases(
        l in layer_strategy(), d in design(), lo in 0.1f64..16.0, factor in 1.0f64..8.0,
    ) {
        let slow = sim(&arch(&Design { bandwidth: Some(lo), ..d.clone() }), &l);
        let fast = sim(&arch(&Design { bandwidth: Some(lo * factor), ..d.clone() }), &l);
        let unlimited = sim(&arch(&Design { bandwidth: None, ..d }), &l);
        prop_assert!(slow.totals.stall_cycles >= fast.totals.stall_cycles);
        prop_assert!(slow.totals.prefetch_cycles >= fast.totals.prefetch_cycles);
        prop_assert!(fast.totals.stall_cycles >= unlimited.totals.stall_cycles);
        // Bandwidth changes time, never traffic.
        prop_assert_eq!(slow.totals.dram, fast.totals.dram);
    }

    #[test]
    fn energy_is_the_sum_of_its_breakdown(l in layer_strategy(), d in design()) {
        let mut a = arch(&d);
        a.energy.leak_per_pe_cycle = 0.001;
        a.energy.leak_per_kib_cycle = 0.01;
        let row = sim(&a, &l).to_row();
        // Every part, whatever parts there are.
        let parts: f64 = row.counters.energy_parts_pj.0.iter().sum();
        prop_assert!((row.counters.energy_pj - parts).abs() <= 1e-9 * row.counters.energy_pj.max(1.0));
        prop_assert!(row.counters.energy_parts_pj[EnergyPart::Leak] > 0.0);
        prop_assert!((row.counters.edp_pj_us - row.counters.energy_pj * row.counters.latency_us).abs()
            <= 1e-9 * row.counters.edp_pj_us.max(1.0));
        prop_assert!((row.counters.energy_parts_pj[EnergyPart::Mac] - row.counters.macs_dense as f64 * a.energy.mac).abs() < 1e-6);
    }

    #[test]
    fn bigger_srams_cost_more_per_access(
        l in layer_strategy(), d in design(), small in 1.0f64..64.0, grow in 1.5f64..16.0,
    ) {
        let per_byte = |kib: f64| {
            let a = arch(&Design { kib: [kib; 3], ..d.clone() });
            let s = sim(&a, &l);
            let wb = d.word_bytes as f64;
            let bytes = s.totals.sram.ifmap_reads.as_f64() * wb + s.totals.dram.ifmap_read.as_f64();
            s.totals.energy[EnergyPart::SramIfmap].get() / bytes
        };
        prop_assert!(per_byte(small * grow) > per_byte(small));
    }

    #[test]
    fn scalesim_figures_equal_per_fold_means(l in layer_strategy(), mut d in design()) {
        // SCALE-Sim's conventions (reference README), computed fold by fold.
        d.overlap = false;
        d.bandwidth = None;
        let s = sim(&arch(&d), &l);
        let g = l.shape.gemm();
        let (r, c) = (d.rows, d.cols);
        let (sr, sc, t) = match d.dataflow {
            Dataflow::OutputStationary => (g.m, g.n, g.k),
            Dataflow::WeightStationary => (g.k, g.n, g.m),
            Dataflow::InputStationary => (g.k, g.m, g.n),
        };
        let fold_cycles = match d.dataflow {
            Dataflow::OutputStationary => t + r + c - 2,
            Dataflow::WeightStationary | Dataflow::InputStationary => 2 * r + 2 * c + t - 3,
        } as f64;
        let (mut eff, mut util, mut folds) = (0.0, 0.0, 0u64);
        let mut col = 0;
        while col < sc {
            let used_c = c.min(sc - col);
            let mut row = 0;
            while row < sr {
                let pes = (r.min(sr - row) * used_c) as f64;
                eff += pes / (r * c) as f64;
                util += pes * t as f64 / ((r * c) as f64 * fold_cycles);
                folds += 1;
                row += r;
            }
            col += c;
        }
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1.0);
        prop_assert!(close(s.scalesim_mapping_efficiency, eff / folds as f64));
        prop_assert!(close(s.rates.scalesim_compute_utilization, util / folds as f64));
        prop_assert_eq!(s.totals.scalesim.total_cycles.get(), s.totals.cycles.get() - 1);
        let macs = g.m * g.k * g.n;
        prop_assert!(close(
            s.rates.scalesim_overall_utilization,
            macs as f64 / ((s.totals.cycles.get() - 1) as f64 * (r * c) as f64)
        ) || s.totals.cycles.get() == 1);
        let quirk = if common::outputs_stay(d.dataflow) { folds * (r + c) } else { 0 };
        prop_assert_eq!(s.totals.scalesim.ofmap_writes.get(), s.totals.sram.ofmap_writes.get() + quirk);
    }

    #[test]
    fn utilization_is_a_fraction(l in layer_strategy(), d in design()) {
        let s = sim(&arch(&d), &l);
        prop_assert!(s.utilization > 0.0 && s.utilization <= 1.0, "{}", s.utilization);
        prop_assert!(s.scalesim_mapping_efficiency > 0.0 && s.scalesim_mapping_efficiency <= 1.0);
        prop_assert!(s.rates.scalesim_compute_utilization <= 1.0);
    }
}

#[test]
fn overlap_saves_the_fill_of_every_fold_after_the_first() {
    // GEMM M256 N128 K256 on 32×32: 32 OS folds of 256 + 62 cycles.
    let l = Layer {
        shape: LayerShape::conv(
            "g",
            ConvParams {
                in_channels: 256,
                in_height: 256,
                in_width: 1,
                out_channels: 128,
                kernel: [1, 1],
                stride: 1,
                padding: 0,
                rule: OutputRule::Ceil,
            },
        )
        .unwrap(),
        gate: None,
    };
    let mut d = Design {
        rows: 32,
        cols: 32,
        dataflow: Dataflow::OutputStationary,
        word_bytes: 1,
        kib: [1024.0; 3],
        bandwidth: None,
        overlap: true,
    };
    assert_eq!(sim(&arch(&d), &l).totals.cycles.get(), 318 + 31 * 256);
    d.dataflow = Dataflow::WeightStationary;
    // WS: 32 folds streaming M = 256; the first pays 2·32 + 32 − 2.
    assert_eq!(sim(&arch(&d), &l).totals.cycles.get(), 350 + 31 * 256);
}

#[test]
fn overlapped_ws_folds_shorter_than_the_array_wait_for_the_load_chain() {
    // The tpu-like case of docs/model.md §2: 6×6×128 input, 3×3, 128 filters (M = 16,
    // K = 1152, N = 128) on a 128×128 WS array with overlap: 9 folds streaming T = 16 < R.
    // The engine's period is max(T, R) = 128: 8·128 + (2·128 + 128 + 16 − 2) = 1422 cycles,
    // not the 526 of saving 2R + C − 2 per fold.
    let l = Layer {
        shape: LayerShape::conv(
            "l4",
            ConvParams {
                in_channels: 128,
                in_height: 6,
                in_width: 6,
                out_channels: 128,
                kernel: [3, 3],
                stride: 1,
                padding: 0,
                rule: OutputRule::Ceil,
            },
        )
        .unwrap(),
        gate: None,
    };
    let d = Design {
        rows: 128,
        cols: 128,
        dataflow: Dataflow::WeightStationary,
        word_bytes: 1,
        kib: [4096.0; 3],
        bandwidth: None,
        overlap: true,
    };
    assert_eq!(sim(&arch(&d), &l).totals.compute_cycles.get(), 1422);
    assert_eq!(naive_cycles(&d, &l), 1422);
    // With unlimited bandwidth the best dense schedule is the single pass.
    let best = simulate_layer(&arch(&d), &l, &LayerOptions::default()).unwrap();
    assert_eq!(best.totals.cycles.get(), 1422);
}

#[test]
fn a_starved_layer_stalls_by_hand_computed_amounts() {
    // One OS fold (M = 4, N = 4, K = 8 on 4×4): 8 + 6 = 14 compute cycles. Prefetch fetches
    // the 4×8 ifmap (1×4×8 input, 32 B) and 8×4 filter (32 B) at 2 B/cycle: 32 cycles; the
    // 16 B of outputs drain after: 8 cycles.
    let l = pointwise("tiny", 8, 4, 1, 4);
    let mut a = ArchConfig::default_with("t");
    a.array.rows = 4;
    a.array.cols = 4;
    a.memory.dram_bandwidth = DramBandwidth::BytesPerCycle(2.0);
    let s = sim(&a, &l);
    assert_eq!(s.totals.compute_cycles.get(), 14);
    assert_eq!(s.totals.prefetch_cycles.get(), 32);
    assert_eq!(s.totals.stall_cycles.get(), 32 + 8);
    assert_eq!(s.totals.cycles.get(), 54);
    assert_eq!(s.totals.dram.total().get(), 32 + 32 + 16);
}

#[test]
fn refetch_when_the_ifmap_does_not_fit() {
    // OS, 2 column folds; an ifmap bigger than half the buffer is streamed once per column fold.
    let l = pointwise("big", 64, 32, 32, 32);
    let mut raw: RawArchConfig = ArchConfig::default_with("t").to_raw();
    raw.array.rows = Some(16);
    raw.array.cols = Some(16);
    raw.memory.ifmap_sram_kib = Some(32.0); // 16 KiB usable < 64 KiB ifmap
    raw.memory.filter_sram_kib = Some(64.0);
    raw.memory.ofmap_sram_kib = Some(64.0);
    raw.memory.dram_bytes_per_cycle = Some(RawBandwidth::Text("unlimited".into()));
    let s = sim(&ArchConfig::try_from(raw.clone()).unwrap(), &l);
    assert_eq!(s.totals.compulsory.ifmap.get(), 64 * 1024);
    assert_eq!(s.totals.dram.ifmap_read.get(), 2 * 64 * 1024);
    raw.memory.ifmap_sram_kib = Some(128.0);
    let s = sim(&ArchConfig::try_from(raw).unwrap(), &l);
    assert_eq!(s.totals.dram.ifmap_read.get(), 64 * 1024);
}

#[test]
fn ws_psums_spill_when_they_do_not_fit() {
    // WS with K = 64 on 16 rows: 4 row folds accumulate onto M·N_j = 1024·16 = 16 KiB psums.
    let l = pointwise("spill", 64, 32, 32, 16);
    let mut a = ArchConfig::default_with("t");
    a.array.dataflow = Dataflow::WeightStationary;
    a.memory.dram_bandwidth = DramBandwidth::Unlimited;
    a.memory.ofmap_sram_kib = 64.0; // 32 KiB usable: fits
    let s = sim(&a, &l);
    assert_eq!(s.totals.dram.psum().get(), 0);
    assert_eq!(s.totals.dram.ofmap_write.get(), 1024 * 16);
    a.memory.ofmap_sram_kib = 16.0; // 8 KiB usable: spills
    let s = sim(&a, &l);
    // 4 folds write 16 KiB each (3 of them spills); 3 read back.
    assert_eq!(s.totals.dram.ofmap_write.get(), 4 * 1024 * 16);
    assert_eq!(s.totals.dram.psum_write.get(), 3 * 1024 * 16);
    assert_eq!(s.totals.dram.psum_read.get(), 3 * 1024 * 16);
}
