//! `out_dir/result.json`, written atomically (docs/schemas/result.schema.json), and the
//! version facts it carries (also printed by `oneshot version`).
//!
//! The file is written to a temporary name in the same folder and renamed over the target, so
//! a reader never sees half a result. Metrics must be finite numbers (JSON has no NaN).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::program::impl_id;

/// Format version of result.json.
pub const FORMAT_VERSION: u64 = 1;
/// File name of the result in `out_dir`.
pub const RESULT_FILE: &str = "result.json";

/// One metric: a number or a list of numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Metric {
    Count(u64),
    Value(f64),
    List(Vec<f64>),
}

impl From<usize> for Metric {
    fn from(count: usize) -> Self {
        Metric::Count(count as u64)
    }
}

impl From<f64> for Metric {
    fn from(value: f64) -> Self {
        Metric::Value(value)
    }
}

/// What a task reports in result.json: its metrics and output files (relative to `out_dir`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub metrics: Vec<(String, Metric)>,
    pub outputs: Vec<(String, String)>,
}

impl Outcome {
    /// Add a metric (builder style).
    pub fn metric(mut self, name: &str, value: impl Into<Metric>) -> Self {
        self.metrics.push((name.to_owned(), value.into()));
        self
    }

    /// Add an output file (builder style).
    pub fn output(mut self, name: &str, file: &str) -> Self {
        self.outputs.push((name.to_owned(), file.to_owned()));
        self
    }
}

/// The content of one result.json.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub format_version: u64,
    #[serde(rename = "impl")]
    pub impl_id: &'static str,
    pub task: String,
    pub ok: bool,
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    pub metrics: Map<String, Value>,
    pub outputs: Map<String, Value>,
    pub versions: Map<String, Value>,
}

impl Record {
    /// A successful task's record; fails if a metric is not finite.
    pub fn success(task: &str, seed: u64, threads: usize, outcome: &Outcome) -> Result<Self> {
        let mut metrics = Map::new();
        for (name, metric) in &outcome.metrics {
            let finite = match metric {
                Metric::Count(_) => true,
                Metric::Value(v) => v.is_finite(),
                Metric::List(values) => values.iter().all(|v| v.is_finite()),
            };
            if !finite {
                return Err(Error::Runtime(format!(
                    "metric {name} is not finite ({metric:?}), expected finite numbers"
                )));
            }
            metrics.insert(
                name.clone(),
                serde_json::to_value(metric).unwrap_or(Value::Null),
            );
        }
        let outputs = outcome
            .outputs
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())));
        Ok(Record {
            seed: Some(seed),
            threads: Some(threads),
            metrics,
            outputs: outputs.collect(),
            ..Record::failure(task, String::new())
        }
        .with_ok())
    }

    /// A failed task's record carrying the one-line error message.
    pub fn failure(task: &str, error: String) -> Self {
        Record {
            format_version: FORMAT_VERSION,
            impl_id: impl_id(),
            task: task.to_owned(),
            ok: false,
            error: Some(error),
            seed: None,
            threads: None,
            metrics: Map::new(),
            outputs: Map::new(),
            versions: versions(),
        }
    }

    fn with_ok(mut self) -> Self {
        self.ok = true;
        self.error = None;
        self
    }

    /// Write `out_dir/result.json` atomically; returns its path.
    pub fn write(&self, out_dir: &Path) -> Result<PathBuf> {
        let target = out_dir.join(RESULT_FILE);
        let tmp = out_dir.join(format!(".{RESULT_FILE}.{}.tmp", std::process::id()));
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Runtime(format!("cannot serialise result.json: {e}")))?;
        text.push('\n');
        std::fs::write(&tmp, text).map_err(|e| Error::output(&tmp, "result", e))?;
        std::fs::rename(&tmp, &target).map_err(|e| Error::output(&target, "result", e))?;
        Ok(target)
    }
}

