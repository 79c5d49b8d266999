//! Every row of SCALE-Sim's published goldens (`data/scalesim-published.csv`) and the 2:4 WS
//! sparsity case of the reference README, reproduced exactly by the dense model.

use cdg_core::{ArchConfig, ConvParams, Dataflow, DramBandwidth, Layer, LayerShape, OutputRule};
use cdg_sim::scalesim::{COMPUTE_REPORT_HEADER, compute_report, compute_report_csv};
use cdg_sim::{LayerOptions, LayerStats, NmSparsity, simulate_layer, simulate_network_with};

const CSV: &str = include_str!("../data/scalesim-published.csv");

/// SCALE-Sim as the goldens ran it: CALC bandwidth mode (unlimited), 1024 kB SRAMs, no fold
/// overlap.
fn scalesim_arch(rows: u64, cols: u64, dataflow: Dataflow) -> ArchConfig {
    let mut a = ArchConfig::default_with("scalesim");
    a.array.rows = rows;
    a.array.cols = cols;
    a.array.dataflow = dataflow;
    a.memory.ifmap_sram_kib = 1024.0;
    a.memory.filter_sram_kib = 1024.0;
    a.memory.ofmap_sram_kib = 1024.0;
    a.memory.dram_bandwidth = DramBandwidth::Unlimited;
    a
}

/// A SCALE-Sim layer: padding already in the input size, `ceil` output rule.
fn conv(name: &str, h: u64, w: u64, c: u64, k: [u64; 2], n: u64, stride: u64) -> Layer {
    Layer {
        shape: LayerShape::conv(
            name,
            ConvParams {
                in_channels: c,
                in_height: h,
                in_width: w,
                out_channels: n,
                kernel: k,
                stride,
                padding: 0,
                rule: OutputRule::Ceil,
            },
        )
        .unwrap(),
        gate: None,
    }
}

/// One golden row: what to simulate and what SCALE-Sim reported.
#[derive(Debug)]
struct Case {
    name: String,
    layer: Layer,
    arch: ArchConfig,
    m: u64,
    k: u64,
    n: u64,
    total_cycles: u64,
    ifmap_reads: u64,
    filter_reads: u64,
    ofmap_writes: Option<u64>,
    overall_util_pct: Option<f64>,
    mapping_eff_pct: f64,
    opts: LayerOptions,
}

fn cases() -> Vec<Case> {
    let mut lines = CSV.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let get = |name: &str| f[col(name)];
            let num = |name: &str| get(name).parse::<u64>().unwrap();
            let opt = |name: &str| {
                let v = get(name);
                (!v.is_empty()).then(|| v.parse::<f64>().unwrap())
            };
            let dataflow: Dataflow = get("dataflow").parse().unwrap();
            let (m, k, n) = (num("M"), num("K"), num("N"));
            let name = get("case").to_owned();
            let layer = if get("ifmap_h").is_empty() {
                // GEMM mode: an M×K ifmap, one channel row per window: a 1×1 conv over an
                // M×1 input with K channels.
                conv(&name, m, 1, k, [1, 1], n, 1)
            } else {
                conv(
                    &name,
                    num("ifmap_h"),
                    num("ifmap_w"),
                    num("channels"),
                    [num("filter_h"), num("filter_w")],
                    num("num_filters"),
                    num("stride"),
                )
            };
            Case {
                arch: scalesim_arch(num("array_h"), num("array_w"), dataflow),
                layer,
                m,
                k,
                n,
                total_cycles: num("total_cycles_stall_free"),
                ifmap_reads: num("sram_ifmap_reads"),
                filter_reads: num("sram_filter_reads"),
                ofmap_writes: opt("sram_ofmap_writes").map(|v| v as u64),
                overall_util_pct: opt("overall_util_pct_with_their_stalls"),
                mapping_eff_pct: opt("mapping_eff_pct").unwrap(),
                opts: LayerOptions::default(),
                name,
            }
        })
        .collect()
}

