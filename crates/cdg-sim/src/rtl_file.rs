//! The schedule file the RTL testbench runs (`rtl/tb/tb.cpp`; docs/formats.md §7): one gated
//! layer, one sample's gates, random int8 operands from a seed, the explicit [`GatedSchedule`]
//! cdg planned for it, and the outputs cdg's functional executor ([`crate::functional`])
//! computes from them. Plain whitespace-separated text, one record per line, so a C++
//! testbench reads it with `>>`.

use crate::error::SimError;
use crate::functional::{ArrayShape, FeatureMap, Filters, filter_matrix, im2col, run_gated_layer};
use crate::matrix::Matrix;
use crate::schedule::{GatedSchedule, Indices, PassSchedule, gate_fn, split_dims};
use cdg_core::{Dataflow, GateSpec, LayerMasks, LayerShape, SkipPolicy};
use std::fmt::Write;

/// The first line of every schedule file, with its version.
pub const MAGIC: &str = "cdg-rtl-schedule 1";

/// What one schedule file describes.
#[derive(Debug, Clone, Copy)]
pub struct RtlCase<'a> {
    pub layer: &'a LayerShape,
    pub spec: &'a GateSpec,
    pub masks: &'a LayerMasks,
    pub sample: usize,
    pub rows: u64,
    pub cols: u64,
    pub dataflow: Dataflow,
    pub policy: SkipPolicy,
    /// `sparsity.gather_rows_per_cycle` of the design (the gather unit's parallelism).
    pub gather_rows_per_cycle: u64,
    /// Seed of the random int8 input and weights.
    pub seed: u64,
}

/// A schedule file's content and what cdg expects of it.
#[derive(Debug, Clone)]
pub struct RtlFile {
    /// The file's text.
    pub text: String,
    /// The schedule written into it.
    pub schedule: GatedSchedule,
    /// The functional executor's output, M×N (row m = output pixel, column n = filter).
    pub expected: Matrix,
}

/// splitmix64: the operands' random stream (fixed, so a seed names the same data everywhere).
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A random int8 value in −128..=127.
fn int8(state: &mut u64) -> i64 {
    (splitmix(state) >> 56) as u8 as i8 as i64
}

/// The random int8 input feature map and filters of `layer` from `seed`.
pub fn random_operands(layer: &LayerShape, seed: u64) -> (FeatureMap, Filters) {
    let mut s = seed;
    let input = FeatureMap::from_fn(
        layer.in_channels() as usize,
        layer.in_height() as usize,
        layer.in_width() as usize,
        |_, _, _| int8(&mut s),
    );
    let [kh, kw] = layer.kernel().map(|v| v as usize);
    let weights = Filters::from_fn(
        [
            layer.out_channels() as usize,
            (layer.in_channels() / layer.groups()) as usize,
            kh,
            kw,
        ],
        |_, _, _, _| int8(&mut s),
    );
    (input, weights)
}

fn push_indices(out: &mut String, ix: &Indices) {
    let _ = write!(out, " {}", ix.len());
    for i in ix.iter() {
        let _ = write!(out, " {i}");
    }
}

fn push_pass(out: &mut String, name: &str, pass: &PassSchedule) {
    let _ = writeln!(out, "{name} {}", pass.folds.len());
    for f in &pass.folds {
        out.push_str("fold");
        push_indices(out, &f.rows);
        push_indices(out, &f.cols);
        push_indices(out, &f.steps);
        out.push('\n');
    }
}

fn push_matrix(out: &mut String, name: &str, m: &Matrix) {
    let _ = writeln!(out, "{name} {} {}", m.rows(), m.cols());
    for r in 0..m.rows() {
        let row: Vec<String> = (0..m.cols()).map(|c| m.get(r, c).to_string()).collect();
        out.push_str(&row.join(" "));
        out.push('\n');
    }
}

