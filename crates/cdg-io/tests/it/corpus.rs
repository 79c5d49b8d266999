//! The bad-input corpus (tests/data) and the shipped arch-configs: every bad file must fail
//! with its own specific message, every good one must load.

use cdg_core::{Dataflow, DramBandwidth};
use cdg_io::arch::load_arch;
use cdg_io::scalesim::{InterfaceBandwidth, read_scalesim_cfg, read_topology};
use cdg_io::trace::{MASKS_FILE, read_trace};
use ndarray::{Array, Array3, Array4, ShapeBuilder};
use ndarray_npy::NpzWriter;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Asserts that `result` failed with a message containing every string in `expect`.
fn check<T: std::fmt::Debug>(what: &str, result: cdg_io::Result<T>, expect: &[&str]) {
    let msg = match result {
        Ok(v) => panic!("{what}: expected an error containing {expect:?}, got Ok({v:?})"),
        Err(e) => e.to_string(),
    };
    for x in expect {
        assert!(
            msg.contains(x),
            "{what}: error `{msg}` does not contain `{x}`"
        );
    }
}

/// A copy of tests/data/trace-small in a fresh directory.
fn small_trace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in ["manifest.json", "masks.npz"] {
        fs::copy(data().join("trace-small").join(f), dir.path().join(f)).unwrap();
    }
    dir
}

/// The masks of trace-small: gate (s, c, h, w) on iff (2c + 3h + w) % 3 == 0 or (s = 1, w = 3).
fn small_gate(s: usize, c: usize, h: usize, w: usize) -> bool {
    (2 * c + 3 * h + w).is_multiple_of(3) || (s == 1 && w == 3)
}

fn write_npz(dir: &Path, arrays: impl FnOnce(&mut NpzWriter<fs::File>)) {
    let mut npz = NpzWriter::new(fs::File::create(dir.join(MASKS_FILE)).unwrap());
    arrays(&mut npz);
    npz.finish().unwrap();
}

#[test]
fn good_small_trace_reads_exactly() {
    let t = read_trace(&data().join("trace-small")).unwrap();
    assert_eq!(t.samples, 2);
    assert_eq!(t.network.len(), 3);
    let m = t.masks.as_ref().unwrap().layer("block.conv").unwrap();
    assert_eq!(m.grid(), [2, 2, 4]);
    for s in 0..2 {
        for c in 0..2 {
            for h in 0..2 {
                for w in 0..4 {
                    assert_eq!(
                        m.get(s, c as u64, h as u64, w as u64),
                        small_gate(s, c, h, w)
                    );
                }
            }
        }
    }
    assert_eq!(m.density(0), 0.375);
    assert_eq!(m.density(1), 0.5);
    assert!(t.provenance["tool"].as_str().unwrap().contains("fixture"));
}