fn check(case: &Case, got: &LayerStats) {
    let name = &case.name;
    assert_eq!(
        (got.gemm.m, got.gemm.k, got.gemm.n),
        (case.m, case.k, case.n),
        "{name}: GEMM"
    );
    assert_eq!(
        got.totals.stall_cycles.get(),
        0,
        "{name}: unlimited bandwidth"
    );
    // Ours counts every cycle (L); SCALE-Sim reports the last cycle's index (L − 1).
    assert_eq!(
        got.totals.cycles.get() - 1,
        case.total_cycles,
        "{name}: cycles"
    );
    assert_eq!(
        got.totals.scalesim.total_cycles.get(),
        case.total_cycles,
        "{name}"
    );
    assert_eq!(
        got.totals.sram.ifmap_reads.get(),
        case.ifmap_reads,
        "{name}: ifmap"
    );
    assert_eq!(
        got.totals.sram.filter_reads.get(),
        case.filter_reads,
        "{name}: filter"
    );
    if let Some(w) = case.ofmap_writes {
        assert_eq!(got.totals.sram.ofmap_writes.get(), w, "{name}: ofmap");
    }
    if let Some(u) = case.overall_util_pct {
        let ours = 100.0 * got.rates.scalesim_overall_utilization;
        assert!(
            (ours - u).abs() < 0.005,
            "{name}: overall util {ours} vs {u}"
        );
    }
    let eff = 100.0 * got.scalesim_mapping_efficiency;
    assert!(
        (eff - case.mapping_eff_pct).abs() < 0.005,
        "{name}: mapping efficiency {eff} vs {}",
        case.mapping_eff_pct
    );
}

/// The 2:4 WS case of the reference README: a 10×10×256 (padded) input, 3×3, 256 filters on
/// 16×16 WS: 72 row folds of ⌈(2304·2/4)/16⌉ × 16 column folds × (2·16 + 16 + 64 − 2) − 1,
/// ifmap reads reported back at the dense count F_c·M·K.
fn sparse_case() -> Case {
    Case {
        name: "sparsity_2_4_ws_16x16".into(),
        layer: conv("sparse", 10, 10, 256, [3, 3], 256, 1),
        arch: scalesim_arch(16, 16, Dataflow::WeightStationary),
        m: 64,
        k: 2304,
        n: 256,
        total_cycles: 126_719,
        ifmap_reads: 2_359_296,
        filter_reads: 1152 * 256,
        ofmap_writes: Some(72 * 64 * 256),
        overall_util_pct: None,
        mapping_eff_pct: 100.0,
        opts: LayerOptions {
            weight_sparsity: Some(NmSparsity { n: 2, m: 4 }),
        },
    }
}

#[test]
fn every_published_row() {
    let mut cases = cases();
    assert_eq!(cases.len(), 7);
    cases.push(sparse_case());
    for case in &cases {
        let got = simulate_layer(&case.arch, &case.layer, &case.opts).unwrap();
        check(case, &got);
    }
}

#[test]
fn compute_util_of_the_32x8_runs() {
    // From the reference README: SCALE-Sim 3.0.0's Compute Util % of the 32×8 runs.
    let expect = [("os", 41.538), ("ws", 78.474), ("is", 38.298)];
    for case in cases().iter().filter(|c| c.name.ends_with("32x8")) {
        let got = simulate_layer(&case.arch, &case.layer, &LayerOptions::default()).unwrap();
        let want = expect
            .iter()
            .find(|(df, _)| *df == case.arch.array.dataflow.as_str())
            .unwrap()
            .1;
        let ours = 100.0 * got.rates.scalesim_compute_utilization;
        assert!(
            (ours - want).abs() < 0.0005,
            "{}: {ours} vs {want}",
            case.name
        );
    }
}

#[test]
fn os_ofmap_quirk_only_in_scalesim_column() {
    let case = cases().into_iter().find(|c| c.name == "gemm_os").unwrap();
    let got = simulate_layer(&case.arch, &case.layer, &LayerOptions::default()).unwrap();
    assert_eq!(got.totals.sram.ofmap_writes.get(), 256 * 128);
    // 32 folds × (32 + 32) extra writes in SCALE-Sim's OS code.
    assert_eq!(got.totals.scalesim.ofmap_writes.get(), 256 * 128 + 32 * 64);
}

