//! The `serve` task: one query at a time, as a deployed model answers them (docs/protocol.md,
//! "`serve`"), written once for every Rust back-end.
//!
//! Each episode's `ways` support images are embedded in one call (**enrol**, timed apart) and
//! kept; each query embeds its one image, scores it against the cached support embeddings with
//! the head (the same `head_forward` as `evaluate`) and answers with the strictly highest score
//! (a tie or NaN: `-`). Queries arrive back to back or at Poisson times from
//! `Rng(seed, "arrivals")`; the program sleeps (never spins) until an arrival, and over the
//! measured queries sums the idle wall and process CPU seconds of those sleeps. Writes
//! `serve.tsv` and `episodes.tsv`; emits the `first_answer` metric event the moment the cold
//! query is answered. Phases: `load` (episodes drawn or read, images decoded), `serve` (the
//! network built, then every query), `write`.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::data::image;
use crate::episodes::{draw_koch_episodes, format_episodes, lake_episodes, load_episodes};
use crate::episodes::{Episode, EpisodeSet};
use crate::error::{Error, Result};
use crate::events::Events;
use crate::job::Job;
use crate::network::head::head_forward;
use crate::network::init::InitName;
use crate::network::Network;
use crate::params::{Arrival, Protocol, ServeParams};
use crate::result::{Metric, Outcome};
use crate::rng::Rng;
use crate::sampling::Dataset;
use crate::scoring::judge_one;
use crate::tasks::common::{build_network, koch_root, lake_root, network_shape, start_params};

/// Output files of `serve`.
pub const SERVE_FILE: &str = "serve.tsv";
pub const EPISODES_FILE: &str = "episodes.tsv";
/// Header of `serve.tsv`.
pub const SERVE_HEADER: &str =
    "query\tepisode\tindex\tphase\tarrival_s\tlatency_s\tpredicted\tanswer\tcorrect";

/// The phase of a query in the sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Cold,
    Warmup,
    Measured,
}

impl Phase {
    /// Query `q`'s phase with `warmup` warm-up queries after the cold one.
    pub fn of(q: usize, warmup: usize) -> Phase {
        match q {
            0 => Phase::Cold,
            q if q <= warmup => Phase::Warmup,
            _ => Phase::Measured,
        }
    }

    /// The name written to `serve.tsv`.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Cold => "cold",
            Phase::Warmup => "warmup",
            Phase::Measured => "measured",
        }
    }
}

/// One answered query: its line of `serve.tsv`.
#[derive(Debug, Clone, PartialEq)]
pub struct Answered {
    pub episode: usize,
    pub index: usize,
    pub phase: Phase,
    pub arrival_s: f64,
    pub latency_s: f64,
    pub predicted: Option<usize>,
    pub answer: usize,
}

/// The Poisson arrival gaps `gap_1 .. gap_n` (seconds): `-ln(1 - u) / rate` with `u` the
/// uniform floats of `Rng(seed, "arrivals")`.
pub fn poisson_gaps(seed: u64, rate_per_s: f64, n: usize) -> Vec<f64> {
    let mut rng = Rng::new(seed, "arrivals");
    (0..n)
        .map(|_| -(1.0 - rng.uniform()).ln() / rate_per_s)
        .collect()
}

/// The nearest-rank percentile `p` of ascending `sorted`: the value at rank `ceil(p * n)`.
pub fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    let rank = ((p * n as f64).ceil() as usize).clamp(1, n.max(1));
    sorted.get(rank - 1).copied().unwrap_or(f64::NAN)
}

/// The process's CPU seconds, every thread (`CLOCK_PROCESS_CPUTIME_ID`).
pub fn process_cpu_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant of libc.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return f64::NAN;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// The program's resident set (`VmRSS` of /proc/self/status) in bytes; 0 where unreadable.
pub fn resident_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kb| kb * 1024)
}

/// The episodes of the job's protocol, their images decoded.
fn load(job: &Job, params: &ServeParams, events: &Events) -> Result<EpisodeSet> {
    let (root, episodes): (&Path, Vec<Episode>) = match params.protocol {
        Protocol::Lake => {
            let root = lake_root(params.runs.as_ref())?;
            (root, lake_episodes(root, params.ways)?)
        }
        Protocol::Koch => {
            let root = koch_root(job)?;
            let dataset = Dataset::scan(root)?;
            let mut rng = Rng::new(job.seed, "episodes");
            let drawn = draw_koch_episodes(&dataset, params.ways, params.episodes, &mut rng)?;
            (root, drawn)
        }
    };
    let mut progress = |done: usize, total: usize| events.progress(done, total, "images");
    load_episodes(root, episodes, &mut progress)
}

