//! Round-trip properties: write → read gives back exactly what was written, for traces (plain
//! and compressed npz), resolved arch configs, and SCALE-Sim topology rows.

use cdg_core::arch::{RawArray, RawBandwidth, RawEnergy, RawMemory, RawSparsity};
use cdg_core::{
    ArchConfig, ConvParams, GateBlock, GateSpec, Layer, LayerMasks, LayerShape, MaskSet, Network,
    OutputRule, RawArchConfig,
};
use cdg_io::arch::{parse_arch, to_toml};
use cdg_io::scalesim::parse_topology;
use cdg_io::trace::{Trace, read_trace, write_trace};
use proptest::prelude::*;

/// One random layer: (in_c, h, w, out_c, k, stride, pad, fc?, gate: Option<(base, bc, bh, bw)>).
type LayerSpec = (
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    bool,
    Option<(u64, u64, u64, u64)>,
);

fn layer_spec() -> impl Strategy<Value = LayerSpec> {
    (
        1u64..9,
        1u64..10,
        1u64..10,
        1u64..20,
        1u64..4,
        1u64..4,
        0u64..3,
        any::<bool>(),
        proptest::option::of((0u64..9, 1u64..20, 1u64..6, 1u64..6)),
    )
}

fn build_layer(i: usize, s: &LayerSpec) -> Option<Layer> {
    let &(in_c, h, w, out_c, k, stride, pad, fc, gate) = s;
    // Names with dots and slashes, as PyTorch module paths have.
    let name = format!("stage{}.block/conv{i}", i % 3);
    let shape = if fc && gate.is_none() {
        LayerShape::fc(name, in_c * h, out_c).ok()?
    } else {
        LayerShape::conv(
            name,
            ConvParams {
                in_channels: in_c,
                in_height: h,
                in_width: w,
                out_channels: out_c,
                kernel: [k.min(h + 2 * pad), k.min(w + 2 * pad)],
                stride,
                padding: pad,
                rule: OutputRule::Floor,
            },
        )
        .ok()?
    };
    let gate = gate.map(|(base, bc, bh, bw)| GateSpec {
        base_channels: base.min(shape.in_channels()),
        block: GateBlock::new(bc, bh, bw),
    });
    Some(Layer { shape, gate })
}