/// The CPU features this binary was compiled to use (`-C target-cpu=native` decides them).
pub fn target_features() -> Vec<&'static str> {
    let mut found = Vec::new();
    macro_rules! detect {
        ($($feature:tt),*) => {$(
            if cfg!(target_feature = $feature) {
                found.push($feature);
            }
        )*};
    }
    detect!("sse4.2", "avx", "avx2", "fma", "bmi2", "f16c", "avx512f", "avx512bw", "avx512vl");
    detect!("avx512vnni", "neon");
    found
}

/// Build facts of a binary, from its build.rs (`cli::build_facts!`).
#[derive(Debug, Clone, Copy)]
pub struct BuildFacts {
    /// The binary's package (`oneshot-native`, ...).
    pub package: &'static str,
    /// The package version.
    pub version: &'static str,
    /// The rustc version that built it.
    pub rustc: &'static str,
    /// The cargo profile (`release`, `debug`).
    pub profile: &'static str,
    /// `name=version,...` of the main crates, as resolved in Cargo.lock.
    pub crates: &'static str,
}

static FACTS: OnceLock<(BuildFacts, Map<String, Value>)> = OnceLock::new();

/// Record the running binary's build facts and its back-end's version facts (first call wins).
pub fn set_build_facts(facts: BuildFacts, backend: Map<String, Value>) {
    let _ = FACTS.set((facts, backend));
}

/// Versions of this program, the compiler, the build profile, target features, crates and the
/// back-end's own facts.
pub fn versions() -> Map<String, Value> {
    let mut map = Map::new();
    let mut put = |k: &str, v: Value| {
        map.insert(k.to_owned(), v);
    };
    match FACTS.get() {
        Some((facts, backend)) => {
            put("oneshot", Value::from(facts.version));
            put("package", Value::from(facts.package));
            put("rustc", Value::from(facts.rustc));
            put("profile", Value::from(facts.profile));
            put("target_features", Value::from(target_features().join(",")));
            for entry in facts.crates.split(',').filter(|e| !e.is_empty()) {
                let (name, version) = entry.split_once('=').unwrap_or((entry, "unknown"));
                put(name, Value::from(version));
            }
            for (k, v) in backend {
                put(k, v.clone());
            }
        }
        None => {
            put("oneshot", Value::from(env!("CARGO_PKG_VERSION")));
            put("target_features", Value::from(target_features().join(",")));
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_schema_shaped_record_atomically() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outcome = Outcome::default()
            .metric("pairs", 10usize)
            .metric("pairs_per_s", 123.5)
            .output("pairs", "pairs.tsv");
        crate::program::set_impl_id("rust-native");
        let path = Record::success("sample", 7, 2, &outcome)
            .expect("finite")
            .write(dir.path())
            .expect("write");
        let value: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(value["format_version"], 1);
        assert_eq!(value["impl"], "rust-native");
        assert_eq!(value["ok"], true);
        assert_eq!(value["error"], Value::Null);
        assert_eq!(value["seed"], 7);
        assert_eq!(value["metrics"]["pairs"], 10);
        assert_eq!(value["metrics"]["pairs_per_s"], 123.5);
        assert_eq!(value["outputs"]["pairs"], "pairs.tsv");
        assert_eq!(value["versions"]["oneshot"], env!("CARGO_PKG_VERSION"));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn failure_record_has_no_seed_and_the_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        Record::failure("load", "x: bad".into())
            .write(dir.path())
            .expect("write");
        let text = std::fs::read_to_string(dir.path().join(RESULT_FILE)).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["ok"], false);
        assert_eq!(value["error"], "x: bad");
        assert!(value.get("seed").is_none());
    }

    #[test]
    fn rejects_non_finite_metrics() {
        let outcome = Outcome::default().metric("loss", f64::NAN);
        let err = Record::success("train", 1, 1, &outcome).expect_err("nan");
        assert_eq!(err.exit_code(), 1);
        assert!(err.to_string().starts_with("metric loss is not finite"));
    }
}
