//! The built `oneshot-burn` binary end to end on a small synthetic data set of real 1-bit PNGs
//! (three alphabets of four characters, three drawers each): `init`, `forward`, `step`,
//! `train` and `evaluate` at the tiny shape, and a bad job's one-line error.

use std::fs;
use std::path::Path;
use std::process::Command;

use oneshot_core::data::{encode_png, pack, PIXELS};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_oneshot-burn");
const TINY: &str =
    r#"{"filters": [4, 8, 8, 16], "kernels": [5, 3, 2, 2], "embedding": 32, "input": 32}"#;

fn write_dataset(root: &Path) {
    for a in 0..3 {
        for c in 0..4 {
            let folder = root.join(format!("Alphabet_{a}/character{c:02}"));
            fs::create_dir_all(&folder).expect("mkdir");
            for d in 0..3 {
                let mut ink = vec![0u8; PIXELS];
                let k = a * 12 + c * 3 + d;
                let (y, x, width) = (30 + d, 20 + d, 8 + 8 * c);
                for row in y..y + 4 + a {
                    ink[row * 105 + x..row * 105 + x + width].fill(1);
                }
                let bytes = encode_png(&pack(&ink)).expect("encode");
                fs::write(folder.join(format!("{k:04}_{:02}.png", d + 1)), bytes).expect("write");
            }
        }
    }
}

/// Runs a job in `dir/<name>`; returns the exit code, stderr and result.json.
fn run(dir: &Path, name: &str, task: &str, extra: Value) -> (i32, String, Value) {
    let out = dir.join(name);
    fs::create_dir_all(&out).expect("out dir");
    let mut job = json!({
        "format_version": 1, "task": task, "seed": 5, "threads": 2, "out_dir": out,
        "dataset": {"root": dir.join("data"), "eval_root": dir.join("data")},
        "inputs": {"pairs": null, "weights": null}, "model": null, "params": {}
    });
    for (key, value) in extra.as_object().expect("object") {
        job[key] = value.clone();
    }
    let path = out.join("job.json");
    fs::write(&path, job.to_string()).expect("write job");
    let output = Command::new(BIN)
        .arg("run")
        .arg(&path)
        .output()
        .expect("run");
    let result = fs::read_to_string(out.join("result.json"))
        .map(|t| serde_json::from_str(&t).expect("json"))
        .unwrap_or(Value::Null);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code().expect("code"), stderr, result)
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
