//! What every Rust binary's command-line tests share, included by path
//! (`#[path = "../../core/testkit/cli.rs"] mod cli;`): a small synthetic data set of real 1-bit
//! PNGs and one job run through a binary.

#![allow(dead_code)] // each test file uses part of it

use std::fs;
use std::path::Path;
use std::process::Command;

use oneshot_core::data::{encode_png, pack, PIXELS};
use serde_json::{json, Value};

/// The `tiny` network shape as a job's `model`.
pub const TINY: &str =
    r#"{"filters": [4, 8, 8, 16], "kernels": [5, 3, 2, 2], "embedding": 32, "input": 32}"#;

/// Three alphabets of four characters, three drawers each, under `root`.
pub fn write_dataset(root: &Path) {
    for a in 0..3 {
        for c in 0..4 {
            let folder = root.join(format!("Alphabet_{a}/character{c:02}"));
            fs::create_dir_all(&folder).expect("mkdir");
            for d in 0..3 {
                let mut ink = vec![0u8; PIXELS];
                let k = a * 12 + c * 3 + d;
                // A character is a bar of its own width; drawers shift it by a pixel.
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

/// Runs a job of `binary` in `dir/<name>` on `dir/data` (the keys of `extra` replace the
/// job's); returns the exit code, stderr and result.json.
pub fn run_job(
    binary: &str,
    dir: &Path,
    name: &str,
    task: &str,
    extra: Value,
) -> (i32, String, Value) {
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
    let output = Command::new(binary)
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
