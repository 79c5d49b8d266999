//! Trace reading and writing on a ResNet-18-shaped trace (CIFAR stages at width 0.25: 16
//! gated 3×3 convs, 256 samples) with element-level gates (31.5 M gates, the worst case) and
//! with (16, 1, 1) channel blocks. Run: `cargo bench -p cdg-io --bench trace_io`.

use cdg_core::{ConvParams, GateBlock, GateSpec, Layer, LayerMasks, LayerShape, MaskSet, Network};
use cdg_io::trace::{Trace, read_trace, write_trace};
use criterion::{Criterion, criterion_group, criterion_main};

fn resnet_trace(block: GateBlock, samples: usize) -> Trace {
    let conv = |name: String, c_in: u64, hw: u64, c: u64, stride: u64| {
        LayerShape::conv(
            name,
            ConvParams {
                in_channels: c_in,
                in_height: hw,
                in_width: hw,
                out_channels: c,
                kernel: [3, 3],
                stride,
                padding: 1,
                rule: cdg_core::OutputRule::Floor,
            },
        )
        .unwrap()
    };
    let mut layers = vec![Layer {
        shape: conv("conv1".into(), 1, 32, 16, 1),
        gate: None,
    }];
    let (mut c_in, mut hw) = (16, 32);
    for (stage, c) in [16u64, 32, 64, 128].into_iter().enumerate() {
        for b in 0..2 {
            for j in 0..2 {
                let stride = if stage > 0 && b == 0 && j == 0 { 2 } else { 1 };
                let shape = conv(
                    format!("layer{}.{b}.conv{}", stage + 1, j + 1),
                    c_in,
                    hw,
                    c,
                    stride,
                );
                let gate = GateSpec {
                    base_channels: c_in.div_ceil(4),
                    block,
                };
                (c_in, hw) = (c, shape.out_height());
                layers.push(Layer {
                    shape,
                    gate: Some(gate),
                });
            }
        }
    }
    layers.push(Layer {
        shape: LayerShape::fc("fc", 128, 10).unwrap(),
        gate: None,
    });
    let network = Network::new(layers).unwrap();
    let mut x = 0x9e3779b97f4a7c15u64;
    let masks = network
        .gated()
        .map(|(_, l, g)| {
            let m = LayerMasks::from_fn(&l.shape, g, samples, |_, _, _, _| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x % 5 < 2
            })
            .unwrap();
            (l.name().to_owned(), m)
        })
        .collect();
    let masks = MaskSet::new(&network, samples, masks).unwrap();
    Trace {
        network,
        masks: Some(masks),
        samples,
        provenance: serde_json::json!({}),
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("trace_io");
    g.sample_size(10);
    for (label, block) in [
        ("element", GateBlock::ELEMENT),
        ("block16", GateBlock::new(16, 1, 1)),
    ] {
        let trace = resnet_trace(block, 256);
        let dir = tempfile::tempdir().unwrap();
        for compressed in [false, true] {
            let kind = if compressed { "compressed" } else { "plain" };
            g.bench_function(format!("write/{label}/{kind}"), |b| {
                b.iter(|| write_trace(dir.path(), &trace, compressed).unwrap())
            });
            write_trace(dir.path(), &trace, compressed).unwrap();
            g.bench_function(format!("read/{label}/{kind}"), |b| {
                b.iter(|| read_trace(dir.path()).unwrap())
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
