//! The built `oneshot-candle` binary end to end on a small synthetic data set of real 1-bit
//! PNGs: init, forward, step, train and evaluate on the tiny shape, and bad weights rejected
//! with one line and exit 2.

use serde_json::{json, Value};

#[path = "../../core/testkit/cli.rs"]
mod cli;

use cli::{write_dataset, TINY};

const BIN: &str = env!("CARGO_BIN_EXE_oneshot-candle");

/// Runs a job of this binary in `dir/<name>`; returns the exit code, stderr and result.json.
fn run(dir: &std::path::Path, name: &str, task: &str, extra: Value) -> (i32, String, Value) {
    cli::run_job(BIN, dir, name, task, extra)
}

#[test]
fn network_tasks_run_end_to_end() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    write_dataset(&dir.join("data"));
    let (code, err, _) = run(dir, "sample", "sample", json!({"params": {"pairs": 64}}));
    assert_eq!(code, 0, "{err}");
    let pairs = json!(dir.join("sample/pairs.tsv"));
    let model: Value = serde_json::from_str(TINY).expect("model");

    let (code, err, result) = run(
        dir,
        "init",
        "init",
        json!({"model": model, "params": {"init": "he"}}),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(result["metrics"]["parameters"], 1769);
    assert_eq!(result["impl"], "rust-candle");
    assert!(result["versions"]["candle-core"]
        .as_str()
        .expect("version")
        .starts_with("0.11"));
    let weights = json!(dir.join("init/weights.safetensors"));
    let inputs = json!({"pairs": pairs, "weights": weights});

    let extra = json!({"model": model, "inputs": inputs, "params": {"batch": 24}});
    let (code, err, result) = run(dir, "forward", "forward", extra);
    assert_eq!(code, 0, "{err}");
    assert_eq!(result["metrics"]["pairs"], 64);
    assert!(dir.join("forward/outputs.safetensors").is_file());

    let extra = json!({"model": model, "inputs": inputs,
                       "params": {"steps": 3, "batch": 16, "save_gradients": true}});
    let (code, err, result) = run(dir, "step", "step", extra);
    assert_eq!(code, 0, "{err}");
    let losses = result["metrics"]["losses"].as_array().expect("losses");
    assert_eq!(losses.len(), 3);
    assert!(dir.join("step/grads.safetensors").is_file());
    assert!(dir.join("step/weights.safetensors").is_file());

    let extra = json!({
        "model": model, "inputs": {"pairs": pairs, "weights": null},
        "optimizer": {"name": "adam", "lr": 0.01},
        "params": {"epochs": 4, "batch": 16, "init": "he", "validation": {"ways": 4, "trials": 20}}
    });
    let (code, err, result) = run(dir, "train", "train", extra);
    assert_eq!(code, 0, "{err}");
    let losses: Vec<f64> =
        serde_json::from_value(result["metrics"]["epoch_losses"].clone()).expect("losses");
    assert_eq!(losses.len(), 4);
    assert!(losses[3] < losses[0], "{losses:?}");

    let extra = json!({"model": model, "inputs": {"pairs": null, "weights": weights},
                       "params": {"ways": 4, "trials": 30, "batch": 7}});
    let (code, err, result) = run(dir, "evaluate", "evaluate", extra);
    assert_eq!(code, 0, "{err}");
    assert_eq!(result["metrics"]["trials"], 30);

    // Weights of another shape: exit 2, one line naming the tensor, no panic.
    let mut other = model.clone();
    other["embedding"] = json!(16);
    let extra = json!({"model": other, "inputs": inputs, "params": {"batch": 8}});
    let (code, err, result) = run(dir, "bad", "forward", extra);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: ") && err.contains("fc1.weight"),
        "{err}"
    );
    assert_eq!(result["ok"], false);
}
