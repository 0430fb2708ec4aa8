//! Command-line tests of `serve`: the built `oneshot` binary answers Koch episodes of a small
//! synthetic data set one query at a time, back to back and at Poisson arrivals, writes
//! `serve.tsv` and `episodes.tsv`, and refuses bad params with one line (exit 2).

use std::fs;
use std::path::Path;

use serde_json::{json, Value};

#[path = "../../core/testkit/cli.rs"]
mod cli;

use cli::{write_dataset, TINY};

const BIN: &str = env!("CARGO_BIN_EXE_oneshot");

fn run(dir: &Path, name: &str, task: &str, extra: Value) -> (i32, String, Value) {
    cli::run_job(BIN, dir, name, task, extra)
}

/// The data set and `init` weights of the tiny network; the serve job's `model` and `inputs`.
fn setup() -> (tempfile::TempDir, Value) {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(&dir.path().join("data"));
    let model: Value = serde_json::from_str(TINY).expect("model");
    let (code, err, _) = run(dir.path(), "init", "init", json!({"model": model.clone()}));
    assert_eq!(code, 0, "{err}");
    let weights = dir.path().join("init/weights.safetensors");
    let base = json!({"model": model, "inputs": {"pairs": null, "weights": weights}});
    (dir, base)
}

fn with_params(base: &Value, params: Value) -> Value {
    let mut job = base.clone();
    job["params"] = params;
    job
}

