//! `oneshot`: the command line of the Rust implementation (protocol v1, docs/protocol.md).
//!
//! `oneshot run JOB.json` runs one job and writes `result.json` in its `out_dir`;
//! `oneshot version` prints the versions as one JSON object. On failure: one line
//! `error: <cause chain>` on stderr, a `result.json` with `ok: false` when `out_dir` is known,
//! exit code 2 for invalid input and 1 for a failure while running.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use oneshot::events::Events;
use oneshot::result::{versions, Record};
use oneshot::tasks::{run_job_file, RunContext};

#[derive(Parser)]
#[command(
    name = "oneshot",
    version,
    about = "The Rust implementation of oneshot-bench"
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
    /// Print the versions of oneshot, rustc, the build and its crates as JSON.
    Version,
}

fn main() -> ExitCode {
    let started = Instant::now();
    match Cli::parse().command {
        Command::Run { job } => run(&job, started),
        Command::Version => {
            let line = serde_json::Value::Object(versions()).to_string();
            // A closed stdout is the reader's business, not a panic.
            let _ = writeln!(std::io::stdout(), "{line}");
            ExitCode::SUCCESS
        }
    }
}

fn run(job: &std::path::Path, started: Instant) -> ExitCode {
    let events = Events::new(started);
    let mut context = RunContext::default();
    match run_job_file(job, &events, &mut context) {
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
