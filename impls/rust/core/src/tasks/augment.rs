//! The `augment` task: distort every image of `inputs.pairs` (pairs in file order, each
//! pair's left then right image) with parameters from `Rng(seed, "augment")` and the job's
//! `augment` section (docs/augment.md). Writes `augment.tsv` and `images.safetensors`
//! (`left`, `right`: uint8 [N, 1379], the distorted images bit-packed).

use std::collections::HashMap;
use std::time::Instant;

use rayon::prelude::*;
use safetensors::tensor::{Dtype, TensorView};

use crate::augment::{apply_packed, draw, format_line, AugmentSpec, Distortion, COMPONENTS};
use crate::data::PACKED_BYTES;
use crate::error::{Error, Result};
use crate::events::Events;
use crate::job::Job;
use crate::params::AugmentParams;
use crate::result::Outcome;
use crate::rng::Rng;
use crate::tasks::common::{read_pair_images, IMAGES_FILE};

/// Parameter file of `augment`.
pub const PARAMS_FILE: &str = "augment.tsv";

/// Run `augment` for `job`.
pub fn run(job: &Job, _params: &AugmentParams, events: &Events) -> Result<Outcome> {
    let task_start = Instant::now();
    let spec = AugmentSpec::from_job(job.augment.as_ref())?;
    let images = events.phase("load", || read_pair_images(job, events))?;
    let n = images.labels.len();
    let (mut left, mut right) = (vec![0u8; n * PACKED_BYTES], vec![0u8; n * PACKED_BYTES]);
    let mut drawn: Vec<Distortion> = Vec::with_capacity(2 * n);
    let began = Instant::now();
    events.phase("augment", || {
        crate::extra_work::run();
        let mut rng = Rng::new(job.seed, "augment");
        drawn.extend((0..2 * n).map(|_| draw(&mut rng, &spec)));
        let sides = [(&images.left, &mut left, 0), (&images.right, &mut right, 1)];
        for (src, out, side) in sides {
            out.par_chunks_mut(PACKED_BYTES)
                .zip(src.par_chunks(PACKED_BYTES))
                .enumerate()
                .for_each(|(p, (o, s))| apply_packed(s, &drawn[2 * p + side], o));
        }
        Ok::<_, Error>(())
    })?;
    let augment_s = began.elapsed().as_secs_f64();
    events.phase("write", || write_outputs(job, &drawn, &left, &right))?;
    let applied = drawn
        .iter()
        .map(|d| d.applied.iter().filter(|&&a| a).count())
        .sum::<usize>();
    Ok(Outcome::default()
        .metric("images", 2 * n)
        .metric(
            "images_per_s",
            (2 * n) as f64 / augment_s.max(f64::MIN_POSITIVE),
        )
        .metric("applied_fraction", applied as f64 / (7 * 2 * n) as f64)
        .metric("task_s", task_start.elapsed().as_secs_f64())
        .output("params", PARAMS_FILE)
        .output("images", IMAGES_FILE))
}

fn write_outputs(job: &Job, drawn: &[Distortion], left: &[u8], right: &[u8]) -> Result<()> {
    let mut text = format!("index\tside\t{}\n", COMPONENTS.join("\t"));
    for (i, d) in drawn.iter().enumerate() {
        let side = if i % 2 == 0 { "left" } else { "right" };
        text.push_str(&format_line(i / 2, side, d));
        text.push('\n');
    }
    let tsv = job.out_dir.join(PARAMS_FILE);
    std::fs::write(&tsv, text).map_err(|e| Error::output(&tsv, "augment parameters", e))?;
    let n = left.len() / PACKED_BYTES;
    fn view(data: &[u8], n: usize) -> Result<TensorView<'_>> {
        TensorView::new(Dtype::U8, vec![n, PACKED_BYTES], data)
            .map_err(|e| Error::Runtime(format!("cannot build the image tensor: {e}")))
    }
    let tensors = HashMap::from([
        ("left".to_owned(), view(left, n)?),
        ("right".to_owned(), view(right, n)?),
    ]);
    let path = job.out_dir.join(IMAGES_FILE);
    let bytes = safetensors::serialize(&tensors, None)
        .map_err(|e| Error::Runtime(format!("cannot serialise the images: {e}")))?;
    std::fs::write(&path, bytes).map_err(|e| Error::output(&path, "distorted images", e))
}