fn rows(path: &Path) -> Vec<Vec<String>> {
    let text = fs::read_to_string(path).expect("tsv");
    text.lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

#[test]
fn serves_the_query_sequence_and_writes_its_files() {
    let (dir, base) = setup();
    let params = json!({"ways": 4, "episodes": 2, "queries": 13, "warmup_queries": 3});
    let (code, err, result) = run(dir.path(), "b2b", "serve", with_params(&base, params));
    assert_eq!(code, 0, "{err}");
    let m = &result["metrics"];
    assert_eq!(m["queries"], 13);
    assert_eq!(m["episodes"], 2);
    let serve = rows(&dir.path().join("b2b/serve.tsv"));
    let header = "query episode index phase arrival_s latency_s predicted answer correct";
    assert_eq!(serve[0].join(" "), header);
    assert_eq!(serve.len(), 1 + 1 + 3 + 13);
    // Query q is query q mod 8 of the two episodes' queries laid end to end.
    for (q, row) in serve[1..].iter().enumerate() {
        assert_eq!(row[0], q.to_string());
        let (episode, index) = ((q % 8) / 4, q % 4);
        assert_eq!(row[1], episode.to_string(), "{row:?}");
        assert_eq!(row[2], index.to_string(), "{row:?}");
        assert_eq!(row[7], index.to_string(), "Koch's query k answers k");
        let phase = ["cold", "warmup", "measured"][usize::from(q > 0) + usize::from(q > 3)];
        assert_eq!(row[3], phase);
        let correct = u8::from(row[6] == row[7]).to_string();
        assert_eq!(row[8], correct);
        assert!(row[5].parse::<f64>().expect("latency") > 0.0);
    }
    // Back to back: each arrival after the previous one's.
    let arrivals: Vec<f64> = serve[1..].iter().map(|r| r[4].parse().unwrap()).collect();
    assert_eq!(arrivals[0], 0.0);
    assert!(arrivals.windows(2).all(|w| w[1] >= w[0]));
    // The query sequence wraps: the two episodes enrolled in turn, the first one cold.
    let enrol = m["enrol_s"].as_array().expect("enrol_s");
    assert_eq!(
        enrol.len(),
        5,
        "queries 0, 4, 8, 12 and 16 change the episode"
    );
    let episodes = rows(&dir.path().join("b2b/episodes.tsv"));
    assert_eq!(episodes[0].join(" "), "episode role index path answer");
    assert_eq!(episodes.len(), 1 + 2 * 8);
    assert_eq!(episodes[5][..3], ["0", "query", "0"]);
    for name in [
        "latency_p50_s",
        "latency_p90_s",
        "latency_p99_s",
        "latency_max_s",
    ] {
        assert!(m[name].as_f64().expect(name) > 0.0, "{name}");
    }
    assert!(m["latency_p50_s"].as_f64() <= m["latency_max_s"].as_f64());
    for name in [
        "queries_per_s",
        "cold_query_s",
        "first_answer_s",
        "setup_s",
        "task_s",
    ] {
        assert!(m[name].as_f64().expect(name) > 0.0, "{name}");
    }
    assert!(m["steady_rss_bytes"].as_u64().expect("rss") > 1 << 20);
    assert!(m.get("idle_cpu_s").is_none(), "poisson only");
    let right = serve[5..].iter().filter(|r| r[8] == "1").count() as f64;
    assert_eq!(m["accuracy"].as_f64(), Some(right / 13.0));
}

#[test]
fn poisson_arrivals_sleep_between_queries() {
    let (dir, base) = setup();
    let params = json!({"ways": 3, "episodes": 1, "queries": 40, "warmup_queries": 2,
                        "arrival": "poisson", "rate_per_s": 100.0});
    let (code, err, result) = run(dir.path(), "poisson", "serve", with_params(&base, params));
    assert_eq!(code, 0, "{err}");
    let m = &result["metrics"];
    let wall = m["idle_wall_s"].as_f64().expect("idle_wall_s");
    let cpu = m["idle_cpu_s"].as_f64().expect("idle_cpu_s");
    // 40 gaps of mean 10 ms, far more than a tiny query takes: mostly asleep.
    assert!(wall > 0.1, "{wall}");
    assert!(cpu < 0.5 * wall, "idle CPU {cpu} s over {wall} s");
    let serve = rows(&dir.path().join("poisson/serve.tsv"));
    let last: f64 = serve.last().expect("row")[4].parse().expect("arrival");
    assert!(last > 0.15, "{last}");
    // The schedule follows the seed.
    let again = with_params(
        &base,
        json!({"ways": 3, "episodes": 1, "queries": 40, "warmup_queries": 2,
               "arrival": "poisson", "rate_per_s": 100.0}),
    );
    let (code, err, _) = run(dir.path(), "poisson_again", "serve", again);
    assert_eq!(code, 0, "{err}");
    let other = rows(&dir.path().join("poisson_again/serve.tsv"));
    let gap = |rows: &[Vec<String>], q: usize| -> f64 {
        rows[q + 1][4].parse::<f64>().unwrap() - rows[q][4].parse::<f64>().unwrap()
    };
    // Arrival gaps after the first are the schedule's own, within the sleeps' jitter.
    assert!((gap(&serve, 30) - gap(&other, 30)).abs() < 0.005);
}

#[test]
fn bad_params_exit_2_with_one_line() {
    let (dir, base) = setup();
    let cases = [
        (json!({"queries": 0}), "params.queries"),
        (json!({"ways": 1}), "params.ways"),
        (json!({"arrival": "burst"}), "params.arrival"),
        (json!({"rate_per_s": 0.0}), "params.rate_per_s"),
        (
            json!({"warmup_queries": 1_000_001}),
            "params.warmup_queries",
        ),
        (json!({"protocol": "lake"}), "params.runs"),
        (json!({"ways": 9}), "the largest has 4"),
    ];
    for (k, (params, named)) in cases.into_iter().enumerate() {
        let (code, err, _) = run(
            dir.path(),
            &format!("bad{k}"),
            "serve",
            with_params(&base, params),
        );
        assert_eq!(code, 2, "{named}: {err}");
        assert!(err.contains(named), "{named}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    let mut no_weights = with_params(&base, json!({"ways": 4}));
    no_weights["inputs"]["weights"] = Value::Null;
    let (code, err, _) = run(dir.path(), "no_weights", "serve", no_weights);
    assert_eq!(code, 2);
    assert!(err.contains("inputs.weights"), "{err}");
}