#[test]
fn bad_manifests_each_fail_with_their_own_error() {
    let cases: &[(&str, &[&str])] = &[
        (
            "wrong-format",
            &["manifest.json: `format` is \"cdg-trace-v0\"; expected \"cdg-trace\""],
        ),
        (
            "unsupported-version",
            &["`version` 3 is not supported; this cdg reads trace versions 1 and 2"],
        ),
        ("zero-samples", &["`samples` must be at least 1, found 0"]),
        (
            "absurd-samples",
            &["`samples` is absurdly large (1000000000000000)"],
        ),
        (
            "zero-channels",
            &["layer 1 (`block.conv`): `in_channels` must be at least 1, found 0"],
        ),
        (
            "absurd-height",
            &["layer 1 (`block.conv`): `in_height` is absurdly large (1000000000)"],
        ),
        (
            "stride-zero",
            &["layer 1 (`block.conv`): `stride` must be at least 1, found 0"],
        ),
        (
            "kernel-too-large",
            &[
                "layer 1 (`block.conv`)",
                "kernel 11 is larger than the padded input 10",
            ],
        ),
        (
            "base-above-input",
            &[
                "layer 1 (`block.conv`): `gate` base_channels 9 exceeds the layer's 8 input channels",
            ],
        ),
        (
            "zero-gate-block",
            &["layer 1 (`block.conv`): `gate` block [8, 0, 1] has a zero-sized dimension"],
        ),
        (
            "out-height-mismatch",
            &["layer 1 (`block.conv`): `out_height` is 5 but the shape gives 4"],
        ),
        (
            "unknown-layer-key",
            &["layer 1 (`block.conv`): unknown field `strides`"],
        ),
        ("unknown-top-key", &["unknown key `sample_count`"]),
        ("missing-samples", &["`samples` is missing"]),
        (
            "duplicate-names",
            &["layer name `conv1` appears more than once"],
        ),
        (
            "fc-with-kernel",
            &["layer 2 (`fc`): kind \"fc\" needs in_height 1, in_width 1, kernel [1, 1]"],
        ),
        (
            "unknown-kind",
            &["layer 0 (`conv1`): unknown variant `deconv`"],
        ),
        (
            "groups-in-version-1",
            &["layer 1 (`block.conv`): `groups` needs trace version 2"],
        ),
        (
            "groups-not-dividing",
            &["layer 1 (`block.conv`): `groups` 3 does not divide in_channels 8"],
        ),
        (
            "dilated-kernel-too-large",
            &[
                "layer 1 (`block.conv`)",
                "dilated kernel 11 (5 · (3 − 1) + 1) is larger than the padded input 10",
            ],
        ),
        (
            "fc-with-groups",
            &["layer 2 (`fc`): kind \"fc\" takes no `groups`"],
        ),
        (
            "base-above-group",
            &[
                "layer 1 (`block.conv`): `gate` base_channels 3 exceeds the 2 input channels of \
                 one group (groups 4",
            ],
        ),
        (
            "not-json",
            &["manifest.json: not valid JSON: key must be a string at line 2"],
        ),
        (
            "empty",
            &["manifest.json: is empty; expected a cdg-trace manifest"],
        ),
        (
            "non-utf8",
            &["manifest.json: is not valid UTF-8 text (byte 21)"],
        ),
        (
            "top-array",
            &["`(top level)` must be a JSON object, found an array"],
        ),
    ];
    let files = fs::read_dir(data().join("bad-manifests")).unwrap().count();
    assert_eq!(
        files,
        cases.len(),
        "every corpus file has a case and vice versa"
    );
    for (name, expect) in cases {
        let dir = small_trace();
        fs::copy(
            data().join("bad-manifests").join(format!("{name}.json")),
            dir.path().join("manifest.json"),
        )
        .unwrap();
        check(name, read_trace(dir.path()), expect);
    }
}

#[test]
fn missing_files() {
    let dir = small_trace();
    fs::remove_file(dir.path().join("manifest.json")).unwrap();
    check(
        "missing manifest",
        read_trace(dir.path()),
        &["manifest.json: cannot read: No such file"],
    );
    let dir = small_trace();
    fs::remove_file(dir.path().join(MASKS_FILE)).unwrap();
    check(
        "missing masks",
        read_trace(dir.path()),
        &["masks.npz: layer `block.conv`: is gated but masks.npz does not exist"],
    );
    check(
        "missing directory",
        read_trace(Path::new("/nonexistent/cdg-trace")),
        &["/nonexistent/cdg-trace: cannot open trace directory"],
    );
}

