// Per-sample simulation: the mean and `_max` figures against the per-sample runs, per-sample
// runs against single-layer runs, thread-count independence, finite-bandwidth sanity, and bad
// input (mask grids that disagree with the layer, a missing gated layer, masks for an ungated
// layer, densities outside [0, 1], zero-sized blocks) named by layer.

use cdg_core::{
    ArchConfig, ConvParams, EnergyPart, GateBlock, GateSpec, Layer, LayerMasks, LayerShape,
    MaskSet, Network, OutputRule, SkipPolicy,
};
use cdg_sim::models::resnet18_cifar;
use cdg_sim::synth::synth_masks;
use cdg_sim::{simulate_gated_layer, simulate_network, simulate_samples};

fn small_net(block: GateBlock) -> Network {
    resnet18_cifar(0.125, 1, Some((4, block)))
}

fn arch(policy: SkipPolicy, df: &str) -> ArchConfig {
    let mut a = ArchConfig::default_with("samples");
    a.array.rows = 8;
    a.array.cols = 8;
    a.array.dataflow = df.parse().unwrap();
    a.sparsity.support = policy;
    a
}

#[test]
fn mean_and_max_summarise_the_samples() {
    let net = small_net(GateBlock::new(4, 1, 1));
    let masks = synth_masks(&net, 0.4, 7, 3).unwrap();
    for df in ["os", "ws", "is"] {
        for policy in SkipPolicy::ALL {
            let a = arch(policy, df);
            let run = simulate_samples(&a, &net, &masks).unwrap();
            assert_eq!(run.per_sample.len(), 7);
            let n = run.per_sample.len() as u64;
            let cycles: Vec<u64> = run
                .per_sample
                .iter()
                .map(|s| s.totals.cycles.get())
                .collect();
            let sum: u64 = cycles.iter().sum();
            assert_eq!(run.mean.totals.cycles.get(), (sum + n / 2) / n);
            assert_eq!(run.mean.max.cycles.get(), *cycles.iter().max().unwrap());
            assert_eq!(run.mean.samples, 7);
            assert_eq!(run.mean.sample, None);
            let e: f64 = run
                .per_sample
                .iter()
                .map(|s| s.totals.energy.total().get())
                .sum();
            let mean_e = run.mean.totals.energy.total().get();
            assert!((mean_e - e / 7.0).abs() <= 1e-9 * mean_e);
            // Per-layer maxima and the network row's columns.
            for (i, l) in run.mean.layers.iter().enumerate() {
                let max = run
                    .per_sample
                    .iter()
                    .map(|s| s.layers[i].totals.cycles)
                    .max()
                    .unwrap();
                assert_eq!(l.max.cycles, max, "{}", l.layer);
                assert!(l.max.cycles >= l.totals.cycles);
            }
            let row = run.mean.to_row();
            assert_eq!(row.samples, 7);
            assert!(row.counters.cycles_max >= row.counters.cycles);
            assert!(row.counters.energy_pj_max >= row.counters.energy_pj * (1.0 - 1e-12));
            // simulate_network gives the mean.
            assert_eq!(simulate_network(&a, &net, Some(&masks)).unwrap(), run.mean);
            // Each sample equals the layer simulated on its own.
            for (s, stats) in run.per_sample.iter().enumerate() {
                assert_eq!(stats.sample, Some(s));
                for (idx, layer, _) in net.gated() {
                    let lm = masks.layer(layer.name()).unwrap();
                    let one = simulate_gated_layer(&a, layer, lm, s).unwrap();
                    assert_eq!(one, stats.layers[idx]);
                }
            }
        }
    }
}

#[test]
fn thread_count_does_not_change_results() {
    let net = small_net(GateBlock::new(1, 1, 1));
    let masks = synth_masks(&net, 0.5, 5, 9).unwrap();
    let a = arch(SkipPolicy::Compact, "ws");
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| simulate_samples(&a, &net, &masks).unwrap());
    let many = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap()
        .install(|| simulate_samples(&a, &net, &masks).unwrap());
    assert_eq!(one, many);
}

