//! The NumPy helper `python/cdg_trace.py` writes traces the Rust reader accepts bit for bit.
//! NumPy is required: when `python3` lacks it, the tests install it into a virtual environment
//! under the target directory first ([`python_with`]), so they never skip.

use crate::support::{python_with, root};
use cdg_io::layout::trace::MANIFEST_FILE;
use cdg_io::trace::read_trace;
use std::process::Command;

fn python(script: &str, args: &[&str]) -> std::process::Output {
    Command::new(python_with(&["numpy"]))
        .arg("-c")
        .arg(script)
        .args(args)
        .env("PYTHONPATH", root().join("python"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 must be installed to test python/cdg_trace.py")
}

/// Writes a trace with three gated layers: bool masks, uint8 0/1 masks, and masks built by
/// `gate_grid` from per-element gates with partial edge blocks. Gate formulas are mirrored in
/// Rust below.
const WRITER: &str = r#"
import sys, numpy as np, cdg_trace as ct
out, compressed = sys.argv[1], sys.argv[2] == "1"
n = 3
layers = [
    ct.conv_layer("stem", 1, 12, 10, 8),
    ct.conv_layer("a.conv", 8, 12, 10, 12, gate=(2, (4, 1, 1))),
    ct.conv_layer("b/conv", 12, 12, 10, 10, stride=2, gate=(3, (4, 2, 2))),
    ct.conv_layer("c", 10, 6, 5, 7, kernel=(3, 1), padding=0, gate=(10, (3, 4, 2))),
    ct.conv_layer("d", 7, 4, 5, 7, gate=(2, (3, 4, 2))),
    ct.fc_layer("fc", 7, 5),
]
class FakeTensor:
    """Stands in for a torch.Tensor: the helper must call .detach().cpu().numpy()."""
    def __init__(self, a): self.a = a
    def detach(self): return self
    def cpu(self): return self
    def numpy(self): return self.a
def grid(name, f):
    gc, gh, gw = ct.grid_shape(next(l for l in layers if l["name"] == name))
    s, c, h, w = np.meshgrid(np.arange(n), np.arange(gc), np.arange(gh), np.arange(gw), indexing="ij")
    return f(s, c, h, w)
elem = np.fromfunction(lambda s, c, h, w: (s * 5 + c * 3 + h * 7 + w) % 11 == 0, (n, 7, 4, 5))
dense = np.fromfunction(lambda s, c, h, w: ((s + 2 * c + h * w) % 3 != 0).astype(np.uint8), (n, 7, 4, 5))
masks = {
    "a.conv": grid("a.conv", lambda s, c, h, w: (s + c * 2 + h * 3 + w * 5) % 4 == 1),
    "b/conv": grid("b/conv", lambda s, c, h, w: ((s * c + h + 2 * w) % 3 == 0)).astype(np.uint8),
    "c": ct.gate_grid(elem, (3, 4, 2), reduce="any"),
    "d": FakeTensor(ct.gate_grid(FakeTensor(dense), (3, 4, 2), reduce="mean>0.5")),
}
ct.write_trace(out, layers, masks, n, provenance={"by": "io_python"}, compressed=compressed)
"#;

#[test]
fn python_helper_writes_what_rust_reads() {
    for compressed in ["0", "1"] {
        let dir = tempfile::tempdir().unwrap();
        let out = python(WRITER, &[dir.path().to_str().unwrap(), compressed]);
        assert!(
            out.status.success(),
            "writer failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let t = read_trace(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.samples, 3);
        assert_eq!(t.network.len(), 6);
        assert_eq!(t.provenance["by"], "io_python");
        let masks = t.masks.as_ref().unwrap();
        let check = |name: &str, f: &dyn Fn(u64, u64, u64, u64) -> bool| {
            let m = masks.layer(name).unwrap();
            let [gc, gh, gw] = m.grid();
            for s in 0..3u64 {
                for c in 0..gc {
                    for h in 0..gh {
                        for w in 0..gw {
                            assert_eq!(
                                m.get(s as usize, c, h, w),
                                f(s, c, h, w),
                                "{name} gate [{s}, {c}, {h}, {w}] (compressed {compressed})"
                            );
                        }
                    }
                }
            }
        };
        check("a.conv", &|s, c, h, w| (s + c * 2 + h * 3 + w * 5) % 4 == 1);
        check("b/conv", &|s, c, h, w| (s * c + h + 2 * w) % 3 == 0);
        // "c": output 7×4×5, block 3×4×2 → grid 3×1×3 with partial edge blocks; a block is on
        // when any element in it is on.
        let layer_c = &t.network.layers()[t.network.position("c").unwrap()].shape;
        assert_eq!(
            [
                layer_c.out_channels(),
                layer_c.out_height(),
                layer_c.out_width()
            ],
            [7, 4, 5]
        );
        check("c", &|s, c, h, w| {
            let mut any = false;
            for ec in c * 3..(c * 3 + 3).min(7) {
                for eh in h * 4..(h * 4 + 4).min(4) {
                    for ew in w * 2..(w * 2 + 2).min(5) {
                        any |= (s * 5 + ec * 3 + eh * 7 + ew) % 11 == 0;
                    }
                }
            }
            any
        });
        // "d": denser element gates, same blocks; on when more than half of the block's own
        // (possibly partial) elements are on.
        check("d", &|s, c, h, w| {
            let (mut on, mut all) = (0, 0);
            for ec in c * 3..(c * 3 + 3).min(7) {
                for eh in h * 4..(h * 4 + 4).min(4) {
                    for ew in w * 2..(w * 2 + 2).min(5) {
                        all += 1;
                        on += u32::from((s + 2 * ec + eh * ew) % 3 != 0);
                    }
                }
            }
            2 * on > all
        });
        let d = masks.layer("d").unwrap().to_vec();
        assert!(
            d.iter().any(|&g| g) && d.iter().any(|&g| !g),
            "the mean rule turns some blocks on and some off, so the check is not vacuous"
        );
    }
}

#[test]
fn python_helper_refuses_bad_masks_naming_the_layer() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
import sys, numpy as np, cdg_trace as ct
layers = [ct.conv_layer("g", 4, 8, 8, 8, gate=(1, (4, 1, 1)))]
try:
    ct.write_trace(sys.argv[1], layers, {"g": np.zeros((2, 2, 8, 7), bool)}, 2)
except ValueError as e:
    print(e)
try:
    ct.write_trace(sys.argv[1], layers, {"g": np.full((2, 2, 8, 8), 0.5)}, 2)
except ValueError as e:
    print(e)
"#;
    let out = python(script, &[dir.path().to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("layer 'g': mask dimension 3 (column blocks) is 7; expected 8"),
        "{text}"
    );
    assert!(
        text.contains("layer 'g': mask holds values other than 0 and 1"),
        "{text}"
    );
    assert!(
        !dir.path().join(MANIFEST_FILE).exists(),
        "nothing written for bad masks"
    );
}

/// Gates keyed by layer name on an imported network: the shapes come from the network
/// directory (here `cdg import onnx` of the conv-attrs fixture: grouped, depthwise, dilated and
/// asymmetrically padded layers), the reduction is explicit.
const FOR_NETWORK: &str = r#"
import sys, numpy as np, cdg_trace as ct
net, out = sys.argv[1], sys.argv[2]
n = 2
layers = {l["name"]: l for l in ct.read_network(net)}
def elem(name, f):
    l = layers[name]
    return np.fromfunction(f, (n, l["out_channels"], l["out_height"], l["out_width"]), dtype=int)
gates = {
    "grouped": elem("grouped", lambda s, c, h, w: (s + c + 2 * h + 3 * w) % 4 == 0),
    "depthwise": elem("depthwise", lambda s, c, h, w: (s + c * h + w) % 3 != 0),
    "same_upper": elem("same_upper", lambda s, c, h, w: (c + h + w + s) % 2 == 0),
}
ct.write_trace_for_network(net, out, gates, {"grouped": (8, 2, 2), "depthwise": (4, 1, 1),
                           "same_upper": (32, 1, 1)},
                           reduce="mean>=0.25", base_partitions={"grouped": 2, "depthwise": 0,
                           "same_upper": 4}, provenance={"by": "io_python"})
for bad in ("mean", "mean>=1.5", "most", None):
    try:
        ct.gate_grid(gates["grouped"], (8, 2, 2), reduce=bad)
    except ValueError as e:
        print("reduce:", e)
try:
    ct.gate_grid(gates["grouped"], (8, 2, 2))
except TypeError:
    print("reduce is required")
for bad_gates, what in (({"nope": gates["grouped"]}, "unknown"),
                        ({"grouped": gates["depthwise"]}, "shape"),
                        ({"depthwise": gates["depthwise"]}, "base")):
    try:
        ct.write_trace_for_network(net, out + "-bad", bad_gates, (4, 1, 1), reduce="any")
    except ValueError as e:
        print(what + ":", e)
"#;

#[test]
fn python_helper_gates_an_imported_network_by_layer_name() {
    let dir = tempfile::tempdir().unwrap();
    let net = dir.path().join("net");
    let imported = cdg_io::onnx::import_onnx(
        &root().join("crates/cdg-cli/tests/onnx/conv-attrs.onnx"),
        &cdg_io::onnx::ImportOptions::default(),
    )
    .unwrap();
    let trace = cdg_io::Trace {
        network: imported.network,
        masks: None,
        samples: 1,
        provenance: serde_json::json!({}),
    };
    cdg_io::write_trace(&net, &trace, false).unwrap();
    let out = dir.path().join("trace");
    let run = python(FOR_NETWORK, &[net.to_str().unwrap(), out.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let t = read_trace(&out).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.samples, 2);
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(
        manifest.contains("\"version\": 2"),
        "grouped layers need version 2"
    );
    let spec = |name: &str| {
        let l = &t.network.layers()[t.network.position(name).unwrap()];
        (l.shape.clone(), l.gate.unwrap())
    };
    // Base channels count within a group: 16 input channels in 4 groups, P = 2 → 2.
    assert_eq!(spec("grouped").1.base_channels, 2);
    assert_eq!(spec("depthwise").1.base_channels, 0);
    assert_eq!(spec("same_upper").1.base_channels, 8);
    assert_eq!(t.network.gated().count(), 3);
    let masks = t.masks.as_ref().unwrap();
    type Gate = fn(u64, u64, u64, u64) -> bool;
    let cases: [(&str, Gate); 3] = [
        ("grouped", |s, c, h, w| (s + c + 2 * h + 3 * w) % 4 == 0),
        ("depthwise", |s, c, h, w| (s + c * h + w) % 3 != 0),
        ("same_upper", |s, c, h, w| (c + h + w + s) % 2 == 0),
    ];
    let mut some_on_some_off = (false, false);
    for (name, f) in cases {
        let (shape, gate) = spec(name);
        let m = masks.layer(name).unwrap();
        let [gc, gh, gw] = m.grid();
        let b = gate.block;
        let out = [shape.out_channels(), shape.out_height(), shape.out_width()];
        for s in 0..2u64 {
            for c in 0..gc {
                for h in 0..gh {
                    for w in 0..gw {
                        let (mut on, mut all) = (0u64, 0u64);
                        for ec in c * b.c..((c + 1) * b.c).min(out[0]) {
                            for eh in h * b.h..((h + 1) * b.h).min(out[1]) {
                                for ew in w * b.w..((w + 1) * b.w).min(out[2]) {
                                    all += 1;
                                    on += u64::from(f(s, ec, eh, ew));
                                }
                            }
                        }
                        // mean >= 0.25 on counts: 4·on >= all.
                        let want = 4 * on >= all;
                        some_on_some_off.0 |= want;
                        some_on_some_off.1 |= !want;
                        assert_eq!(m.get(s as usize, c, h, w), want, "{name} [{s},{c},{h},{w}]");
                    }
                }
            }
        }
    }
    assert_eq!(some_on_some_off, (true, true), "the check is not vacuous");
    for expect in [
        "reduce: reduce must be 'any', 'all', 'mean>=T' or 'mean>T'",
        "reduce is required",
        "unknown: gates has an entry for 'nope', which is not a layer",
        "shape: layer 'grouped': gates have shape (2, 32, 8, 8); expected [N, 32, 16, 16]",
        "base: layer 'depthwise': base partitions 4 leave no conditional channels",
    ] {
        assert!(text.contains(expect), "missing `{expect}` in:\n{text}");
    }
    assert_eq!(text.matches("reduce: ").count(), 4, "{text}");
}
