//! Tests of serve.rs's parts that need no network: phases, arrivals, percentiles, the
//! process clocks and `serve.tsv`. The loop itself runs end to end in the back-ends' command
//! line tests (impls/rust/native/tests/serve.rs).

use super::*;

#[test]
fn the_query_sequence_is_cold_then_warm_up_then_measured() {
    let phases: Vec<Phase> = (0..5).map(|q| Phase::of(q, 2)).collect();
    use Phase::*;
    assert_eq!(phases, [Cold, Warmup, Warmup, Measured, Measured]);
    assert_eq!(Phase::of(1, 0), Measured);
}

#[test]
fn poisson_gaps_have_mean_one_over_rate_and_follow_the_seed() {
    let gaps = poisson_gaps(7, 20.0, 400);
    assert_eq!(gaps, poisson_gaps(7, 20.0, 400));
    assert_ne!(gaps, poisson_gaps(8, 20.0, 400));
    assert!(gaps.iter().all(|&g| g >= 0.0 && g.is_finite()));
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    // Exponential gaps: the mean of 400 has a standard error of 5% of 1 / rate.
    assert!((mean - 0.05).abs() < 0.01, "{mean}");
    // The first gap is the first uniform of Rng(seed, "arrivals") through -ln(1 - u) / rate.
    let u = Rng::new(7, "arrivals").uniform();
    assert_eq!(gaps[0], -(1.0 - u).ln() / 20.0);
}

#[test]
fn nearest_rank_percentiles() {
    let sorted: Vec<f64> = (1..=10).map(f64::from).collect();
    assert_eq!(nearest_rank(&sorted, 0.5), 5.0);
    assert_eq!(nearest_rank(&sorted, 0.9), 9.0);
    assert_eq!(nearest_rank(&sorted, 0.99), 10.0);
    assert_eq!(nearest_rank(&sorted, 1.0), 10.0);
    assert_eq!(nearest_rank(&[3.0], 0.5), 3.0);
    assert!(nearest_rank(&[], 0.5).is_nan());
}

#[test]
fn the_process_clocks_read() {
    assert!(resident_bytes() > 1 << 20);
    let before = process_cpu_s();
    let mut x = 0u64;
    for i in 0..5_000_000u64 {
        x = x.wrapping_mul(31).wrapping_add(i);
    }
    std::hint::black_box(x);
    assert!(process_cpu_s() > before);
}

#[test]
fn waiting_sleeps_until_the_arrival() {
    // (The CPU seconds are the whole process's, other tests' threads included: the command
    // line tests check them, in a process of their own.)
    let arrival = Instant::now() + Duration::from_millis(30);
    let (wall, cpu) = wait_until(arrival);
    assert!(Instant::now() >= arrival);
    assert!((0.02..1.0).contains(&wall), "{wall}");
    assert!(cpu >= 0.0, "{cpu}");
    assert_eq!(wait_until(Instant::now()), (0.0, 0.0));
}

#[test]
fn serve_tsv_has_the_protocol_columns() {
    let answered = [
        Answered {
            episode: 0,
            index: 1,
            phase: Phase::Cold,
            arrival_s: 0.0,
            latency_s: 0.25,
            predicted: Some(1),
            answer: 1,
        },
        Answered {
            episode: 1,
            index: 0,
            phase: Phase::Measured,
            arrival_s: 1.5,
            latency_s: 0.125,
            predicted: None,
            answer: 0,
        },
    ];
    let text = format_serve(&answered);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], SERVE_HEADER);
    assert_eq!(lines[1], "0\t0\t1\tcold\t0.000000000\t0.250000000\t1\t1\t1");
    assert_eq!(
        lines[2],
        "1\t1\t0\tmeasured\t1.500000000\t0.125000000\t-\t0\t0"
    );
    let metrics = latency_metrics(&answered, Outcome::default());
    let json = serde_json::to_string(&metrics_of(metrics)).unwrap();
    assert!(json.contains("\"accuracy\":0.0"), "{json}");
    assert!(json.contains("\"cold_query_s\":0.25"), "{json}");
    assert!(json.contains("\"latency_max_s\":0.125"), "{json}");
}

fn metrics_of(outcome: Outcome) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (name, value) in outcome.metrics {
        let value = match value {
            Metric::Count(c) => serde_json::json!(c),
            Metric::Value(v) => serde_json::json!(v),
            Metric::List(l) => serde_json::json!(l),
        };
        map.insert(name, value);
    }
    serde_json::Value::Object(map)
}
