//! Command-line tests: the built `oneshot` binary on a small synthetic data set of real 1-bit
//! PNGs written to a temporary folder (protocol v1: exit codes, events, result.json, outputs).

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use oneshot_core::data::{encode_png, pack, PACKED_BYTES, PIXELS};
use safetensors::SafeTensors;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_oneshot");

/// Three alphabets x three characters x three drawers of distinct tiny glyphs.
fn write_dataset(root: &Path) {
    for a in 0..3 {
        for c in 0..3 {
            let folder = root.join(format!("Alphabet_{a}/character{c:02}"));
            fs::create_dir_all(&folder).expect("mkdir");
            for d in 0..3 {
                let mut ink = vec![0u8; PIXELS];
                let k = a * 9 + c * 3 + d;
                ink[k * 300..k * 300 + 50].fill(1);
                let bytes = encode_png(&pack(&ink)).expect("encode");
                fs::write(folder.join(format!("{k:04}_{d:02}.png")), bytes).expect("write");
            }
        }
    }
}

struct Run {
    output: Output,
    result: Option<Value>,
}

impl Run {
    fn code(&self) -> i32 {
        self.output.status.code().expect("exit code")
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    fn events(&self) -> Vec<Value> {
        let stdout = String::from_utf8(self.output.stdout.clone()).expect("utf8 stdout");
        stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("json event"))
            .collect()
    }
}

fn run_job(dir: &Path, job: &Value) -> Run {
    let job_path = dir.join("job.json");
    fs::write(&job_path, job.to_string()).expect("write job");
    let output = Command::new(BIN)
        .arg("run")
        .arg(&job_path)
        .output()
        .expect("run oneshot");
    let result_path = dir.join("out/result.json");
    let result = fs::read_to_string(result_path)
        .ok()
        .map(|t| serde_json::from_str(&t).unwrap());
    Run { output, result }
}

fn job(dir: &Path, task: &str, params: Value) -> Value {
    fs::create_dir_all(dir.join("out")).expect("out dir");
    json!({
        "format_version": 1, "task": task, "seed": 11, "threads": 2,
        "out_dir": dir.join("out"),
        "dataset": {"root": dir.join("data"), "eval_root": null},
        "inputs": {"pairs": null, "weights": null}, "model": null, "params": params
    })
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(&dir.path().join("data"));
    dir
}

#[test]
fn sample_writes_pairs_events_and_result() {
    let dir = setup();
    let run = run_job(
        dir.path(),
        &job(dir.path(), "sample", json!({"pairs": 101})),
    );
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let text = fs::read_to_string(dir.path().join("out/pairs.tsv")).expect("pairs.tsv");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "left\tright\tlabel");
    assert_eq!(lines.len(), 102);
    assert!(lines[1].ends_with("\t1") && lines[2].ends_with("\t0"));
    let result = run.result.clone().expect("result.json");
    assert_eq!(result["ok"], true);
    assert_eq!(result["impl"], "rust-native");
    assert_eq!(result["metrics"]["pairs"], 101);
    assert!(result["metrics"]["pairs_per_s"].as_f64().expect("number") > 0.0);
    assert_eq!(result["outputs"]["pairs"], "pairs.tsv");
    let events = run.events();
    assert_eq!(events[0]["event"], "start");
    assert_eq!(events[0]["task"], "sample");
    assert_eq!(events.last().expect("events")["event"], "end");
    assert_eq!(events.last().expect("events")["ok"], true);
    // Same seed, same bytes.
    let again = run_job(
        dir.path(),
        &job(dir.path(), "sample", json!({"pairs": 101})),
    );
    assert_eq!(again.code(), 0);
    assert_eq!(
        fs::read_to_string(dir.path().join("out/pairs.tsv")).unwrap(),
        text
    );
}

#[test]
fn load_decodes_pairs_and_the_whole_dataset() {
    let dir = setup();
    assert_eq!(
        run_job(dir.path(), &job(dir.path(), "sample", json!({"pairs": 20}))).code(),
        0
    );
    let pairs = dir.path().join("pairs.tsv");
    fs::rename(dir.path().join("out/pairs.tsv"), &pairs).expect("move pairs");
    let mut load = job(dir.path(), "load", json!({"source": "pairs"}));
    load["inputs"]["pairs"] = json!(pairs);
    let run = run_job(dir.path(), &load);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let bytes = fs::read(dir.path().join("out/images.safetensors")).expect("safetensors");
    let tensors = SafeTensors::deserialize(&bytes).expect("valid safetensors");
    assert_eq!(tensors.tensor("left").unwrap().shape(), [20, PACKED_BYTES]);
    assert_eq!(tensors.tensor("right").unwrap().shape(), [20, PACKED_BYTES]);
    let labels = tensors.tensor("labels").unwrap();
    assert_eq!(labels.data(), [1, 0].repeat(10));
    let result = run.result.clone().expect("result.json");
    assert!(result["metrics"]["images"].as_u64().unwrap() <= 27);

    let run = run_job(
        dir.path(),
        &job(dir.path(), "load", json!({"source": "dataset"})),
    );
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let bytes = fs::read(dir.path().join("out/images.safetensors")).expect("safetensors");
    let tensors = SafeTensors::deserialize(&bytes).expect("valid safetensors");
    let images = tensors.tensor("images").unwrap();
    assert_eq!(images.shape(), [27, PACKED_BYTES]);
    // Image k has ink at pixels k*300 .. k*300+50 (see write_dataset).
    let first = &images.data()[..PACKED_BYTES];
    assert_eq!(&first[..7], &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc0]);
    assert_eq!(run.result.expect("result")["metrics"]["images"], 27);
}

