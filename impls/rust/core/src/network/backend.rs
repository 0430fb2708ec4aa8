//! [`Network`]: what a Rust back-end implements. The core runs every task around it (reading
//! jobs, loading and unpacking images, timing, validation, early stopping, writing files), so
//! the back-ends differ only in the network's arithmetic and are measured the same way.
//!
//! A network owns its inputs and its outputs: `set_inputs` fills the next call's input tensor
//! (untimed in `forward`, `step` and `train`), then one of `embed`, `forward_pairs` or
//! `train_batch` runs the network and makes its results available on the CPU. Any lazy or
//! asynchronous framework must finish its work before these return, so that the core's
//! clocks measure the computation. Parameters cross the boundary in the interchange layout of
//! [`super::params`] (the safetensors weights file), the same for every back-end.

use serde_json::{Map, Value};

use super::optim::Optimizer;
use super::params::{Params, OUT_WEIGHT};
use super::ConvAlgo;
use super::Shape;
use crate::error::{Error, Result};
use std::path::Path;

/// What a back-end may need of its job to build its network: the task's name, the thread
/// count and the input files (the network module does not depend on the job's module).
#[derive(Debug, Clone, Copy)]
pub struct JobFiles<'a> {
    pub task: &'a str,
    pub threads: usize,
    pub weights: Option<&'a Path>,
    pub onnx: Option<&'a Path>,
}

/// A siamese network back-end (rust-native, rust-tch, rust-burn, rust-candle; rust-ort and
/// rust-tract for inference only).
pub trait Network: Sized {
    /// The implementation id in configs and results (`rust-native`, ...).
    const ID: &'static str;

    /// Version facts of the back-end (framework and its kernels, thread pools), merged into
    /// `oneshot version` and every result.json.
    fn versions() -> Map<String, Value>;

    /// The network with parameters `params`, for calls of up to `capacity` images (a pair is
    /// two), keeping what backward needs when `train`; `threads` is the job's thread count,
    /// which every pool the back-end uses must follow.
    fn build(params: Params, capacity: usize, threads: usize, train: bool) -> Result<Self>;

    /// The network of a job (what the tasks call, through `tasks::common::build_network`):
    /// [`Network::build`] with the job's threads, unless the back-end needs more of the job
    /// (the ONNX engines read `inputs.onnx`). A back-end that cannot train refuses `train`
    /// here, in one line.
    fn from_job(job: &JobFiles, params: Params, capacity: usize, train: bool) -> Result<Self> {
        Self::build(params, capacity, job.threads, train)
    }

    /// The network's shape.
    fn shape(&self) -> Shape;

    /// Compute conv layer `l` by `layers[l]` (the job's `model.conv`), before the first call.
    /// A back-end that only convolves directly refuses any other algorithm.
    fn set_conv(&mut self, layers: [ConvAlgo; 4]) -> Result<()> {
        match layers.iter().position(|&a| a != ConvAlgo::Direct) {
            None => Ok(()),
            Some(l) => Err(Error::job(
                "model.conv",
                format!(
                    "got fft for layer {}, expected direct ({} computes convolutions directly \
                     only)",
                    l + 1,
                    Self::ID
                ),
            )),
        }
    }

    /// Unpack bit-packed images (1,379 bytes each) as the next call's inputs: `left` then
    /// `right` (`right` empty to embed single images).
    fn set_inputs(&mut self, left: &[&[u8]], right: &[&[u8]]) -> Result<()>;

    /// Embeddings `[images, E]` of the first `images` inputs set, written to `out`.
    fn embed(&mut self, images: usize, out: &mut [f32]) -> Result<()>;

    /// Forward of `pairs` pairs set by `set_inputs`: embeddings `[2 * pairs, E]` (left rows,
    /// then right rows) into `emb`, logits `[pairs]` into `logits`.
    fn forward_pairs(&mut self, pairs: usize, emb: &mut [f32], logits: &mut [f32]) -> Result<()>;

    /// Forward and backward of `labels.len()` pairs set by `set_inputs` (label 1: same
    /// character): the mean binary cross-entropy; the gradients stay for [`Network::update`]
    /// and [`Network::gradients`].
    fn train_batch(&mut self, labels: &[f32]) -> Result<f64>;

    /// The gradients of the last `train_batch` (of the mean loss, before L2 and the update),
    /// in the interchange layout.
    fn gradients(&self) -> Result<Vec<f32>>;

    /// One optimiser step from the last gradients: `optimizer` gives the rule and, per tensor,
    /// the learning rate, momentum and L2 of the current epoch; the back-end keeps its own
    /// momentum buffers.
    fn update(&mut self, optimizer: &mut Optimizer) -> Result<()>;

    /// The current parameters in the interchange layout (what the weights file holds).
    fn params(&self) -> Result<Params>;

    /// `out.weight` `[E]` and `out.bias` of the head, for scoring embeddings.
    fn head(&self) -> Result<(Vec<f32>, f32)> {
        let params = self.params()?;
        Ok((
            params.tensor(OUT_WEIGHT).to_vec(),
            params.tensor(OUT_WEIGHT + 1)[0],
        ))
    }
}