/// Builds the schedule file of `case`: the schedule `case.policy` plans
/// ([`GatedSchedule::for_policy`]), its operands and the executor's outputs.
///
/// Errors: a grouped layer (the RTL array has no block-diagonal weight skipping yet), a sample
/// the masks do not hold, or a schedule the executor refuses, naming the layer.
pub fn rtl_file(case: &RtlCase<'_>) -> Result<RtlFile, SimError> {
    let layer = case.layer;
    if layer.groups() > 1 {
        return Err(SimError::layer(
            layer.name(),
            format!(
                "is grouped ({} groups); the RTL check runs ungrouped layers only",
                layer.groups()
            ),
        ));
    }
    if case.sample >= case.masks.samples() {
        return Err(SimError::layer(
            layer.name(),
            format!(
                "sample {} requested; the masks hold {} samples",
                case.sample,
                case.masks.samples()
            ),
        ));
    }
    let gate = gate_fn(case.masks, case.sample);
    let schedule = GatedSchedule::for_policy(
        case.policy,
        layer,
        case.spec,
        case.rows,
        case.cols,
        case.dataflow,
        &gate,
    );
    let (input, weights) = random_operands(layer, case.seed);
    let array = ArrayShape {
        rows: case.rows,
        cols: case.cols,
        dataflow: case.dataflow,
    };
    let (out, _) = run_gated_layer(layer, case.spec, &input, &weights, &array, &schedule, &gate)?;
    let a = im2col(layer, &input)?;
    let b = filter_matrix(layer, &weights)?;
    let (m, n) = (a.rows(), b.cols());
    let wo = layer.out_width() as usize;
    let expected = Matrix::from_fn(m, n, |mm, nn| out.get(nn, mm / wo, mm % wo));
    let [base, _] = split_dims(layer, case.spec);

    let mut t = String::new();
    let _ = writeln!(t, "{MAGIC}");
    let _ = writeln!(t, "layer {}", layer.name());
    let _ = writeln!(t, "dataflow {}", case.dataflow.as_str());
    let _ = writeln!(t, "array {} {}", case.rows, case.cols);
    let _ = writeln!(t, "policy {}", case.policy.as_str());
    let _ = writeln!(t, "gather_rows_per_cycle {}", case.gather_rows_per_cycle);
    let _ = writeln!(t, "gemm {m} {} {n}", a.cols());
    let _ = writeln!(t, "k_base {}", base.k_end);
    let _ = writeln!(t, "sample {}", case.sample);
    let _ = writeln!(t, "seed {}", case.seed);
    push_matrix(&mut t, "a", &a);
    push_matrix(&mut t, "b", &b);
    let _ = writeln!(t, "mask {m} {n}");
    for mm in 0..m as u64 {
        let row: String = (0..n as u64)
            .map(|nn| if gate(mm, nn) { '1' } else { '0' })
            .collect();
        t.push_str(&row);
        t.push('\n');
    }
    push_pass(&mut t, "base", &schedule.base);
    push_pass(&mut t, "cond", &schedule.cond);
    push_matrix(&mut t, "expect", &expected);
    t.push_str("end\n");
    Ok(RtlFile {
        text: t,
        schedule,
        expected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdg_core::{ConvExtras, ConvParams, GateBlock, OutputRule};

    /// A 3×3, stride 1, padding 1 convolution on a 4×4 input.
    fn params(c_in: u64, c_out: u64) -> ConvParams {
        ConvParams {
            in_channels: c_in,
            in_height: 4,
            in_width: 4,
            out_channels: c_out,
            kernel: [3, 3],
            stride: 1,
            padding: 1,
            rule: OutputRule::Floor,
        }
    }

    #[test]
    fn file_lists_every_fold_and_the_executor_output() {
        let layer = LayerShape::conv("l", params(4, 4)).unwrap();
        let spec = GateSpec {
            base_channels: 2,
            block: GateBlock::new(1, 1, 1),
        };
        let masks =
            LayerMasks::from_fn(&layer, &spec, 1, |_, c, h, w| (c + h + w) % 2 == 0).unwrap();
        let case = RtlCase {
            layer: &layer,
            spec: &spec,
            masks: &masks,
            sample: 0,
            rows: 4,
            cols: 2,
            dataflow: Dataflow::OutputStationary,
            policy: SkipPolicy::Compact,
            gather_rows_per_cycle: 4,
            seed: 7,
        };
        let f = rtl_file(&case).unwrap();
        let lines: Vec<&str> = f.text.lines().collect();
        assert_eq!(lines[0], MAGIC);
        let folds = lines.iter().filter(|l| l.starts_with("fold ")).count();
        assert_eq!(folds, f.schedule.base.len() + f.schedule.cond.len());
        assert!(f.text.ends_with("end\n"));
        // Deterministic, and the seed changes the data.
        assert_eq!(rtl_file(&case).unwrap().text, f.text);
        let other = RtlCase { seed: 8, ..case };
        assert_ne!(rtl_file(&other).unwrap().text, f.text);
        // The expected outputs are P + d ⊙ Cond from a direct computation.
        let (input, weights) = random_operands(&layer, 7);
        let a = im2col(&layer, &input).unwrap();
        let b = filter_matrix(&layer, &weights).unwrap();
        let gate = gate_fn(&masks, 0);
        let k_base = 18;
        for m in 0..16 {
            for n in 0..4 {
                let on = gate(m as u64, n as u64);
                let want: i64 = (0..36)
                    .filter(|&k| k < k_base || on)
                    .map(|k| a.get(m, k) * b.get(k, n))
                    .sum();
                assert_eq!(f.expected.get(m, n), want, "output ({m}, {n})");
            }
        }
    }

    #[test]
    fn grouped_layers_are_refused_by_name() {
        let x = ConvExtras {
            groups: 4,
            ..ConvExtras::default()
        };
        let layer = LayerShape::conv_with("dw", params(4, 4), x).unwrap();
        let spec = GateSpec {
            base_channels: 0,
            block: GateBlock::new(1, 1, 1),
        };
        let masks = LayerMasks::from_fn(&layer, &spec, 1, |_, _, _, _| true).unwrap();
        let case = RtlCase {
            layer: &layer,
            spec: &spec,
            masks: &masks,
            sample: 0,
            rows: 4,
            cols: 4,
            dataflow: Dataflow::WeightStationary,
            policy: SkipPolicy::Dense,
            gather_rows_per_cycle: 1,
            seed: 1,
        };
        let e = rtl_file(&case).unwrap_err().to_string();
        assert!(e.contains("dw") && e.contains("grouped"), "{e}");
    }
}