fn build_trace(specs: &[LayerSpec], samples: usize, seed: u64) -> Option<Trace> {
    let layers: Vec<Layer> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| build_layer(i, s))
        .collect::<Option<_>>()?;
    let network = Network::new(layers).ok()?;
    let mut x = seed | 1;
    let mut bit = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x & 1 == 1
    };
    let masks: Vec<(String, LayerMasks)> = network
        .gated()
        .map(|(_, l, g)| {
            let m = LayerMasks::from_fn(&l.shape, g, samples, |_, _, _, _| bit()).unwrap();
            (l.name().to_owned(), m)
        })
        .collect();
    let masks = if masks.is_empty() {
        None
    } else {
        Some(MaskSet::new(&network, samples, masks).unwrap())
    };
    Some(Trace {
        network,
        masks,
        samples,
        provenance: serde_json::json!({"seed": seed, "note": "proptest"}),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn trace_roundtrip(specs in proptest::collection::vec(layer_spec(), 1..5),
                       samples in 1usize..5, seed in any::<u64>(), compressed in any::<bool>()) {
        // Every generated shape is valid, so the property never passes vacuously.
        let trace = build_trace(&specs, samples, seed).expect("generated shapes are valid");
        let dir = tempfile::tempdir().unwrap();
        write_trace(dir.path(), &trace, compressed).unwrap();
        let back = read_trace(dir.path()).unwrap();
        prop_assert_eq!(&back, &trace);
        // Writing again over an existing trace replaces it (atomic rename) with equal content.
        write_trace(dir.path(), &back, !compressed).unwrap();
        prop_assert_eq!(read_trace(dir.path()).unwrap(), trace);
        // No temporary files are left behind; the record says the trace is complete.
        let names: Vec<String> = std::fs::read_dir(dir.path()).unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        prop_assert!(
            names.iter().all(|n| n == "manifest.json" || n == "masks.npz" || n == ".cdg-output.json"),
            "{:?}", names
        );
        cdg_io::output::check_complete(dir.path()).unwrap();
    }

    #[test]
    fn arch_roundtrip(rows in 1u64..1024, cols in 1u64..1024, df in 0usize..3, overlap in any::<bool>(),
                      word in 1u64..9, kib in proptest::array::uniform3(0.25f64..65536.0),
                      bw in proptest::option::of(0.001f64..4096.0), support in 0usize..4,
                      gather in 1u64..64, mask_in_dram in any::<bool>(),
                      mac in 0.0f64..10.0, sram in proptest::option::of(0.0f64..100.0),
                      mhz in 1.0f64..5000.0) {
        let raw = RawArchConfig {
            schema: Some(1),
            name: Some(format!("design \"{rows}x{cols}\"")),
            array: RawArray {
                rows: Some(rows), cols: Some(cols),
                dataflow: Some(["os", "ws", "is"][df].into()), overlap_folds: Some(overlap),
            },
            memory: RawMemory {
                word_bytes: Some(word),
                ifmap_sram_kib: Some(kib[0]), filter_sram_kib: Some(kib[1]), ofmap_sram_kib: Some(kib[2]),
                dram_bytes_per_cycle: Some(match bw {
                    Some(b) => RawBandwidth::BytesPerCycle(b),
                    None => RawBandwidth::Text("unlimited".into()),
                }),
            },
            sparsity: RawSparsity {
                support: Some(["dense", "clock-gate", "tile-skip", "compact"][support].into()),
                gather_rows_per_cycle: Some(gather), mask_in_dram: Some(mask_in_dram),
            },
            energy: RawEnergy { mac: Some(mac), sram_filter_read_per_byte: sram, ..Default::default() },
            clock: cdg_core::arch::RawClock { frequency_mhz: Some(mhz) },
            ..Default::default()
        };
        let arch = ArchConfig::try_from(raw).unwrap();
        let text = to_toml(&arch);
        let back = parse_arch(&text, "resolved.toml", &[]).unwrap();
        prop_assert_eq!(&back, &arch);
        prop_assert_eq!(to_toml(&back), text);
    }

    #[test]
    fn topology_rows_parse_to_their_dims(
        rows in proptest::collection::vec(
            (any::<bool>(), 1u64..64, 1u64..64, 1u64..6, 1u64..6, 1u64..40, 1u64..40, 1u64..4,
             proptest::option::of((1u32..8, 0u32..8))),
            1..8),
        trailing_comma in any::<bool>(), spaces in any::<bool>()) {
        let sep = if spaces { ", " } else { "," };
        let mut text = String::from("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n");
        let mut expect = Vec::new();
        for (i, &(gemm, a, b, kh, kw, c, n, s, nm)) in rows.iter().enumerate() {
            let nm = nm.map(|(x, extra)| (x, x + extra));
            let mut fields = vec![format!("L{i}")];
            if gemm {
                fields.extend([a, n, c].map(|v| v.to_string())); // M, N, K
                expect.push(((a, c, n), nm));
            } else {
                let (h, w) = (a.max(kh), b.max(kw));
                fields.extend([h, w, kh, kw, c, n, s].map(|v| v.to_string()));
                let m = (h - kh).div_ceil(s) + 1;
                let mw = (w - kw).div_ceil(s) + 1;
                expect.push(((m * mw, kh * kw * c, n), nm));
            }
            if let Some((x, y)) = nm {
                fields.push(format!("{x}:{y}"));
            }
            text.push_str(&fields.join(sep));
            if trailing_comma { text.push(','); }
            text.push('\n');
        }
        let t = parse_topology(&text, "prop.csv").unwrap();
        prop_assert_eq!(t.network.len(), expect.len());
        for (i, (layer, ((m, k, n), nm))) in t.network.layers().iter().zip(&expect).enumerate() {
            let g = layer.shape.gemm();
            prop_assert_eq!((g.m, g.k, g.n), (*m, *k, *n), "layer {}", i);
            prop_assert_eq!(layer.shape.rule(), OutputRule::Ceil);
            prop_assert_eq!(layer.shape.padding(), 0);
            prop_assert_eq!(t.nm_sparsity[i], *nm);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Grouped, dilated and asymmetrically padded layers round-trip through trace version 2; a
    /// network that needs none of them is written as version 1.
    #[test]
    fn trace_v2_roundtrip(groups in 1u64..5, per_in in 1u64..4, per_out in 1u64..4,
                          dilation in 1u64..4, pad in 0u64..3, end in proptest::option::of(0u64..3),
                          base in 0u64..4, samples in 1usize..3) {
        let shape = LayerShape::conv_with(
            "features.1.conv.0",
            ConvParams {
                in_channels: groups * per_in,
                in_height: 12,
                in_width: 9,
                out_channels: groups * per_out,
                kernel: [3, 3],
                stride: 1,
                padding: pad,
                rule: OutputRule::Floor,
            },
            cdg_core::ConvExtras { groups, dilation, padding_end: end.map(|e| [e, e + 1]) },
        )
        .unwrap();
        let gate = GateSpec { base_channels: base.min(per_in), block: GateBlock::new(2, 1, 3) };
        let network = Network::new(vec![Layer { shape: shape.clone(), gate: Some(gate) }]).unwrap();
        let m = LayerMasks::from_fn(&shape, &gate, samples, |s, c, h, w| (s as u64 + c + h + w).is_multiple_of(2))
            .unwrap();
        let masks = MaskSet::new(&network, samples, vec![(shape.name().to_owned(), m)]).unwrap();
        let trace = Trace { network, masks: Some(masks), samples, provenance: serde_json::json!({}) };
        let dir = tempfile::tempdir().unwrap();
        write_trace(dir.path(), &trace, false).unwrap();
        prop_assert_eq!(read_trace(dir.path()).unwrap(), trace);
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("manifest.json")).unwrap()).unwrap();
        let plain = groups == 1 && dilation == 1 && shape.is_padding_symmetric();
        prop_assert_eq!(manifest["version"].as_u64(), Some(if plain { 1 } else { 2 }));
        let layer = &manifest["layers"][0];
        prop_assert_eq!(layer.get("groups").is_some(), groups != 1);
        prop_assert_eq!(layer.get("dilation").is_some(), dilation != 1);
        prop_assert_eq!(layer.get("padding_end").is_some(), !shape.is_padding_symmetric());
    }
}
