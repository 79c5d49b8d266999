// The functional model against a naive direct convolution (six nested loops, written here
// independently of the crate's im2col lowering), for ungated layers and for gated layers under
// every skip policy's schedule.

use cdg_core::{
    ConvParams, Cycles, Dataflow, GateBlock, GateSpec, LayerMasks, LayerShape, OutputRule,
    SkipPolicy,
};
use cdg_sim::functional::{ArrayShape, FeatureMap, Filters, run_gated_layer, run_layer};
use cdg_sim::schedule::{GatedSchedule, PassSchedule, gate_fn, layer_dims, split_dims};
use proptest::prelude::*;

use crate::common;
use common::dataflow;

/// Direct convolution of input channels `c_lo..c_hi` only; out-of-range taps are zero (padding,
/// and the implicit bottom/right padding of the ceil rule).
fn direct_conv(l: &LayerShape, x: &FeatureMap, w: &Filters, c_lo: usize, c_hi: usize) -> Vec<i64> {
    let (ho, wo) = (l.out_height() as usize, l.out_width() as usize);
    let [kh, kw] = l.kernel().map(|v| v as usize);
    let (s, p) = (l.stride() as i64, l.padding() as i64);
    let [_, h, wi] = x.shape();
    let n_out = l.out_channels() as usize;
    let mut y = vec![0i64; n_out * ho * wo];
    for n in 0..n_out {
        for oh in 0..ho {
            for ow in 0..wo {
                let mut acc = 0;
                for c in c_lo..c_hi {
                    for dy in 0..kh {
                        for dx in 0..kw {
                            let iy = oh as i64 * s + dy as i64 - p;
                            let ix = ow as i64 * s + dx as i64 - p;
                            if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < wi {
                                acc += x.get(c, iy as usize, ix as usize) * w.get(n, c, dy, dx);
                            }
                        }
                    }
                }
                y[(n * ho + oh) * wo + ow] = acc;
            }
        }
    }
    y
}

fn lcg(seed: u64) -> impl FnMut() -> i64 {
    let mut x = seed | 1;
    move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((x >> 33) % 31) as i64 - 15
    }
}

#[derive(Debug, Clone)]
struct Case {
    params: ConvParams,
    rows: u64,
    cols: u64,
    dataflow: Dataflow,
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        (1u64..=6, 1u64..=9, 1u64..=9, 1u64..=12),
        (1u64..=4, 1u64..=4, 1u64..=3, 0u64..=2, any::<bool>()),
        (1u64..=8, 1u64..=8, dataflow(), any::<u64>()),
    )
        .prop_map(
            |((c, h, w, n), (kh, kw, s, p, ceil), (rows, cols, dataflow, seed))| Case {
                params: ConvParams {
                    in_channels: c,
                    in_height: h,
                    in_width: w,
                    out_channels: n,
                    kernel: [kh, kw],
                    stride: s,
                    padding: if ceil { 0 } else { p },
                    rule: if ceil {
                        OutputRule::Ceil
                    } else {
                        OutputRule::Floor
                    },
                },
                rows,
                cols,
                dataflow,
                seed,
            },
        )
}

fn tensors(l: &LayerShape, seed: u64) -> (FeatureMap, Filters) {
    let mut r = lcg(seed);
    let x = FeatureMap::from_fn(
        l.in_channels() as usize,
        l.in_height() as usize,
        l.in_width() as usize,
        |_, _, _| r(),
    );
    let [kh, kw] = l.kernel().map(|v| v as usize);
    let w = Filters::from_fn(
        [l.out_channels() as usize, l.in_channels() as usize, kh, kw],
        |_, _, _, _| r(),
    );
    (x, w)
}

#[derive(Debug, Clone, Copy)]
enum MaskKind {
    AllOn,
    AllOff,
    Random,
    /// Large on/off regions: gate blocks grouped in runs of 3 along every grid axis.
    Blocky,
}