/// The network and the cached support embeddings of the episode enrolled.
struct Server<'n, N: Network> {
    net: &'n mut N,
    ways: usize,
    e: usize,
    weight: Vec<f32>,
    bias: f32,
    support: Vec<f32>,
    query: Vec<f32>,
    logits: Vec<f32>,
    scores: Vec<f64>,
    enrolled: Option<usize>,
}

impl<'n, N: Network> Server<'n, N> {
    fn new(net: &'n mut N, ways: usize) -> Result<Self> {
        let e = net.shape().embedding;
        let (weight, bias) = net.head()?;
        Ok(Server {
            net,
            ways,
            e,
            weight,
            bias,
            support: vec![0.0; ways * e],
            query: vec![0.0; e],
            logits: vec![0.0; ways],
            scores: vec![0.0; ways],
            enrolled: None,
        })
    }

    /// Embed episode `episode`'s support images in one call of `ways` images; its seconds.
    fn enrol(&mut self, set: &EpisodeSet, episode: usize) -> Result<f64> {
        let began = Instant::now();
        let rows: Vec<&[u8]> = set.support[episode]
            .iter()
            .map(|&i| image(&set.images, i))
            .collect();
        self.net.set_inputs(&rows, &[])?;
        self.net.embed(self.ways, &mut self.support)?;
        self.enrolled = Some(episode);
        Ok(began.elapsed().as_secs_f64())
    }

    /// Answer one packed query image: embed it alone, score it against the cached support
    /// embeddings, the position of the strictly highest score.
    fn answer(&mut self, packed: &[u8]) -> Result<Option<usize>> {
        self.net.set_inputs(&[packed], &[])?;
        self.net.embed(1, &mut self.query)?;
        let e = self.e;
        for (k, logit) in self.logits.chunks_exact_mut(1).enumerate() {
            let support = &self.support[k * e..(k + 1) * e];
            head_forward(&self.query, support, &self.weight, self.bias, logit);
        }
        for (score, &logit) in self.scores.iter_mut().zip(&self.logits) {
            *score = f64::from(logit);
        }
        Ok(judge_one(&self.scores))
    }
}

/// What the query loop measured besides the answers.
#[derive(Debug, Default)]
struct Served {
    answered: Vec<Answered>,
    enrol_s: Vec<f64>,
    first_answer_s: f64,
    steady_rss_bytes: u64,
    idle_wall_s: f64,
    idle_cpu_s: f64,
}

/// Sleep until `arrival` if it is in the future; the (wall, CPU) seconds slept.
fn wait_until(arrival: Instant) -> (f64, f64) {
    let now = Instant::now();
    if arrival <= now {
        return (0.0, 0.0);
    }
    let cpu = process_cpu_s();
    std::thread::sleep(arrival - now);
    let wall = now.elapsed().as_secs_f64();
    (wall, process_cpu_s() - cpu)
}

/// Every query of the sequence, one at a time (docs/protocol.md, "The query sequence").
fn serve_queries<N: Network>(
    server: &mut Server<'_, N>,
    set: &EpisodeSet,
    params: &ServeParams,
    seed: u64,
    events: &Events,
) -> Result<Served> {
    let order = set.query_order();
    let total = 1 + params.warmup_queries + params.queries;
    let gaps = match params.arrival {
        Arrival::Poisson => poisson_gaps(seed, params.rate_per_s, total - 1),
        Arrival::BackToBack => Vec::new(),
    };
    let mut served = Served {
        answered: Vec::with_capacity(total),
        ..Served::default()
    };
    let (mut first, mut schedule, mut offset) = (None::<Instant>, None::<Instant>, 0.0);
    let mut ready = Instant::now(); // the end of the latest enrolment: no latency starts before
    for q in 0..total {
        let (episode, index) = order[q % order.len()];
        if server.enrolled != Some(episode) {
            served.enrol_s.push(server.enrol(set, episode)?);
            ready = Instant::now();
        }
        let phase = Phase::of(q, params.warmup_queries);
        let arrival = match (params.arrival, q) {
            (Arrival::Poisson, q) if q >= 1 => {
                let start = *schedule.get_or_insert_with(Instant::now);
                offset += gaps[q - 1];
                start + Duration::from_secs_f64(offset)
            }
            _ => Instant::now(),
        };
        let (wall, cpu) = wait_until(arrival);
        if phase == Phase::Measured {
            served.idle_wall_s += wall;
            served.idle_cpu_s += cpu;
        }
        let first_arrival = *first.get_or_insert(arrival);
        let predicted = server.answer(image(&set.images, set.queries[episode][index]))?;
        let answered_at = Instant::now();
        if q == 0 {
            served.first_answer_s = events.elapsed_s();
            events.metric("first_answer", served.first_answer_s, None, None);
        }
        served.answered.push(Answered {
            episode,
            index,
            phase,
            arrival_s: arrival
                .saturating_duration_since(first_arrival)
                .as_secs_f64(),
            latency_s: (answered_at - arrival.max(ready)).as_secs_f64(),
            predicted,
            answer: set.episodes[episode].answers[index],
        });
        if q == params.warmup_queries {
            served.steady_rss_bytes = resident_bytes();
        }
    }
    Ok(served)
}

