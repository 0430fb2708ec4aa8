//! The `sample` task: scan `dataset.root`, draw `params.pairs` pairs, write `pairs.tsv`.
//!
//! Metrics (docs/protocol.md): `pairs`; `pairs_per_s`, the pairs divided by the seconds from
//! the start of the directory scan to the pair file written; `task_s`, the task's whole time.

use std::time::Instant;

use crate::error::{Error, Result};
use crate::events::Events;
use crate::job::Job;
use crate::pairfile::write_pairs;
use crate::params::SampleParams;
use crate::result::Outcome;
use crate::rng::Rng;
use crate::sampling::{sample_pairs, Dataset};
use crate::tasks::common::PAIRS_FILE;

/// Run `sample` for `job`.
pub fn run(job: &Job, params: &SampleParams, events: &Events) -> Result<Outcome> {
    let task_start = Instant::now();
    let (scan_start, dataset, pairs) = events.phase("sample", || {
        let scan_start = Instant::now();
        crate::extra_work::run();
        let dataset = Dataset::scan(&job.dataset.root)?;
        let mut rng = Rng::new(job.seed, "pairs");
        let pairs = sample_pairs(&dataset, params.pairs, params.same_alphabet, &mut rng)?;
        Ok::<_, Error>((scan_start, dataset, pairs))
    })?;
    let path = job.out_dir.join(PAIRS_FILE);
    events.phase("write", || write_pairs(&path, dataset.paths(), &pairs))?;
    let pairs_s = scan_start.elapsed().as_secs_f64();
    Ok(Outcome::default()
        .metric("pairs", pairs.len())
        .metric("pairs_per_s", pairs.len() as f64 / pairs_s)
        .metric("task_s", task_start.elapsed().as_secs_f64())
        .output("pairs", PAIRS_FILE))
}
