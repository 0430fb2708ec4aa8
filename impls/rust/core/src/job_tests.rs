//! Unit tests of job parsing (beside `job.rs`).

use serde_json::json;

use super::*;
use crate::params::{LoadParams, LoadSource, SampleParams};

fn sample_job() -> Value {
    json!({
        "format_version": 1,
        "task": "sample",
        "seed": 7,
        "threads": 2,
        "out_dir": "/tmp/out",
        "dataset": {"root": "/data/background", "eval_root": null},
        "inputs": {"pairs": null, "weights": null},
        "model": null,
        "params": {"pairs": 1000, "same_alphabet": 0.25}
    })
}

fn error_of(job: Value) -> String {
    let err = parse_job(job).expect_err("invalid job");
    assert_eq!(err.exit_code(), 2);
    err.to_string()
}

#[test]
fn parses_the_protocol_example() {
    let job = parse_job(sample_job()).expect("valid");
    assert_eq!(job.seed, 7);
    assert_eq!(job.threads, 2);
    assert_eq!(job.dataset.root, Path::new("/data/background"));
    assert_eq!(
        job.task,
        Task::Sample(SampleParams {
            pairs: 1000,
            same_alphabet: 0.25
        })
    );
}

#[test]
fn defaults_same_alphabet_and_optional_fields() {
    let mut raw = sample_job();
    raw["params"] = json!({"pairs": 3});
    raw.as_object_mut().expect("object").remove("model");
    raw["dataset"] = json!({"root": "/d"});
    raw["inputs"] = json!({});
    let job = parse_job(raw).expect("valid");
    assert_eq!(
        job.task,
        Task::Sample(SampleParams {
            pairs: 3,
            same_alphabet: 0.5
        })
    );
    assert!(job.model.is_none() && job.inputs.pairs.is_none() && job.dataset.eval_root.is_none());
}

#[test]
fn parses_load_and_the_largest_seed() {
    let mut raw = sample_job();
    raw["task"] = json!("load");
    raw["seed"] = json!(u64::MAX);
    raw["params"] = json!({"source": "dataset"});
    let job = parse_job(raw).expect("valid");
    assert_eq!(job.seed, u64::MAX);
    assert_eq!(
        job.task,
        Task::Load(LoadParams {
            source: LoadSource::Dataset
        })
    );
}

#[test]
fn rejects_unknown_fields_naming_them_with_their_path() {
    let mut raw = sample_job();
    raw["params"]["foo"] = json!(1);
    assert_eq!(
        error_of(raw),
        "params.foo: unknown field `foo`, expected `pairs` or `same_alphabet`"
    );
    let mut raw = sample_job();
    raw["colour"] = json!("red");
    let message = error_of(raw);
    assert!(
        message.starts_with("colour: unknown field `colour`, expected one of"),
        "{message}"
    );
    let mut raw = sample_job();
    raw["dataset"]["extra"] = json!(true);
    assert!(error_of(raw).starts_with("dataset.extra: unknown field `extra`"));
}

#[test]
fn rejects_wrong_types_and_missing_fields_naming_them() {
    let mut raw = sample_job();
    raw["params"]["pairs"] = json!("many");
    assert!(error_of(raw).starts_with("params.pairs: invalid type: string \"many\""));
    let mut raw = sample_job();
    raw["dataset"]["root"] = json!(3);
    assert!(error_of(raw).starts_with("dataset.root: invalid type: integer `3`"));
    let mut raw = sample_job();
    raw.as_object_mut().expect("object").remove("seed");
    assert_eq!(error_of(raw), "job: missing field `seed`");
    let mut raw = sample_job();
    raw["seed"] = json!(-1);
    assert!(error_of(raw).starts_with("seed: invalid value: integer `-1`"));
    let mut raw = sample_job();
    raw["task"] = json!("load");
    raw["params"] = json!({"source": "files"});
    assert!(error_of(raw).starts_with("params.source: unknown variant `files`"));
}

