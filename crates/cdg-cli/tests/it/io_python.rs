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
    "d": FakeTensor(ct.gate_grid(FakeTensor(dense), (3, 4, 2), reduce="mean")),
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
