//! Events on stdout: one JSON object per line, flushed at once (docs/protocol.md, "Events").
//!
//! Every event carries `event` and `t`, the seconds since the program started (`main` takes
//! an `Instant` before anything else and hands it to [`Events::new`]). Human-readable logs go
//! to stderr, never stdout. Tasks receive an `&Events` and call [`Events::phase`],
//! [`Events::progress`] and [`Events::metric`]; `main` emits `start` and `end`. A failed write
//! to stdout (the reader went away) is ignored: the task's own result still goes to
//! `result.json`.

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

/// Protocol version announced in the `start` event.
pub const PROTOCOL: u64 = 1;
/// Least time between two `progress` events of a phase.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// Where events go: stdout, or a buffer in tests.
enum Sink {
    Stdout,
    Buffer(Vec<u8>),
}

/// Writes protocol events as JSON lines.
pub struct Events {
    started: Instant,
    sink: Mutex<(Sink, Option<Instant>)>,
}

impl Events {
    /// Events to stdout, timed from `started` (the program's start).
    pub fn new(started: Instant) -> Self {
        Events {
            started,
            sink: Mutex::new((Sink::Stdout, None)),
        }
    }

    /// Events kept in memory (see [`Events::captured`]), for tests.
    pub fn in_memory(started: Instant) -> Self {
        Events {
            started,
            sink: Mutex::new((Sink::Buffer(Vec::new()), None)),
        }
    }

    /// The lines written so far by an in-memory `Events` (empty for stdout).
    pub fn captured(&self) -> String {
        let guard = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        match &guard.0 {
            Sink::Buffer(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            Sink::Stdout => String::new(),
        }
    }

    /// Seconds since the program started.
    pub fn elapsed_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Write one event line with its extra `fields` (a JSON object) and flush it.
    pub fn emit(&self, event: &str, fields: Value) {
        let t = (self.elapsed_s() * 1e6).round() / 1e6;
        let mut record = Map::new();
        record.insert("event".into(), event.into());
        record.insert("t".into(), t.into());
        if let Value::Object(extra) = fields {
            record.extend(extra);
        }
        let mut line = Value::Object(record).to_string();
        line.push('\n');
        let mut guard = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        match &mut guard.0 {
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
            }
            Sink::Buffer(bytes) => bytes.extend_from_slice(line.as_bytes()),
        }
    }

    /// `start`: the first line, as soon as the job is parsed.
    pub fn start(&self, impl_id: &str, task: &str) {
        self.emit(
            "start",
            json!({"impl": impl_id, "task": task, "protocol": PROTOCOL}),
        );
    }

    /// `end`: the last line.
    pub fn end(&self, ok: bool) {
        self.emit("end", json!({"ok": ok}));
    }

    /// Run `body` between `phase` begin and end events (end only if it succeeds).
    pub fn phase<T, E>(&self, name: &str, body: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        self.emit("phase", json!({"name": name, "state": "begin"}));
        let value = body()?;
        self.emit("phase", json!({"name": name, "state": "end"}));
        Ok(value)
    }

    /// `progress`, at most every 0.1 s (always when `done == total`).
    pub fn progress(&self, done: usize, total: usize, unit: &str) {
        let now = Instant::now();
        {
            let mut guard = self.sink.lock().unwrap_or_else(|e| e.into_inner());
            let recent = guard.1.is_some_and(|last| now - last < PROGRESS_INTERVAL);
            if recent && done < total {
                return;
            }
            guard.1 = Some(now);
        }
        self.emit(
            "progress",
            json!({"done": done, "total": total, "unit": unit}),
        );
    }

    /// `metric`: a named value, optionally at a step or epoch.
    pub fn metric(&self, name: &str, value: f64, step: Option<u64>, epoch: Option<u64>) {
        let mut fields = json!({"name": name, "value": value});
        if let Some(step) = step {
            fields["step"] = step.into();
        }
        if let Some(epoch) = epoch {
            fields["epoch"] = epoch.into();
        }
        self.emit("metric", fields);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(events: &Events) -> Vec<Value> {
        events
            .captured()
            .lines()
            .map(|line| serde_json::from_str(line).expect("json line"))
            .collect()
    }

    #[test]
    fn writes_one_json_object_per_line_with_event_and_t() {
        let events = Events::in_memory(Instant::now());
        events.start("rust-native", "sample");
        let value: Result<u32, ()> = events.phase("sample", || Ok(3));
        assert_eq!(value, Ok(3));
        events.metric("loss", 0.5, Some(10), None);
        events.end(true);
        let all = lines(&events);
        let names: Vec<&str> = all.iter().map(|e| e["event"].as_str().unwrap()).collect();
        assert_eq!(names, ["start", "phase", "phase", "metric", "end"]);
        assert_eq!(all[0]["protocol"], 1);
        assert_eq!(all[0]["impl"], "rust-native");
        assert_eq!(all[2]["state"], "end");
        assert_eq!(all[3]["step"], 10);
        assert!(all[3].get("epoch").is_none());
        assert!(all
            .iter()
            .all(|e| e["t"].as_f64().is_some_and(|t| t >= 0.0)));
        assert!(events.captured().starts_with("{\"event\":\"start\",\"t\":"));
    }

    #[test]
    fn failed_phase_has_no_end_and_progress_is_throttled() {
        let events = Events::in_memory(Instant::now());
        let failed: Result<(), &str> = events.phase("load", || Err("bad"));
        assert!(failed.is_err());
        for done in 1..=1000 {
            events.progress(done, 1000, "images");
        }
        let all = lines(&events);
        assert_eq!(
            all.len(),
            1 + all.iter().filter(|e| e["event"] == "progress").count()
        );
        let progress: Vec<u64> = all[1..]
            .iter()
            .map(|e| e["done"].as_u64().unwrap())
            .collect();
        assert_eq!(progress.first(), Some(&1));
        assert_eq!(progress.last(), Some(&1000));
        assert!(progress.len() < 50, "{progress:?}");
    }
}