/// `serve.tsv`: one line per query (docs/protocol.md).
pub fn format_serve(answered: &[Answered]) -> String {
    let mut text = String::from(SERVE_HEADER);
    text.push('\n');
    for (q, a) in answered.iter().enumerate() {
        let predicted = a.predicted.map_or("-".to_owned(), |k| k.to_string());
        let correct = u8::from(a.predicted == Some(a.answer));
        text.push_str(&format!(
            "{q}\t{}\t{}\t{}\t{:.9}\t{:.9}\t{predicted}\t{}\t{correct}\n",
            a.episode,
            a.index,
            a.phase.name(),
            a.arrival_s,
            a.latency_s,
            a.answer
        ));
    }
    text
}

/// The metrics of the measured queries (docs/protocol.md, "`serve`", Metrics).
fn latency_metrics(answered: &[Answered], mut result: Outcome) -> Outcome {
    let measured: Vec<&Answered> = answered
        .iter()
        .filter(|a| a.phase == Phase::Measured)
        .collect();
    let right = measured
        .iter()
        .filter(|a| a.predicted == Some(a.answer))
        .count();
    let mut sorted: Vec<f64> = measured.iter().map(|a| a.latency_s).collect();
    sorted.sort_by(f64::total_cmp);
    let sum: f64 = sorted.iter().sum();
    result = result
        .metric("queries", measured.len())
        .metric("accuracy", right as f64 / measured.len().max(1) as f64);
    for (name, p) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)] {
        result = result.metric(&format!("latency_{name}_s"), nearest_rank(&sorted, p));
    }
    let cold = answered.first().map_or(f64::NAN, |a| a.latency_s);
    result
        .metric(
            "queries_per_s",
            measured.len() as f64 / sum.max(f64::MIN_POSITIVE),
        )
        .metric("cold_query_s", cold)
}

/// Run `serve` for `job`.
pub fn run<N: Network>(job: &Job, params: &ServeParams, events: &Events) -> Result<Outcome> {
    let task_start = Instant::now();
    let shape = network_shape(job)?;
    if job.inputs.weights.is_none() {
        return Err(Error::job(
            "inputs.weights",
            "got null, expected the trained weights file for task serve",
        ));
    }
    let start = start_params(job, shape, InitName::Paper)?;
    let mut setup_s = task_start.elapsed().as_secs_f64();
    let loading = Instant::now();
    let set = events.phase("load", || load(job, params, events))?;
    let load_s = loading.elapsed().as_secs_f64();
    let served = events.phase("serve", || {
        let building = Instant::now();
        let mut net = build_network::<N>(job, start, set.ways, false)?;
        setup_s += building.elapsed().as_secs_f64();
        let mut server = Server::new(&mut net, set.ways)?;
        serve_queries(&mut server, &set, params, job.seed, events)
    })?;
    let serve_path = job.out_dir.join(SERVE_FILE);
    let episodes_path = job.out_dir.join(EPISODES_FILE);
    events.phase("write", || {
        std::fs::write(&serve_path, format_serve(&served.answered))
            .map_err(|e| Error::output(&serve_path, "serve queries", e))?;
        std::fs::write(&episodes_path, format_episodes(&set.episodes))
            .map_err(|e| Error::output(&episodes_path, "episodes", e))
    })?;
    let mut result = latency_metrics(&served.answered, Outcome::default());
    result = result
        .metric("episodes", set.episodes.len())
        .metric("first_answer_s", served.first_answer_s)
        .metric("enrol_s", Metric::List(served.enrol_s))
        .metric("setup_s", setup_s)
        .metric("load_s", load_s)
        .metric("steady_rss_bytes", Metric::Count(served.steady_rss_bytes));
    if params.arrival == Arrival::Poisson {
        result = result
            .metric("idle_wall_s", served.idle_wall_s)
            .metric("idle_cpu_s", served.idle_cpu_s);
    }
    Ok(result
        .metric("task_s", task_start.elapsed().as_secs_f64())
        .output("serve", SERVE_FILE)
        .output("episodes", EPISODES_FILE))
}

#[cfg(test)]
#[path = "serve_tests.rs"]
mod tests;