#[test]
fn nm_sparse_ws_2_of_4_folds_and_macs() {
    let case = sparse_case();
    let got = simulate_layer(&case.arch, &case.layer, &case.opts).unwrap();
    assert_eq!((got.row_folds, got.col_folds), (72, 16));
    assert_eq!(got.totals.macs_needed.get(), 64 * 1152 * 256);
    assert_eq!(got.totals.macs_dense.get(), 64 * 2304 * 256);
}

#[test]
fn nm_sparse_needs_ws() {
    for df in [Dataflow::OutputStationary, Dataflow::InputStationary] {
        let arch = scalesim_arch(16, 16, df);
        let layer = conv("sparse", 10, 10, 256, [3, 3], 256, 1);
        let opts = LayerOptions {
            weight_sparsity: Some(NmSparsity { n: 2, m: 4 }),
        };
        let e = simulate_layer(&arch, &layer, &opts)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`sparse`") && e.contains("weight-stationary") && e.contains(df.as_str()),
            "{e}"
        );
    }
}

#[test]
fn compute_report_lines() {
    let case = cases()
        .into_iter()
        .find(|c| c.name == "resnet18_cifar_conv1_ws_32x8")
        .unwrap();
    let net = cdg_core::Network::new(vec![case.layer.clone()]).unwrap();
    let stats = simulate_network_with(&case.arch, &net, &[]).unwrap();
    let text = compute_report_csv(&compute_report(&stats));
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "LayerID, Total Cycles (incl. prefetch), Total Cycles, Stall Cycles, Overall Util %, \
         Mapping Efficiency %, Compute Util %,"
    );
    assert_eq!(COMPUTE_REPORT_HEADER, text.lines().next().unwrap());
    let row: Vec<&str> = lines.next().unwrap().split(", ").collect();
    assert_eq!(&row[..4], &["0", "8751", "8751", "0"]);
    assert!(row[4].starts_with("78.98"), "{row:?}");
    assert_eq!(row[5], "84.375");
    assert!(row[6].starts_with("78.47"), "{row:?}");
    assert!(text.ends_with(",\n"));
}

/// The vendored goldens are whole: every published case is present once, each row's GEMM
/// dimensions follow from its layer fields (SCALE-Sim's output rule ⌈(H − kh + s)/s⌉), and the
/// three dataflows of the non-square 32×8 runs are all there to catch a row/column swap.
#[test]
fn vendored_goldens_are_complete_and_consistent() {
    let cases = cases();
    let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    for want in [
        "gemm_ws",
        "gemm_os",
        "gemm_is",
        "alexnet_conv1_ws",
        "resnet18_cifar_conv1_os_32x8",
        "resnet18_cifar_conv1_ws_32x8",
        "resnet18_cifar_conv1_is_32x8",
    ] {
        assert_eq!(
            names.iter().filter(|n| **n == want).count(),
            1,
            "{want} in {names:?}"
        );
    }
    for c in &cases {
        let g = c.layer.shape.gemm();
        assert_eq!((g.m, g.k, g.n), (c.m, c.k, c.n), "{}", c.name);
        assert!(
            c.mapping_eff_pct > 0.0 && c.mapping_eff_pct <= 100.0,
            "{}",
            c.name
        );
    }
}

/// The utilisation columns' digits are SCALE-Sim's own, not only their values: SCALE-Sim
/// 3.0.0's `test/golden_trace/COMPUTE_REPORT.csv` (AlexNet conv1, 32×32 WS, no stalls) reads
/// `0, 112283, 0, 91.68309650614964, 94.53125, 90.78000992063492,`. The closed forms
/// (`100 · macs / (cycles · R · C)`, `100 · efficiency · T / fold cycles`) round differently
/// and gave other doubles in the last digits (#30).
#[test]
fn compute_report_digits_are_scalesims_own() {
    let case = cases()
        .into_iter()
        .find(|c| c.name == "alexnet_conv1_ws")
        .unwrap();
    let net = cdg_core::Network::new(vec![case.layer.clone()]).unwrap();
    let stats = simulate_network_with(&case.arch, &net, &[]).unwrap();
    let text = compute_report_csv(&compute_report(&stats));
    let row = text.lines().nth(1).unwrap();
    assert_eq!(
        row,
        "0, 112283, 112283, 0, 91.68309650614964, 94.53125, 90.78000992063492,"
    );
}
