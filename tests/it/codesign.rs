//! The co-design result (docs/model.md §5, §8): full-width ResNet-18 CIFAR (32×32×3,
//! base_partitions 4) on a 16×16 array with synthetic gates at density 0.5 and no gather
//! overhead. Channel blocks (16,1,1) let `compact` remove a third of the conditional pass on OS
//! and a quarter on WS but nothing on IS; row-aligned spatial blocks (1,1,16) help IS instead;
//! unstructured gates help no dataflow, although FLOPs fall ~1.6× in every case.
//!
//! The printed table comes from `cargo run --release --example codesign -p cdg-sim`; the
//! README shows it, and `readme_table_is_what_its_command_prints` keeps the two equal.

use cdg_core::{ArchConfig, GateBlock};
use cdg_sim::codesign::{CodesignRow, codesign, markdown_table, readme_experiment};
use cdg_sim::models::resnet18_cifar;

fn rows() -> Vec<CodesignRow> {
    let mut arch = ArchConfig::default_with("codesign-16x16");
    arch.sparsity.gather_rows_per_cycle = None;
    // Synthetic masks have exactly half the blocks on in every layer and sample, so a few
    // samples already give the figures of 256 to within a fraction of a percent.
    codesign(
        &arch,
        |b| resnet18_cifar(1.0, 3, Some((4, b))),
        &[
            GateBlock::new(16, 1, 1),
            GateBlock::new(1, 1, 16),
            GateBlock::new(1, 1, 1),
        ],
        0.5,
        4,
        1,
    )
    .unwrap()
}

fn find<'a>(rows: &'a [CodesignRow], block: [u64; 3], df: &str, policy: &str) -> &'a CodesignRow {
    rows.iter()
        .find(|r| {
            [r.block_c, r.block_h, r.block_w] == block && r.dataflow == df && r.policy == policy
        })
        .unwrap()
}

#[test]
fn structured_gates_pay_off_only_on_the_matching_dataflow() {
    let rows = rows();
    assert_eq!(rows.len(), 3 * 3 * 4);
    for r in &rows {
        // FLOPs fall ~1.6× whatever the block, dataflow or policy.
        assert!(
            (1.5..1.7).contains(&r.flops_reduction),
            "{r:?}: FLOPs reduction {}",
            r.flops_reduction
        );
        if r.policy == "dense" || r.policy == "clock-gate" {
            assert_eq!(r.cond_cycle_cut_vs_dense_policy, 0.0, "{r:?}");
        }
        if r.policy == "clock-gate" {
            assert!(r.energy_saving_vs_dense_policy > 0.0, "{r:?}");
        }
        if r.policy == "dense" {
            // The ungated baseline is never slower nor costlier than the `dense` policy.
            assert!(r.cycle_reduction_vs_ungated <= 1.0, "{r:?}");
            assert!(r.energy_saving_vs_ungated <= 0.0, "{r:?}");
        }
        assert!(
            r.energy_saving_vs_ungated <= r.energy_saving_vs_dense_policy,
            "{r:?}"
        );
    }
    let c16 = [16, 1, 1];
    assert!(find(&rows, c16, "os", "compact").cond_cycle_cut_vs_dense_policy >= 0.30);
    assert!(find(&rows, c16, "ws", "compact").cond_cycle_cut_vs_dense_policy >= 0.20);
    assert!(
        find(&rows, c16, "is", "compact")
            .cond_cycle_cut_vs_dense_policy
            .abs()
            < 0.01
    );
    let row16 = [1, 1, 16];
    assert!(find(&rows, row16, "is", "compact").cond_cycle_cut_vs_dense_policy >= 0.20);
    for df in ["os", "ws", "is"] {
        for policy in ["tile-skip", "compact"] {
            let r = find(&rows, [1, 1, 1], df, policy);
            assert!(r.cond_cycle_cut_vs_dense_policy < 0.05, "{r:?}");
        }
    }
    // Channel blocks on OS: fewer cycles than the ungated network, so utilization rises.
    let os = find(&rows, c16, "os", "compact");
    assert!(
        os.cycle_reduction_vs_ungated > 1.0
            && os.utilization > find(&rows, c16, "os", "dense").utilization
    );
}

/// The README's co-design table is exactly what the command it names prints (256 samples,
/// seed 1): a changed model cannot leave stale numbers in the README.
#[test]
fn readme_table_is_what_its_command_prints() {
    let readme = std::fs::read_to_string(crate::support::root().join("README.md")).unwrap();
    let open = "<!-- codesign-table: cargo run --release --example codesign -p cdg-sim -->\n";
    let close = "<!-- /codesign-table -->";
    let start = readme
        .find(open)
        .expect("README has the co-design table markers")
        + open.len();
    let end = start
        + readme[start..]
            .find(close)
            .expect("the table's closing marker");
    let table = &readme[start..end];
    let expected = markdown_table(&readme_experiment(256, 1).unwrap());
    assert_eq!(
        table, expected,
        "the README's co-design table differs from `cargo run --release --example codesign -p \
         cdg-sim`; paste its output between the markers"
    );
}