#[test]
fn finite_bandwidth_and_mask_traffic() {
    let net = small_net(GateBlock::new(8, 2, 2));
    let masks = synth_masks(&net, 0.3, 3, 1).unwrap();
    for policy in SkipPolicy::ALL {
        let mut a = arch(policy, "os");
        a.memory.dram_bandwidth = cdg_core::DramBandwidth::BytesPerCycle(2.0);
        a.memory.ifmap_sram_kib = 1.0;
        let plain = simulate_network(&a, &net, Some(&masks)).unwrap();
        let runs = simulate_samples(&a, &net, &masks).unwrap().per_sample;
        for l in runs.iter().flat_map(|r| &r.layers) {
            // Every output leaves once; dense schedules also read every input once (skipping
            // schedules may never need some conditional inputs).
            assert!(
                l.totals.dram.ofmap_write >= l.totals.compulsory.ofmap,
                "{}",
                l.layer
            );
            if !crate::common::traits(policy).skips {
                assert!(
                    l.totals.dram.ifmap_read >= l.totals.compulsory.ifmap,
                    "{} {policy}",
                    l.layer
                );
                assert!(
                    l.totals.dram.filter_read >= l.totals.compulsory.filter,
                    "{} {policy}",
                    l.layer
                );
            }
            assert_eq!(
                l.totals.cycles,
                l.totals.compute_cycles + l.totals.stall_cycles
            );
            assert_eq!(l.totals.dram.mask_read.get(), 0);
        }
        a.sparsity.mask_in_dram = true;
        let with = simulate_network(&a, &net, Some(&masks)).unwrap();
        for ((idx, layer, _), (_, lm)) in net.gated().zip(masks.iter()) {
            let bytes = lm.blocks_per_sample().div_ceil(8);
            let l = &with.layers[idx];
            assert_eq!(l.totals.dram.mask_read.get(), bytes, "{}", layer.name());
            assert_eq!(l.totals.gate_ops, lm.blocks_per_sample());
            let p = &plain.layers[idx];
            let extra =
                l.totals.energy[EnergyPart::Dram].get() - p.totals.energy[EnergyPart::Dram].get();
            assert!((extra - bytes as f64 * a.energy.dram_per_byte).abs() < 1e-6);
        }
    }
}

fn conv(name: &str, out: u64) -> LayerShape {
    LayerShape::conv(
        name,
        ConvParams {
            in_channels: 8,
            in_height: 6,
            in_width: 6,
            out_channels: out,
            kernel: [3, 3],
            stride: 1,
            padding: 1,
            rule: OutputRule::Floor,
        },
    )
    .unwrap()
}

#[test]
fn bad_input_names_the_layer() {
    let spec = GateSpec {
        base_channels: 2,
        block: GateBlock::new(4, 1, 1),
    };
    let layer = Layer {
        shape: conv("blockA.conv2", 16),
        gate: Some(spec),
    };
    let a = arch(SkipPolicy::Compact, "os");
    // Masks made for another output shape.
    let other = LayerMasks::zeros(&conv("x", 24), &spec, 1).unwrap();
    let e = simulate_gated_layer(&a, &layer, &other, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("blockA.conv2") && e.contains("grid"), "{e}");
    // Another block.
    let spec2 = GateSpec {
        base_channels: 2,
        block: GateBlock::new(4, 2, 1),
    };
    let other = LayerMasks::zeros(&layer.shape, &spec2, 1).unwrap();
    let e = simulate_gated_layer(&a, &layer, &other, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("blockA.conv2"), "{e}");
    // A sample the masks do not hold.
    let ok = LayerMasks::zeros(&layer.shape, &spec, 2).unwrap();
    let e = simulate_gated_layer(&a, &layer, &ok, 2)
        .unwrap_err()
        .to_string();
    assert!(e.contains("blockA.conv2") && e.contains("sample 2"), "{e}");
    // Zero-sized blocks.
    let zero = Layer {
        shape: conv("blockB.conv1", 16),
        gate: Some(GateSpec {
            base_channels: 2,
            block: GateBlock::new(0, 1, 1),
        }),
    };
    let e = simulate_gated_layer(&a, &zero, &ok, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("blockB.conv1") && e.contains("zero"), "{e}");
    // A trace missing a gated layer, or with masks for an ungated one.
    let net = Network::new(vec![
        layer.clone(),
        Layer {
            shape: conv("plain", 16),
            gate: None,
        },
    ])
    .unwrap();
    let empty_net = Network::new(vec![Layer {
        shape: conv("blockA.conv2", 16),
        gate: None,
    }])
    .unwrap();
    let no_masks = MaskSet::new(&empty_net, 1, vec![]).unwrap();
    let e = simulate_network(&a, &net, Some(&no_masks))
        .unwrap_err()
        .to_string();
    assert!(e.contains("blockA.conv2") && e.contains("no masks"), "{e}");
    let full = MaskSet::new(&net, 1, vec![("blockA.conv2".into(), ok.clone())]);
    assert!(full.is_err(), "two samples given for one");
    let full = MaskSet::new(
        &net,
        1,
        vec![(
            "blockA.conv2".into(),
            LayerMasks::zeros(&layer.shape, &spec, 1).unwrap(),
        )],
    )
    .unwrap();
    let ungated = Network::new(vec![Layer {
        shape: conv("blockA.conv2", 16),
        gate: None,
    }])
    .unwrap();
    let e = simulate_network(&a, &ungated, Some(&full))
        .unwrap_err()
        .to_string();
    assert!(e.contains("blockA.conv2") && e.contains("not gated"), "{e}");
    // Densities outside [0, 1] for synthetic masks.
    for d in [-0.5, 1.5, f64::NAN] {
        let e = synth_masks(&net, d, 1, 0).unwrap_err().to_string();
        assert!(e.contains("density"), "{e}");
    }
}