#[test]
fn bad_npz_arrays_each_fail_with_their_own_error() {
    let good = Array4::from_shape_fn((2, 2, 2, 4), |(s, c, h, w)| small_gate(s, c, h, w));
    type Case = (
        &'static str,
        Box<dyn Fn(&mut NpzWriter<fs::File>)>,
        &'static [&'static str],
    );
    let g = good.clone();
    let cases: Vec<Case> = vec![
        (
            "float32",
            Box::new(move |n| {
                n.add_array("block.conv", &g.mapv(|b| b as u8 as f32))
                    .unwrap()
            }),
            &["masks.npz: layer `block.conv`: array has dtype \"<f4\" (float32); expected bool"],
        ),
        (
            "uint8 value 2",
            Box::new(|n| {
                let mut a = Array4::<u8>::zeros((2, 2, 2, 4));
                a[[0, 1, 0, 2]] = 2;
                n.add_array("block.conv", &a).unwrap()
            }),
            &[
                "layer `block.conv`: uint8 array holds 2 at index [0, 1, 0, 2]; expected only 0 or 1",
            ],
        ),
        (
            "wrong shape",
            Box::new(|n| {
                n.add_array(
                    "block.conv",
                    &Array4::<bool>::from_elem((2, 2, 3, 4), false),
                )
                .unwrap()
            }),
            &[
                "layer `block.conv`: array dimension 2 (row blocks) is 3; expected 2 (shape [2, 2, 3, 4], expected [2, 2, 2, 4])",
            ],
        ),
        (
            "wrong samples",
            Box::new(|n| {
                n.add_array(
                    "block.conv",
                    &Array4::<bool>::from_elem((3, 2, 2, 4), false),
                )
                .unwrap()
            }),
            &["array dimension 0 (samples) is 3; expected 2"],
        ),
        (
            "wrong rank",
            Box::new(|n| {
                n.add_array("block.conv", &Array3::<bool>::from_elem((2, 2, 8), false))
                    .unwrap()
            }),
            &["layer `block.conv`: array has 3 dimension(s) [2, 2, 8]; expected 4"],
        ),
        (
            "missing gated layer",
            Box::new(|n| {
                n.add_array("other", &Array4::<bool>::from_elem((2, 2, 2, 4), false))
                    .unwrap()
            }),
            &[
                "layer `block.conv`: is gated but masks.npz has no array named `block.conv` (remaining arrays: other)",
            ],
        ),
        (
            "extra array",
            Box::new(move |n| {
                n.add_array("block.conv", &good).unwrap();
                n.add_array("fc", &Array4::<bool>::from_elem((2, 1, 1, 1), false))
                    .unwrap()
            }),
            &["layer `fc`: masks.npz holds an array for `fc`, which is not a gated layer"],
        ),
    ];
    for (name, fill, expect) in cases {
        let dir = small_trace();
        write_npz(dir.path(), |n| fill(n));
        check(name, read_trace(dir.path()), expect);
    }
}

#[test]
fn uint8_and_fortran_order_masks_read_like_bool() {
    let dir = small_trace();
    let u8s = Array4::from_shape_fn((2, 2, 2, 4), |(s, c, h, w)| small_gate(s, c, h, w) as u8);
    write_npz(dir.path(), |n| n.add_array("block.conv", &u8s).unwrap());
    let reference = read_trace(&data().join("trace-small")).unwrap();
    assert_eq!(read_trace(dir.path()).unwrap(), reference);

    let mut fortran = Array::from_elem((2, 2, 2, 4).f(), false);
    fortran
        .indexed_iter_mut()
        .for_each(|((s, c, h, w), v)| *v = small_gate(s, c, h, w));
    assert!(!fortran.is_standard_layout());
    write_npz(dir.path(), |n| n.add_array("block.conv", &fortran).unwrap());
    assert_eq!(read_trace(dir.path()).unwrap(), reference);
}

/// An npz whose single entry `block.conv.npy` holds `npy` verbatim.
fn raw_npz(dir: &Path, npy: &[u8]) {
    let file = fs::File::create(dir.join(MASKS_FILE)).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("block.conv.npy", opts).unwrap();
    zip.write_all(npy).unwrap();
    zip.finish().unwrap();
}

fn npy_header(descr: &str, shape: &str) -> Vec<u8> {
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    v.extend_from_slice(dict.as_bytes());
    v
}

