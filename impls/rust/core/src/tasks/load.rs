//! The `load` task: decode `inputs.pairs` or every image of `dataset.root` and write
//! `images.safetensors` (uint8 tensors of bit-packed images, docs/protocol.md).
//!
//! For `source: pairs` the tensors are `left` [N, 1379], `right` [N, 1379] and `labels` [N];
//! for `source: dataset`, `images` [M, 1379] in data-set order. Metrics: `images`, the distinct
//! files decoded; `images_per_s`, divided by the seconds from the first file opened to the last
//! image in memory; `task_s`, the task's whole time.

use std::path::Path;
use std::time::Instant;

use safetensors::tensor::TensorView;
use safetensors::Dtype;

use crate::data::{load_dataset, load_pairs, PACKED_BYTES};
use crate::error::{Error, Result};
use crate::events::Events;
use crate::job::Job;
use crate::pairfile::read_pairs;
use crate::params::{LoadParams, LoadSource};
use crate::result::Outcome;
use crate::sampling::Dataset;
use crate::tasks::common::IMAGES_FILE;

/// A named uint8 tensor: name, shape, bytes.
type Tensor = (&'static str, Vec<usize>, Vec<u8>);

/// Run `load` for `job`.
pub fn run(job: &Job, params: &LoadParams, events: &Events) -> Result<Outcome> {
    let task_start = Instant::now();
    let root = &job.dataset.root;
    let mut progress = |done: usize, total: usize| events.progress(done, total, "images");
    let (tensors, images, decode_s) = events.phase("load", || match params.source {
        LoadSource::Pairs => {
            let pairs_file = job.inputs.pairs.as_ref().ok_or_else(|| {
                Error::job(
                    "inputs.pairs",
                    "got null, expected a pair file for source: pairs",
                )
            })?;
            let list = read_pairs(pairs_file, root)?;
            let decode_start = Instant::now();
            crate::extra_work::run();
            let loaded = load_pairs(root, &list, &mut progress)?;
            let decode_s = decode_start.elapsed().as_secs_f64();
            let n = loaded.labels.len();
            let tensors: Vec<Tensor> = vec![
                ("left", vec![n, PACKED_BYTES], loaded.left),
                ("right", vec![n, PACKED_BYTES], loaded.right),
                ("labels", vec![n], loaded.labels),
            ];
            Ok::<_, Error>((tensors, loaded.distinct, decode_s))
        }
        LoadSource::Dataset => {
            let dataset = Dataset::scan(root)?;
            let decode_start = Instant::now();
            crate::extra_work::run();
            let images = load_dataset(&dataset, &mut progress)?;
            let decode_s = decode_start.elapsed().as_secs_f64();
            let m = dataset.num_images();
            Ok((vec![("images", vec![m, PACKED_BYTES], images)], m, decode_s))
        }
    })?;
    let path = job.out_dir.join(IMAGES_FILE);
    events.phase("write", || write_tensors(&path, &tensors))?;
    let images_per_s = if decode_s > 0.0 {
        images as f64 / decode_s
    } else {
        0.0
    };
    Ok(Outcome::default()
        .metric("images", images)
        .metric("images_per_s", images_per_s)
        .metric("task_s", task_start.elapsed().as_secs_f64())
        .output("images", IMAGES_FILE))
}

/// Write uint8 tensors to a safetensors file.
pub fn write_tensors(path: &Path, tensors: &[Tensor]) -> Result<()> {
    let views = tensors
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(Dtype::U8, shape.clone(), bytes)
                .map(|view| (*name, view))
                .map_err(|e| Error::Runtime(format!("tensor {name}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize_to_file(views, None, path)
        .map_err(|e| Error::Runtime(format!("{}: cannot write the images ({e})", path.display())))
}
