//! The built `oneshot-tch` binary end to end on a small synthetic data set of real 1-bit PNGs
//! (three alphabets of four characters, three drawers each): `forward`, `step`, `train` and
//! `evaluate` at the `tiny` shape, and bad input as one `error:` line with exit code 2.

use std::fs;
use std::process::Command;

use serde_json::{json, Value};

#[path = "../../core/testkit/cli.rs"]
mod cli;

use cli::{write_dataset, TINY};

const BIN: &str = env!("CARGO_BIN_EXE_oneshot-tch");

/// Runs a job of this binary in `dir/<name>`; returns the exit code, stderr and result.json.
fn run(dir: &std::path::Path, name: &str, task: &str, extra: Value) -> (i32, String, Value) {
    cli::run_job(BIN, dir, name, task, extra)
}

fn number(metrics: &Value, name: &str) -> f64 {
    metrics[name]
        .as_f64()
        .unwrap_or_else(|| panic!("{name}: {metrics}"))
}

/// One `error:` line, exit code 2, naming `culprit`.
fn assert_invalid(code: i32, err: &str, culprit: &str) {
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: ") && err.contains(culprit), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn network_tasks_run_end_to_end_and_bad_input_is_one_error_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    write_dataset(&dir.join("data"));
    let (code, err, _) = run(dir, "sample", "sample", json!({"params": {"pairs": 64}}));
    assert_eq!(code, 0, "{err}");
    let pairs = json!(dir.join("sample/pairs.tsv"));
    let model: Value = serde_json::from_str(TINY).expect("model");
    let (code, err, _) = run(dir, "init", "init", json!({"model": model.clone()}));
    assert_eq!(code, 0, "{err}");
    let weights = json!(dir.join("init/weights.safetensors"));
    let inputs = json!({"pairs": pairs, "weights": weights});
    let job = |params: Value| json!({"model": model, "inputs": inputs, "params": params});

    // The version facts name the framework and its threads.
    let version = Command::new(BIN).arg("version").output().expect("version");
    let facts: Value = serde_json::from_slice(&version.stdout).expect("version json");
    assert_eq!(facts["package"], "oneshot-tch");
    assert!(
        facts["tch"].as_str().expect("tch").starts_with("0.26"),
        "{facts}"
    );
    assert!(
        facts["libtorch"]
            .as_str()
            .expect("libtorch")
            .starts_with("2.13"),
        "{facts}"
    );
    assert!(facts["threads"]
        .as_str()
        .expect("threads")
        .contains("inter-op 1"));

    let (code, err, result) = run(dir, "forward", "forward", job(json!({"batch": 24})));
    assert_eq!(code, 0, "{err}");
    assert_eq!(result["impl"], "rust-tch");
    assert_eq!(result["metrics"]["pairs"], 64);
    let bytes = fs::read(dir.join("forward/outputs.safetensors")).expect("outputs");
    let file = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors");
    assert_eq!(file.tensor("emb1").expect("emb1").shape(), [64, 32]);
    assert_eq!(file.tensor("logits").expect("logits").shape(), [64]);

    let params = json!({"steps": 3, "batch": 8, "save_gradients": true});
    let (code, err, result) = run(dir, "step", "step", job(params));
    assert_eq!(code, 0, "{err}");
    let m = &result["metrics"];
    assert_eq!(m["timed_steps"], 2);
    assert!(number(m, "pairs_per_s") > 0.0, "{m}");
    assert!(dir.join("step/grads.safetensors").is_file());

    let extra = json!({
        "model": model,
        "inputs": {"pairs": pairs, "weights": null},
        "optimizer": {"name": "adam", "lr": 0.01},
        "params": {"epochs": 6, "batch": 16, "init": "he", "log_every_steps": 4,
                   "validation": {"ways": 4, "trials": 20}}
    });
    let (code, err, result) = run(dir, "train", "train", extra);
    assert_eq!(code, 0, "{err}");
    let losses: Vec<f64> =
        serde_json::from_value(result["metrics"]["epoch_losses"].clone()).expect("losses");
    assert_eq!(losses.len(), 6);
    assert!(losses[5] < losses[0], "{losses:?}");

    let params = json!({"ways": 4, "trials": 12, "batch": 5});
    let (code, err, result) = run(dir, "eval", "evaluate", job(params));
    assert_eq!(code, 0, "{err}");
    assert_eq!(result["metrics"]["trials"], 12);

    // A weights file that is not safetensors.
    let garbage = dir.join("garbage.safetensors");
    fs::write(&garbage, b"not a weights file").expect("write");
    let bad = json!({"model": model, "inputs": {"pairs": pairs, "weights": garbage},
                     "params": {}});
    let (code, err, _) = run(dir, "bad_weights", "forward", bad);
    assert_invalid(code, &err, "garbage.safetensors");

    // A pair file naming an image that is not there.
    let missing = dir.join("missing.tsv");
    fs::write(
        &missing,
        "left\tright\tlabel\nAlphabet_0/character00/nothing.png\tAlphabet_0/character00/0000_01.png\t1\n",
    )
    .expect("write");
    let bad = json!({"model": model, "inputs": {"pairs": missing, "weights": weights},
                     "params": {}});
    let (code, err, _) = run(dir, "missing_image", "forward", bad);
    assert_invalid(code, &err, "nothing.png");

    // A key the protocol does not know.
    let (code, err, _) = run(
        dir,
        "bad_key",
        "step",
        job(json!({"steps": 1, "colour": 1})),
    );
    assert_invalid(code, &err, "colour");
}
