//! The `init` task: `weights.safetensors` for `model` drawn from the job seed with
//! `params.init` (`paper` or `he`); metric `parameters` (docs/protocol.md, "Network tasks").
//! The same in every Rust back-end: the initial weights are the core's, not a framework's.

use crate::error::Result;
use crate::events::Events;
use crate::job::Job;
use crate::network::{init, weights};
use crate::params::InitParams;
use crate::result::Outcome;
use crate::tasks::common::{network_shape, WEIGHTS_FILE};

/// Run `init` for `job`.
pub fn run(job: &Job, params: &InitParams, events: &Events) -> Result<Outcome> {
    let shape = network_shape(job)?;
    let drawn = events.phase("init", || init::draw(params.init, shape, job.seed))?;
    let path = job.out_dir.join(WEIGHTS_FILE);
    events.phase("write", || weights::save(&path, &drawn, &drawn.data, ""))?;
    Ok(Outcome::default()
        .metric("parameters", drawn.data.len())
        .output("weights", WEIGHTS_FILE))
}