#[test]
fn rejects_out_of_range_values() {
    let cases = [
        (
            "threads",
            json!(0),
            "threads: got 0, expected an integer in [1, 1024]",
        ),
        (
            "threads",
            json!(2000),
            "threads: got 2000, expected an integer in [1, 1024]",
        ),
        (
            "out_dir",
            json!(""),
            "out_dir: got an empty string, expected a folder",
        ),
    ];
    for (field, value, expected) in cases {
        let mut raw = sample_job();
        raw[field] = value;
        assert_eq!(error_of(raw), expected);
    }
    let mut raw = sample_job();
    raw["params"]["pairs"] = json!(0);
    assert_eq!(error_of(raw), "params.pairs: got 0, expected >= 1");
    let mut raw = sample_job();
    raw["params"]["same_alphabet"] = json!(1.5);
    assert_eq!(
        error_of(raw),
        "params.same_alphabet: got 1.5, expected a number in [0, 1]"
    );
    let mut raw = sample_job();
    raw["model"] =
        json!({"filters": [1, 2, 3, 4], "kernels": [1, 2, 3, 4], "embedding": 8, "input": 4});
    assert_eq!(error_of(raw), "model.input: got 4, expected >= 8");
    let mut raw = sample_job();
    raw["model"] =
        json!({"filters": [1, 2, 3], "kernels": [1, 2, 3, 4], "embedding": 8, "input": 9});
    assert!(error_of(raw).starts_with("model.filters: invalid length 3"));
}

#[test]
fn rejects_other_format_versions_and_tasks() {
    let mut raw = sample_job();
    raw["format_version"] = json!(2);
    assert_eq!(
        error_of(raw),
        "format_version: got 2, expected 1 (protocol v1)"
    );
    let mut raw = sample_job();
    raw.as_object_mut()
        .expect("object")
        .remove("format_version");
    assert!(error_of(raw).starts_with("format_version: got nothing"));
    let mut raw = sample_job();
    raw["task"] = json!("dance");
    assert_eq!(
        error_of(raw),
        "task: got string \"dance\", expected one of `sample`, `load`, `init`, `forward`, \
         `step`, `augment`, `evaluate`, `train`, `serve`"
    );
    assert_eq!(
        error_of(json!([1, 2])),
        "job: got [1,2], expected an object"
    );
}

#[test]
fn finds_out_dir_of_an_invalid_job_only_if_it_exists() {
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = json!({"out_dir": dir.path(), "bogus": 1});
    assert_eq!(known_out_dir(&raw).as_deref(), Some(dir.path()));
    assert_eq!(known_out_dir(&json!({"out_dir": "/nonexistent/x"})), None);
    assert_eq!(known_out_dir(&json!({"out_dir": 3})), None);
}

#[test]
fn read_job_names_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("job.json");
    std::fs::write(&path, "{not json").expect("write");
    let message = read_job(&path).expect_err("bad json").to_string();
    assert!(message.starts_with(&format!("{}: not a JSON job file (", path.display())));
    let err = read_job(&dir.path().join("none.json")).expect_err("missing");
    assert!(err
        .chain()
        .contains("none.json: cannot read the job file: "));
}

#[test]
fn rejects_arrays_where_objects_are_expected() {
    let mut raw = sample_job();
    raw["params"] = json!([5, 0.5]);
    assert_eq!(error_of(raw), "params: got [5,0.5], expected an object");
    let mut raw = sample_job();
    raw["dataset"] = json!(["/d", null]);
    assert_eq!(
        error_of(raw),
        "dataset: got [\"/d\",null], expected an object"
    );
    let mut raw = sample_job();
    raw["model"] = json!([]);
    assert_eq!(error_of(raw), "model: got [], expected an object or null");
}

/// A network task's job (`model` and `params` as given).
fn network_job(task: &str, params: Value) -> Value {
    let mut raw = sample_job();
    raw["task"] = json!(task);
    raw["model"] =
        json!({"filters": [4, 8, 8, 16], "kernels": [5, 3, 2, 2], "embedding": 32, "input": 32});
    raw["params"] = params;
    raw
}

