//! The command line of every Rust binary (protocol v1, docs/protocol.md).
//!
//! `oneshot run JOB.json` runs one job and writes `result.json` in its `out_dir`;
//! `oneshot check JOB.json...` reads and validates each job as `run` does before its `start`
//! event, runs none of them and prints one JSON line per job (`{"job", "accepted", "exit_code",
//! "error"}`), so that one process answers many cases; `oneshot version` prints the versions as
//! one JSON object. On failure: one line
//! `error: <cause chain>` on stderr, a `result.json` with `ok: false` when `out_dir` is known,
//! exit code 2 for invalid input and 1 for a failure while running. A back-end's `main` is
//! `cli::main::<Backend>(build_facts!())`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

use crate::events::Events;
use crate::network::Network;
use crate::program::set_impl_id;
use crate::result::{set_build_facts, versions, BuildFacts, Record};
use crate::tasks::{admit_job_file, run_job_file, RunContext};

/// The build facts of the calling binary, from its build.rs (core/build_support.rs).
#[macro_export]
macro_rules! build_facts {
    () => {
        $crate::result::BuildFacts {
            package: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
            rustc: env!("ONESHOT_RUSTC_VERSION"),
            profile: env!("ONESHOT_PROFILE"),
            crates: env!("ONESHOT_CRATES"),
        }
    };
}

#[derive(Parser)]
#[command(
    name = "oneshot",
    version,
    about = "A Rust implementation of oneshot-bench"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one job file (JSON, protocol v1) and write its result.json.
    Run {
        /// Path of the job file.
        job: PathBuf,
    },
    /// Validate job files as `run` does before starting, run none; one JSON line per job.
    Check {
        /// Paths of the job files.
        #[arg(required = true)]
        jobs: Vec<PathBuf>,
    },
    /// Print the versions of the program, rustc, the build and its crates as JSON.
    Version,
}

/// Run the command line for back-end `N`.
pub fn main<N: Network>(facts: BuildFacts) -> ExitCode {
    let started = Instant::now();
    set_impl_id(N::ID);
    set_build_facts(facts, N::versions());
    // A bad ONESHOT_EXTRA_WORK or ONESHOT_EXTRA_MEMORY ends the program here, before any job
    // work (extra_work.rs).
    crate::extra_work::iterations();
    crate::extra_work::memory_bytes();
    match Cli::parse().command {
        Command::Run { job } => run::<N>(&job, started),
        Command::Check { jobs } => check(&jobs),
        Command::Version => {
            let line = serde_json::Value::Object(versions()).to_string();
            // A closed stdout is the reader's business, not a panic.
            let _ = writeln!(std::io::stdout(), "{line}");
            ExitCode::SUCCESS
        }
    }
}

fn run<N: Network>(job: &Path, started: Instant) -> ExitCode {
    let events = Events::new(started);
    let mut context = RunContext::default();
    match run_job_file::<N>(job, &events, &mut context) {
        Ok(()) => {
            events.end(true);
            ExitCode::SUCCESS
        }
        Err(err) => {
            let message = err.chain();
            eprintln!("error: {message}");
            if let Some(out_dir) = &context.out_dir {
                if let Err(write_err) = Record::failure(&context.task, message).write(out_dir) {
                    eprintln!("error: {}", write_err.chain());
                }
            }
            events.end(false);
            ExitCode::from(err.exit_code())
        }
    }
}

/// `oneshot check`: one JSON line per job, in order; exit 0 once every job has its line.
fn check(jobs: &[PathBuf]) -> ExitCode {
    let mut out = std::io::stdout().lock();
    for job in jobs {
        let mut context = RunContext::default();
        let line = match admit_job_file(job, &mut context) {
            Ok(_) => serde_json::json!({"job": job, "accepted": true, "exit_code": 0}),
            Err(err) => serde_json::json!({
                "job": job,
                "accepted": false,
                "exit_code": err.exit_code(),
                "error": err.chain(),
            }),
        };
        if writeln!(out, "{line}").is_err() {
            return ExitCode::from(crate::error::EXIT_RUNTIME_FAILURE);
        }
    }
    ExitCode::SUCCESS
}