/// Partial sums of the base pass that do not fit on chip go to DRAM and come back, counted by
/// hand for a 4×4×4 GEMM (K_base 1, K_cond 3) on a 2×2 weight-stationary array whose ofmap
/// buffer holds one column group (8 outputs) but not the layer (16).
#[test]
fn base_partial_sums_round_trip_through_dram() {
    let shape = LayerShape::conv(
        "tiny",
        ConvParams {
            in_channels: 4,
            in_height: 2,
            in_width: 2,
            out_channels: 4,
            kernel: [1, 1],
            stride: 1,
            padding: 0,
            rule: OutputRule::Floor,
        },
    )
    .unwrap();
    let spec = GateSpec {
        base_channels: 1,
        block: GateBlock::new(1, 1, 1),
    };
    let layer = Layer {
        shape: shape.clone(),
        gate: Some(spec),
    };
    let mut a = arch(SkipPolicy::Dense, "ws");
    a.array.rows = 2;
    a.array.cols = 2;
    a.memory.ofmap_sram_kib = 16.0 / 1024.0;
    a.memory.dram_bandwidth = cdg_core::DramBandwidth::Unlimited;
    let on = LayerMasks::from_fn(&shape, &spec, 1, |_, _, _, _| true).unwrap();
    let s = simulate_gated_layer(&a, &layer, &on, 0).unwrap();
    // Base: 2 folds (one per column group), each group's 8 partial sums leave once.
    // Conditional: 2 row folds per group; the first reads the 8 back, the last writes them.
    assert_eq!(s.totals.folds, 2 + 4);
    assert_eq!(s.totals.dram.psum_write.get(), 16);
    assert_eq!(s.totals.dram.psum_read.get(), 16);
    assert_eq!(s.totals.dram.ofmap_write.get(), 32);
    assert_eq!(s.totals.sram.ofmap_writes.get(), 6 * 8);
    assert_eq!(s.totals.sram.psum_reads.get(), 4 * 8);
    // All gates off with tile-skip: the base groups are final, nothing comes back.
    a.sparsity.support = SkipPolicy::TileSkip;
    let off = LayerMasks::zeros(&shape, &spec, 1).unwrap();
    let s = simulate_gated_layer(&a, &layer, &off, 0).unwrap();
    assert_eq!(s.totals.folds, 2);
    assert_eq!(s.totals.dram.psum_write.get(), 0);
    assert_eq!(s.totals.dram.psum_read.get(), 0);
    assert_eq!(s.totals.dram.ofmap_write.get(), 16);
    // With room for the whole layer, P never leaves the chip.
    a.sparsity.support = SkipPolicy::Dense;
    a.memory.ofmap_sram_kib = 1.0;
    let s = simulate_gated_layer(&a, &layer, &on, 0).unwrap();
    assert_eq!(s.totals.dram.psum().get(), 0);
    assert_eq!(s.totals.dram.ofmap_write.get(), 16);
}

/// A gate spec with no base channels (a trace may say so): no base pass, the conditional pass
/// alone, every output still written once.
#[test]
fn no_base_channels() {
    let shape = conv("nobase", 12);
    let spec = GateSpec {
        base_channels: 0,
        block: GateBlock::new(3, 2, 1),
    };
    let layer = Layer {
        shape: shape.clone(),
        gate: Some(spec),
    };
    let mut x = 7u64;
    let masks = LayerMasks::from_fn(&shape, &spec, 1, |_, _, _, _| {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        x >> 62 == 0
    })
    .unwrap();
    let g = shape.gemm();
    let gate = cdg_sim::schedule::gate_fn(&masks, 0);
    for df in ["os", "ws", "is"] {
        for policy in SkipPolicy::ALL {
            let mut a = arch(policy, df);
            a.array.rows = 4;
            a.array.cols = 3;
            a.memory.dram_bandwidth = cdg_core::DramBandwidth::Unlimited;
            a.sparsity.gather_rows_per_cycle = None;
            let s = simulate_gated_layer(&a, &layer, &masks, 0).unwrap();
            assert_eq!(s.totals.macs_needed.get(), g.k * masks.active_elements(0));
            assert!(
                s.totals.dram.ofmap_write.get() >= g.m * g.n,
                "{df} {policy}"
            );
            let sched = cdg_sim::schedule::GatedSchedule::for_policy(
                policy,
                &shape,
                &spec,
                4,
                3,
                a.array.dataflow,
                &gate,
            );
            assert!(sched.base.is_empty());
            assert_eq!(
                s.totals.compute_cycles,
                sched.cycles(a.array.dataflow, 4, 3),
                "{df} {policy}"
            );
            assert_eq!(s.totals.cond_cycles, s.totals.compute_cycles);
        }
    }
}