#[test]
fn parses_warm_up_params_with_their_defaults() {
    use crate::params::{EvaluateParams, ForwardParams, StepParams, TrainParams};
    let parsed = |task: &str, params: Value| parse_job(network_job(task, params)).expect("valid");
    let Task::Forward(p) = parsed("forward", json!({})).task else {
        panic!("forward")
    };
    assert_eq!((p.batch, p.warmup_batches), (64, 1));
    let Task::Forward(p) = parsed("forward", json!({"warmup_batches": 0})).task else {
        panic!("forward")
    };
    assert_eq!(p.warmup_batches, 0);
    let Task::Step(p) = parsed("step", json!({"warmup_steps": 1_000_000})).task else {
        panic!("step")
    };
    assert_eq!(p.warmup_steps, 1_000_000);
    let Task::Train(p) = parsed("train", json!({})).task else {
        panic!("train")
    };
    assert_eq!(p, TrainParams::default());
    assert_eq!(p.warmup_steps, 1);
    let Task::Train(p) = parsed("train", json!({"warmup_steps": 3})).task else {
        panic!("train")
    };
    assert_eq!(p.warmup_steps, 3);
    let Task::Evaluate(p) = parsed("evaluate", json!({"scorer": "mhd"})).task else {
        panic!("evaluate")
    };
    assert_eq!(p.warmup_batches, 1);
    assert_eq!(EvaluateParams::default().warmup_batches, 1);
    assert_eq!(ForwardParams::default().warmup_batches, 1);
    assert_eq!(StepParams::default().warmup_steps, 1);
}

#[test]
fn rejects_bad_warm_up_params_naming_them() {
    let cases = [
        ("forward", "warmup_batches"),
        ("step", "warmup_steps"),
        ("train", "warmup_steps"),
        ("evaluate", "warmup_batches"),
    ];
    for (task, key) in cases {
        let message = error_of(network_job(task, json!({key: -1})));
        assert!(
            message.starts_with(&format!("params.{key}: invalid value: integer `-1`")),
            "{task}: {message}"
        );
        assert_eq!(
            error_of(network_job(task, json!({key: 1_000_001}))),
            format!("params.{key}: got 1000001, expected an integer in [0, 1000000]"),
            "{task}"
        );
        let message = error_of(network_job(task, json!({key: "two"})));
        assert!(
            message.starts_with(&format!("params.{key}: invalid type: string \"two\"")),
            "{task}: {message}"
        );
        let message = error_of(network_job(task, json!({key: 1.5})));
        assert!(
            message.starts_with(&format!("params.{key}: invalid type: floating point")),
            "{task}: {message}"
        );
    }
    // Unknown keys are still rejected, the warm-up key among the expected ones.
    let message = error_of(network_job("forward", json!({"warmup": 1})));
    assert_eq!(
        message,
        "params.warmup: unknown field `warmup`, expected `batch` or `warmup_batches`"
    );
    for task in ["step", "train", "evaluate"] {
        let message = error_of(network_job(task, json!({"warmup": 1})));
        assert!(
            message.starts_with("params.warmup: unknown field `warmup`, expected one of")
                && message.contains("`warmup_"),
            "{task}: {message}"
        );
    }
}

#[test]
fn parses_inputs_onnx_as_a_path_or_null() {
    let mut raw = network_job("forward", json!({}));
    raw["inputs"] = json!({"pairs": "/p.tsv", "weights": "/w.safetensors", "onnx": "/m.onnx"});
    let job = parse_job(raw).expect("valid");
    assert_eq!(job.inputs.onnx.as_deref(), Some(Path::new("/m.onnx")));
    assert_eq!(
        job.inputs.weights.as_deref(),
        Some(Path::new("/w.safetensors"))
    );
    let mut raw = network_job("forward", json!({}));
    raw["inputs"]["onnx"] = Value::Null;
    assert!(parse_job(raw).expect("valid").inputs.onnx.is_none());
    // Absent, as every job of an implementation without `model_file: onnx` has it.
    assert!(parse_job(network_job("forward", json!({})))
        .expect("valid")
        .inputs
        .onnx
        .is_none());
}

#[test]
fn rejects_an_inputs_onnx_that_is_not_a_path() {
    let mut raw = network_job("forward", json!({}));
    raw["inputs"]["onnx"] = json!(3);
    let message = error_of(raw);
    assert!(
        message.starts_with("inputs.onnx: invalid type: integer `3`"),
        "{message}"
    );
    let mut raw = network_job("forward", json!({}));
    raw["inputs"]["onnx_file"] = json!("/m.onnx");
    let message = error_of(raw);
    assert!(
        message.starts_with("inputs.onnx_file: unknown field `onnx_file`")
            && message.contains("`onnx`"),
        "{message}"
    );
}
