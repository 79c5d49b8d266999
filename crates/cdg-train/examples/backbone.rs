//! Writes the backbone of a `cdg train` checkpoint (parameters and BatchNorm statistics; no
//! projector, predictor, classifier or optimiser momentum) as a small checkpoint for
//! `cdg train --init-from` and `cdg run`.
//!
//! ```text
//! cargo run --release -p cdg-train --example backbone -- RUN/checkpoint.cdgckpt OUT.cdgckpt
//! ```
//!
//! The output keeps the source's epoch, step and options record (`meta.plan`) and its metrics
//! rows, so the file says how it was trained. The format is the checkpoint format
//! (docs/training.md §10).

use std::process::ExitCode;

use cdg_train::checkpoint::Checkpoint;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: backbone RUN/checkpoint.cdgckpt OUT.cdgckpt");
        return ExitCode::FAILURE;
    };
    match run(input, output) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(input: &str, output: &str) -> Result<(), Box<dyn std::error::Error>> {
    let bytes = std::fs::read(input).map_err(|e| format!("{input}: {e}"))?;
    let source = Checkpoint::from_bytes(&bytes).map_err(|e| format!("{input}: {e}"))?;
    let meta = serde_json::json!({
        "backbone_of": "checkpoint.cdgckpt of a cdg train run",
        "plan": source.meta.get("plan").cloned().unwrap_or_default(),
        "metrics": source.meta.get("metrics").cloned().unwrap_or_default(),
    });
    let backbone = source.backbone_weights(meta);
    let params: usize = backbone.tensors.iter().map(|t| t.value.len()).sum();
    let out = backbone.to_bytes();
    // Written next to the target and renamed, so a failed write leaves no half file.
    let tmp = format!("{output}.tmp");
    std::fs::write(&tmp, &out).map_err(|e| format!("{tmp}: {e}"))?;
    std::fs::rename(&tmp, output).map_err(|e| format!("{output}: {e}"))?;
    println!(
        "{output}: {} tensors, {params} values, {} bytes (epoch {})",
        backbone.tensors.len(),
        out.len(),
        backbone.epoch
    );
    Ok(())
}