#[test]
fn truncated_and_hostile_npz() {
    let dir = small_trace();
    let bytes = fs::read(dir.path().join(MASKS_FILE)).unwrap();
    fs::write(dir.path().join(MASKS_FILE), &bytes[..bytes.len() / 2]).unwrap();
    check(
        "truncated npz",
        read_trace(dir.path()),
        &["masks.npz: not valid npz (zip archive)"],
    );
    fs::write(dir.path().join(MASKS_FILE), b"").unwrap();
    check(
        "empty npz",
        read_trace(dir.path()),
        &["masks.npz: not valid npz"],
    );

    let mut npy = npy_header("|b1", "(2, 2, 2, 4)");
    npy.extend_from_slice(&[0u8; 10]);
    raw_npz(dir.path(), &npy);
    check(
        "truncated array data",
        read_trace(dir.path()),
        &["layer `block.conv`: array data is truncated: 10 of 32 bytes present"],
    );

    // A header promising an enormous array is refused before anything is allocated for it.
    raw_npz(dir.path(), &npy_header("|b1", "(2, 2, 2, 4000000000000)"));
    check(
        "absurd header shape",
        read_trace(dir.path()),
        &["array dimension 3 (column blocks) is 4000000000000; expected 4"],
    );

    let mut npy = npy_header("|b1", "(2, 2, 2, 4)");
    npy.extend_from_slice(&[0u8; 31]);
    npy.push(7);
    raw_npz(dir.path(), &npy);
    check(
        "bool byte 7",
        read_trace(dir.path()),
        &["layer `block.conv`: bool array:", "0x07"],
    );

    raw_npz(dir.path(), b"not an npy file at all");
    check(
        "not npy",
        read_trace(dir.path()),
        &["layer `block.conv`: array is not an npy file"],
    );
}

#[test]
fn bad_arch_configs_each_fail_with_their_own_error() {
    let cases: &[(&str, &[&str])] = &[
        (
            "unknown-key",
            &["unknown-key.toml: unknown key `array.foo`; known keys at [array]: rows, cols"],
        ),
        (
            "unknown-dataflow",
            &[
                "unknown-dataflow.toml: `array.dataflow`: unknown dataflow `rs`; expected one of os, ws, is",
            ],
        ),
        (
            "zero-rows",
            &["zero-rows.toml: `array.rows`: must be at least 1, found 0"],
        ),
        (
            "absurd-cols",
            &["`array.cols`: is absurdly large (100000000)"],
        ),
        (
            "zero-sram",
            &["`memory.ifmap_sram_kib`: must be greater than 0, found 0"],
        ),
        (
            "wrong-type",
            &["`memory.word_bytes` must be a non-negative integer, found string \"one\""],
        ),
        (
            "unknown-support",
            &["`sparsity.support`: unknown support `skip-all`; expected one of dense, clock-gate"],
        ),
        ("unsupported-schema", &["`schema`: unsupported version 2"]),
        (
            "missing-schema",
            &["`schema`: is missing; expected `schema = 1`"],
        ),
        (
            "empty",
            &["empty.toml: is empty; expected an arch-config TOML file"],
        ),
        (
            "non-utf8",
            &["non-utf8.toml: is not valid UTF-8 text (byte 22)"],
        ),
        ("bad-syntax", &["bad-syntax.toml: not valid TOML: line 2"]),
        (
            "bad-bandwidth",
            &[
                "`memory.dram_bytes_per_cycle`: expected a number of bytes per cycle or \"unlimited\", found \"fast\"",
            ],
        ),
        (
            "negative-energy",
            &["`energy.mac`: must not be negative, found -0.1"],
        ),
    ];
    let files = fs::read_dir(data().join("arch")).unwrap().count();
    assert_eq!(
        files,
        cases.len(),
        "every corpus file has a case and vice versa"
    );
    for (name, expect) in cases {
        let path = data().join("arch").join(format!("{name}.toml"));
        check(name, load_arch(&path, &[]), expect);
    }
}

#[test]
fn overrides_are_validated_like_the_file() {
    let path = data().join("../../../../arch-configs/os-16x16-int8.toml");
    let set = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let a = load_arch(
        &path,
        &set(&["array.dataflow=ws", "memory.dram_bytes_per_cycle=unlimited"]),
    )
    .unwrap();
    assert_eq!(a.array.dataflow, Dataflow::WeightStationary);
    assert_eq!(a.memory.dram_bandwidth, DramBandwidth::Unlimited);
    check(
        "override dataflow",
        load_arch(&path, &set(&["array.dataflow=xs"])),
        &[
            "override `--set array.dataflow=xs` (on ",
            "os-16x16-int8.toml): `array.dataflow`: unknown dataflow `xs`",
        ],
    );
    check(
        "override unknown key",
        load_arch(&path, &set(&["array.colls=4"])),
        &["unknown key `array.colls`"],
    );
    check(
        "override wrong type",
        load_arch(&path, &set(&["array.rows=1.5"])),
        &["`array.rows` must be a non-negative integer, found float 1.5"],
    );
    // Regression (issue #15): a bad override named the valid base file as the culprit.
    check(
        "override names itself",
        load_arch(&path, &set(&["array.row=32"])),
        &["override `--set array.row=32`", "unknown key `array.row`"],
    );
    check(
        "override syntax",
        load_arch(&path, &set(&["rows"])),
        &["override `--set rows`", "expected `dotted.key=value`"],
    );
}