fn mask_kind() -> impl Strategy<Value = MaskKind> {
    prop_oneof![
        Just(MaskKind::AllOn),
        Just(MaskKind::AllOff),
        Just(MaskKind::Random),
        Just(MaskKind::Blocky),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn ungated_layer_equals_direct_convolution(case in case()) {
        let l = LayerShape::conv("l", case.params.clone());
        prop_assume!(l.is_ok());
        let l = l.unwrap();
        let (x, w) = tensors(&l, case.seed);
        let array = ArrayShape { rows: case.rows, cols: case.cols, dataflow: case.dataflow };
        let schedule = PassSchedule::dense(&layer_dims(&l), case.rows, case.cols, case.dataflow);
        let (y, stats) = run_layer(&l, &x, &w, &array, &schedule).unwrap();
        let c = l.in_channels() as usize;
        prop_assert_eq!(y.as_slice(), &direct_conv(&l, &x, &w, 0, c)[..]);
        prop_assert_eq!(stats.macs_performed, l.macs().get());
        prop_assert_eq!(stats.macs_clock_gated, 0);
        // F_r·F_c folds (docs/model.md §2 mapping).
        let g = l.gemm();
        let (sr, sc) = match case.dataflow {
            Dataflow::OutputStationary => (g.m, g.n),
            Dataflow::WeightStationary => (g.k, g.n),
            Dataflow::InputStationary => (g.k, g.m),
        };
        prop_assert_eq!(stats.folds, sr.div_ceil(case.rows) * sc.div_ceil(case.cols));
    }

    #[test]
    fn gated_layer_equals_base_plus_gated_cond(
        case in case(),
        partitions in 1u64..=4,
        block in (1u64..=5, 1u64..=3, 1u64..=3),
        kind in mask_kind(),
        density in 0.0f64..=1.0,
    ) {
        let l = LayerShape::conv("g", case.params.clone());
        prop_assume!(l.is_ok());
        let l = l.unwrap();
        let spec = GateSpec {
            base_channels: GateSpec::base_channels_for(l.in_channels(), partitions),
            block: GateBlock::new(block.0, block.1, block.2),
        };
        let mut bits = case.seed;
        let masks = LayerMasks::from_fn(&l, &spec, 1, |_, c, h, w| match kind {
            MaskKind::AllOn => true,
            MaskKind::AllOff => false,
            MaskKind::Random => {
                bits = bits.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((bits >> 11) as f64 / (1u64 << 53) as f64) < density
            }
            MaskKind::Blocky => (c / 3 + h / 3 + w / 3 + case.seed % 2) % 2 == 0,
        }).unwrap();
        let gate = gate_fn(&masks, 0);
        let (x, w) = tensors(&l, case.seed);
        let (cb, c) = (spec.base_channels as usize, l.in_channels() as usize);
        let p = direct_conv(&l, &x, &w, 0, cb);
        let q = direct_conv(&l, &x, &w, cb, c);
        let (ho, wo) = (l.out_height(), l.out_width());
        let mut expected = p.clone();
        let mut active = 0u64;
        for n in 0..l.out_channels() {
            for oh in 0..ho {
                for ow in 0..wo {
                    if masks.gate_at(0, n, oh, ow) {
                        active += 1;
                        let i = ((n * ho + oh) * wo + ow) as usize;
                        expected[i] += q[i];
                    }
                }
            }
        }
        prop_assert_eq!(active, masks.active_elements(0));
        let array = ArrayShape { rows: case.rows, cols: case.cols, dataflow: case.dataflow };
        let dense = GatedSchedule::for_policy(
            SkipPolicy::Dense, &l, &spec, case.rows, case.cols, case.dataflow, &gate);
        let dense_cycles = dense.cycles(case.dataflow, case.rows, case.cols);
        let k_base = l.window_for(spec.base_channels);
        let k_cond = l.gemm().k - k_base;
        let macs_needed = l.gemm().m * l.gemm().n * k_base + k_cond * active;
        for policy in SkipPolicy::ALL {
            let s = GatedSchedule::for_policy(
                policy, &l, &spec, case.rows, case.cols, case.dataflow, &gate);
            let (y, stats) = run_gated_layer(&l, &spec, &x, &w, &array, &s, &gate).unwrap();
            prop_assert_eq!(y.as_slice(), &expected[..], "{:?}", policy);
            // Only active outputs receive conditional MACs, whatever the policy keeps.
            prop_assert_eq!(stats.macs_performed, macs_needed, "{:?}", policy);
            // No policy is slower than dense (gather overhead 0).
            prop_assert!(s.cycles(case.dataflow, case.rows, case.cols) <= dense_cycles);
            if matches!(kind, MaskKind::AllOff) && common::traits(policy).skips {
                prop_assert!(s.cond.is_empty(), "all-off masks leave only the base pass");
            }
            if matches!(kind, MaskKind::AllOn) {
                prop_assert_eq!(s.cycles(case.dataflow, case.rows, case.cols), dense_cycles);
            }
        }
    }

    /// Each policy's conditional-pass cycles (stall-free, folds back to back) equal a naive
    /// count from docs/model.md §5's formulas.
    #[test]
    fn policy_cycles_equal_naive_fold_counts(
        case in case(),
        partitions in 1u64..=4,
        block in (1u64..=5, 1u64..=3, 1u64..=3),
        density in 0.0f64..=1.0,
    ) {
        let l = LayerShape::conv("g", case.params.clone());
        prop_assume!(l.is_ok());
        let l = l.unwrap();
        let spec = GateSpec {
            base_channels: GateSpec::base_channels_for(l.in_channels(), partitions),
            block: GateBlock::new(block.0, block.1, block.2),
        };
        let mut bits = case.seed;
        let masks = LayerMasks::from_fn(&l, &spec, 1, |_, _, _, _| {
            bits = bits.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((bits >> 11) as f64 / (1u64 << 53) as f64) < density
        }).unwrap();
        let g = |m: u64, n: u64| masks.gate_at(0, n, m / l.out_width(), m % l.out_width());
        let [_, cond] = split_dims(&l, &spec);
        let (m, n, kc) = (cond.m, cond.n, cond.k_end - cond.k_start);
        prop_assume!(kc > 0);
        let (r, c, df) = (case.rows, case.cols, case.dataflow);
        let os = common::outputs_stay(df);
        let fold_time = |t: u64| if os { t + r + c - 2 } else { 2 * r + c + t - 2 };
        // (Sr, Sc, T) and whether Sc indexes n (OS, WS) or m (IS).
        let (sr, sc, t) = match df {
            Dataflow::OutputStationary => (m, n, kc),
            Dataflow::WeightStationary => (kc, n, m),
            Dataflow::InputStationary => (kc, m, n),
        };
        let (fr, fc) = (sr.div_ceil(r), sc.div_ceil(c));
        let dense = fr * fc * fold_time(t);
        let mut tile = 0;
        let mut compact = 0;
        for j in 0..fc {
            let cols: Vec<u64> = (j * c..((j + 1) * c).min(sc)).collect();
            match df {
                Dataflow::OutputStationary => {
                    let active = (0..m).filter(|&mm| cols.iter().any(|&nn| g(mm, nn))).count() as u64;
                    compact += active.div_ceil(r) * fold_time(kc);
                    for i in 0..fr {
                        let any = (i * r..((i + 1) * r).min(m))
                            .any(|mm| cols.iter().any(|&nn| g(mm, nn)));
                        if any { tile += fold_time(kc); }
                    }
                }
                Dataflow::WeightStationary => {
                    let active = (0..m).filter(|&mm| cols.iter().any(|&nn| g(mm, nn))).count() as u64;
                    if active > 0 {
                        compact += fr * fold_time(active);
                        tile += fr * fold_time(m);
                    }
                }
                Dataflow::InputStationary => {
                    let active = (0..n).filter(|&nn| cols.iter().any(|&mm| g(mm, nn))).count() as u64;
                    if active > 0 {
                        compact += fr * fold_time(active);
                        tile += fr * fold_time(n);
                    }
                }
            }
        }
        for (policy, want) in [
            (SkipPolicy::Dense, dense),
            (SkipPolicy::ClockGate, dense),
            (SkipPolicy::TileSkip, tile),
            (SkipPolicy::Compact, compact),
        ] {
            let s = PassSchedule::for_policy(policy, &cond, r, c, df, g);
            prop_assert_eq!(s.cycles(df, r, c), Cycles(want), "{:?}", policy);
        }
    }
}

proptest! {
    /// The dense schedule is the fast model's mapping, fold for fold and in the same order.
    #[test]
    fn dense_schedule_is_the_fast_models_mapping(
        (m, k, n) in (1u64..=70, 1u64..=70, 1u64..=70),
        (rows, cols) in (1u64..=16, 1u64..=16),
        df in dataflow(),
    ) {
        let map = cdg_sim::Mapping::new(df, rows, cols, cdg_core::GemmDims { m, k, n });
        let dims = cdg_sim::schedule::PassDims::plain(m, n, 0, k);
        let planned: Vec<_> = map
            .folds_iter()
            .map(|f| cdg_sim::schedule::PlannedFold::from_mapping(&map, &f))
            .collect();
        let s = PassSchedule::dense(&dims, rows, cols, df);
        prop_assert_eq!(&s.folds, &planned);
        prop_assert_eq!(Some(s.cycles(df, rows, cols)), map.stall_free_cycles(false));
    }
}

#[test]
fn wrong_tensor_shapes_are_named() {
    let l = LayerShape::conv(
        "conv7",
        ConvParams {
            in_channels: 2,
            in_height: 4,
            in_width: 4,
            out_channels: 3,
            kernel: [3, 3],
            stride: 1,
            padding: 1,
            rule: OutputRule::Floor,
        },
    )
    .unwrap();
    let x = FeatureMap::from_fn(3, 4, 4, |_, _, _| 1);
    let w = Filters::from_fn([3, 2, 3, 3], |_, _, _, _| 1);
    let array = ArrayShape {
        rows: 2,
        cols: 2,
        dataflow: Dataflow::WeightStationary,
    };
    let s = PassSchedule::dense(&layer_dims(&l), 2, 2, Dataflow::WeightStationary);
    let e = run_layer(&l, &x, &w, &array, &s).unwrap_err().to_string();
    assert!(
        e.contains("`conv7`") && e.contains("input") && e.contains("[2, 4, 4]"),
        "{e}"
    );
    let e = FeatureMap::new(1, 2, 2, vec![0; 3])
        .unwrap_err()
        .to_string();
    assert!(e.contains("expected 4"), "{e}");
    // A schedule that misses a fold computes a wrong result: the executor does what it is told.
    let x = FeatureMap::from_fn(2, 4, 4, |c, h, w| (c + h * w) as i64);
    let mut short = s.clone();
    short.folds.pop();
    let (y_full, _) = run_layer(&l, &x, &w, &array, &s).unwrap();
    let (y_short, _) = run_layer(&l, &x, &w, &array, &short).unwrap();
    assert_ne!(y_full, y_short);
}