#[test]
fn unknown_field_exits_2_naming_it_and_writes_a_failed_result() {
    let dir = setup();
    let run = run_job(
        dir.path(),
        &job(dir.path(), "sample", json!({"pairs": 5, "colour": 1})),
    );
    assert_eq!(run.code(), 2);
    let stderr = run.stderr();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: params.colour: unknown field `colour`"),
        "{stderr}"
    );
    let result = run.result.clone().expect("result.json");
    assert_eq!(result["ok"], false);
    assert!(result["error"].as_str().unwrap().contains("`colour`"));
    assert_eq!(run.events().last().expect("end")["ok"], false);
}

#[test]
fn missing_data_folder_exits_2_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = run_job(dir.path(), &job(dir.path(), "sample", json!({"pairs": 5})));
    assert_eq!(run.code(), 2);
    let folder = dir.path().join("data");
    let expected = format!("error: {}: data set root is not a folder", folder.display());
    assert!(run.stderr().starts_with(&expected), "{}", run.stderr());
    assert_eq!(run.result.expect("result.json")["ok"], false);
}

#[test]
fn corrupt_image_exits_2_naming_the_file() {
    let dir = setup();
    let bad = dir.path().join("data/Alphabet_1/character02/0017_02.png");
    let good = fs::read(&bad).expect("read");
    fs::write(&bad, &good[..good.len() / 2]).expect("truncate");
    let run = run_job(
        dir.path(),
        &job(dir.path(), "load", json!({"source": "dataset"})),
    );
    assert_eq!(run.code(), 2);
    let expected = format!("error: {}: corrupt or truncated PNG", bad.display());
    assert!(run.stderr().starts_with(&expected), "{}", run.stderr());
}

#[test]
fn missing_job_file_and_bad_arguments_are_invalid_input() {
    let output = Command::new(BIN)
        .args(["run", "/nonexistent/job.json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("error: /nonexistent/job.json: cannot read the job file: "));
    let output = Command::new(BIN).arg("frobnicate").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn version_prints_a_json_object_of_strings() {
    let output = Command::new(BIN).arg("version").output().expect("run");
    assert!(output.status.success());
    let versions: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(versions["oneshot"], env!("CARGO_PKG_VERSION"));
    assert!(versions["rustc"].as_str().unwrap().starts_with("1."));
    assert!(versions.as_object().unwrap().values().all(Value::is_string));
}

#[test]
fn check_admits_and_refuses_jobs_as_run_does_and_runs_none() {
    let dir = setup();
    let good = dir.path().join("good.json");
    let bad = dir.path().join("bad.json");
    let missing = dir.path().join("missing.json");
    fs::write(
        &good,
        job(dir.path(), "sample", json!({"pairs": 10})).to_string(),
    )
    .expect("write");
    fs::write(
        &bad,
        job(dir.path(), "sample", json!({"pairs": 0})).to_string(),
    )
    .expect("write");
    let output = Command::new(BIN)
        .arg("check")
        .args([&good, &bad, &missing])
        .output()
        .expect("run oneshot check");
    assert_eq!(output.status.code(), Some(0));
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["accepted"], true);
    assert_eq!(lines[0]["job"], good.display().to_string());
    assert_eq!(lines[1]["accepted"], false);
    assert_eq!(lines[1]["exit_code"], 2);
    assert!(lines[1]["error"].as_str().unwrap().contains("pairs"));
    assert_eq!(lines[2]["accepted"], false);
    // Nothing ran: no pair file, no result.json.
    assert!(!dir.path().join("out/pairs.tsv").exists());
    assert!(!dir.path().join("out/result.json").exists());
    // And `run` refuses the refused job the same way.
    let run = run_job(dir.path(), &job(dir.path(), "sample", json!({"pairs": 0})));
    assert_eq!(run.code(), 2);
    assert!(run.stderr().contains("pairs"));
}