#[test]
fn shipped_arch_configs_load() {
    let dir = data().join("../../../../arch-configs");
    let mut n = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let a = load_arch(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
        let stem = path.file_stem().unwrap().to_str().unwrap();
        assert_eq!(
            a.name,
            stem,
            "{}: name matches the file name",
            path.display()
        );
        n += 1;
    }
    assert!(n >= 4, "at least four shipped designs, found {n}");
    let tpu = load_arch(&dir.join("tpu-like-128x128-ws.toml"), &[]).unwrap();
    assert_eq!(
        (tpu.array.rows, tpu.array.dataflow),
        (128, Dataflow::WeightStationary)
    );
}

#[test]
fn scalesim_fixtures() {
    let d = data().join("scalesim");
    let v3 = read_scalesim_cfg(&d.join("scale_v3.cfg")).unwrap();
    assert_eq!(v3.run_name, "scale_example_run_32x32_os");
    assert_eq!(v3.arch.name, "scale_example_run_32x32_os");
    assert_eq!((v3.arch.array.rows, v3.arch.array.cols), (32, 32));
    assert_eq!(v3.arch.array.dataflow, Dataflow::OutputStationary);
    assert_eq!(v3.arch.memory.dram_bandwidth, DramBandwidth::Unlimited);
    assert_eq!(v3.interface_bandwidth, InterfaceBandwidth::Calc);
    assert_eq!(v3.arch.memory.word_bytes, 1);
    assert!(!v3.arch.array.overlap_folds && !v3.sparsity_support);
    assert!(
        v3.ignored_keys
            .iter()
            .any(|k| k == "layout.ifmapcustomlayout")
    );
    let v2 = read_scalesim_cfg(&d.join("scale_v2_user.cfg")).unwrap();
    assert_eq!(
        v2.arch.memory.dram_bandwidth,
        DramBandwidth::BytesPerCycle(50.0)
    );
    assert_eq!(v2.arch.memory.ifmap_sram_kib, 256.0);
    assert_eq!(v2.arch.array.dataflow, Dataflow::WeightStationary);
    check(
        "bad dataflow cfg",
        read_scalesim_cfg(&d.join("bad_dataflow.cfg")),
        &["bad_dataflow.cfg:14: [architecture_presets] Dataflow: unknown dataflow `rs`"],
    );

    let t = read_topology(&d.join("mobilenet_part.csv")).unwrap();
    assert_eq!(t.network.len(), 1 + 32 + 1 + 1);
    let l = t.network.layers();
    assert_eq!((l[0].shape.out_height(), l[0].shape.gemm().k), (112, 27));
    assert_eq!(l[1].name(), "Conv2 DPChannel_0");
    assert_eq!(l[32].name(), "Conv2 DPChannel_31");
    assert_eq!(
        (l[1].shape.in_channels(), l[1].shape.out_height()),
        (1, 112)
    );
    assert_eq!(l[34].shape.gemm().k, 1024);
    let g = read_topology(&d.join("gemm_sparse.csv")).unwrap();
    let dims = g.network.layers()[0].shape.gemm();
    assert_eq!((dims.m, dims.k, dims.n), (3, 16, 5));
    assert_eq!(g.nm_sparsity, vec![Some((3, 4)), Some((1, 4))]);
    assert_eq!(g.network.layers()[1].name(), "GEMM_1_2");
    check(
        "kernel larger",
        read_topology(&d.join("kernel_too_large.csv")),
        &["kernel_too_large.csv:2: filter_h: kernel 7 is larger than the padded input 5"],
    );
    check(
        "stride zero",
        read_topology(&d.join("stride_zero.csv")),
        &["stride_zero.csv:2: stride: must be at least 1, found 0"],
    );
}
