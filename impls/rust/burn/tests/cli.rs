//! The built `oneshot-burn` binary end to end on a small synthetic data set of real 1-bit PNGs
//! (three alphabets of four characters, three drawers each): `init`, `forward`, `step`,
//! `train` and `evaluate` at the tiny shape, and a bad job's one-line error.

use std::fs;

use serde_json::{json, Value};

#[path = "../../core/testkit/cli.rs"]
mod cli;

use cli::{write_dataset, TINY};

const BIN: &str = env!("CARGO_BIN_EXE_oneshot-burn");

/// Runs a job of this binary in `dir/<name>`; returns the exit code, stderr and result.json.
fn run(dir: &std::path::Path, name: &str, task: &str, extra: Value) -> (i32, String, Value) {
    cli::run_job(BIN, dir, name, task, extra)
}

#[test]
fn network_tasks_run_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write_dataset(&d.join("data"));
    let (code, err, _) = run(d, "sample", "sample", json!({"params": {"pairs": 64}}));
    assert_eq!(code, 0, "{err}");
    let pairs = d.join("sample/pairs.tsv");
    let model: Value = serde_json::from_str(TINY).expect("model");
    let (code, err, result) = run(d, "init", "init", json!({"model": model.clone()}));
    assert_eq!(code, 0, "{err}");
    assert_eq!(result["impl"], "rust-burn");
    assert_eq!(result["versions"]["burn"], "0.22.1");
    let weights = d.join("init/weights.safetensors");
    let inputs = json!({"pairs": pairs, "weights": weights});

    let extra = json!({"model": model.clone(), "inputs": inputs, "params": {"batch": 16}});
    let (code, err, result) = run(d, "forward", "forward", extra);
    assert_eq!(code, 0, "{err}");
    assert_eq!(result["metrics"]["pairs"], 64);
    let bytes = fs::read(d.join("forward/outputs.safetensors")).expect("outputs");
    let file = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors");
    assert!(!file.tensors().is_empty());

    let extra = json!({"model": model.clone(), "inputs": inputs,
                       "params": {"steps": 3, "batch": 8, "save_gradients": true}});
    let (code, err, result) = run(d, "step", "step", extra);
    assert_eq!(code, 0, "{err}");
    let losses: Vec<f64> = serde_json::from_value(result["metrics"]["losses"].clone()).expect("l");
    assert_eq!(losses.len(), 3);
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    assert!(d.join("step/grads.safetensors").is_file());
    assert!(d.join("step/weights.safetensors").is_file());

    let extra = json!({
        "model": model.clone(),
        "inputs": {"pairs": pairs, "weights": null},
        "optimizer": {"name": "adam", "lr": 0.01},
        "params": {"epochs": 4, "batch": 16, "init": "he",
                   "validation": {"ways": 4, "trials": 20}}
    });
    let (code, err, result) = run(d, "train", "train", extra);
    assert_eq!(code, 0, "{err}");
    let losses: Vec<f64> =
        serde_json::from_value(result["metrics"]["epoch_losses"].clone()).expect("losses");
    assert_eq!(losses.len(), 4);
    assert!(losses[3] < losses[0], "{losses:?}");

    let extra = json!({"model": model.clone(), "inputs": {"pairs": null, "weights": weights},
                       "params": {"ways": 4, "trials": 30, "batch": 7}});
    let (code, err, result) = run(d, "evaluate", "evaluate", extra);
    assert_eq!(code, 0, "{err}");
    assert_eq!(result["metrics"]["trials"], 30);

    // Weights of another shape: one line naming the tensor, exit 2, no panic.
    let mut other = model;
    other["embedding"] = json!(16);
    let extra = json!({"model": other, "inputs": inputs, "params": {"batch": 16}});
    let (code, err, _) = run(d, "bad", "forward", extra);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: ") && err.contains("fc1.weight"),
        "{err}"
    );
}
