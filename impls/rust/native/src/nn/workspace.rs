//! [`Workspace`]: every buffer of a forward (and backward) pass of [`super::model::SiameseNet`],
//! sized once for a maximum batch and reused across steps, so no big buffer is allocated per
//! step; its per-stage profile; and the split of its image buffers into one contiguous chunk
//! per thread.

use num_complex::Complex32 as C32;

use super::lowering::{ConvScratch, Lowering};
use super::params::{Params, FC1_WEIGHT};

/// Per-thread scratch of the convolution tower.
#[derive(Debug)]
pub(super) struct Scratch {
    /// The conv kernels' buffers (lowering.rs).
    pub conv: ConvScratch,
    /// Partial gradients of the conv tensors (the first eight tensors), training only.
    pub dconv: Vec<f32>,
    /// Seconds spent per conv layer: forward 0..4, backward 4..8 (see `profile_line`).
    pub layer_s: [f64; 8],
}

/// Every buffer of a forward (and, when built for training, backward) pass of up to
/// `capacity` images.
#[derive(Debug)]
pub struct Workspace {
    pub(super) capacity: usize,
    pub(super) threads: usize,
    pub(super) x0: Vec<f32>,
    /// Weights of the implicit-GEMM layers in their operand layout (empty for the others),
    /// rearranged at every forward call; `flipped` likewise for their backward pass.
    pub(super) packed: [Vec<f32>; 4],
    pub(super) flipped: [Vec<f32>; 4],
    /// Spectra of the FFT layers' weights (`[f][cin][cout]`), and the weights they are of.
    pub(super) what: [Vec<C32>; 4],
    pub(super) what_of: [Vec<f32>; 4],
    pub(super) pooled: [Vec<f32>; 3],
    pub(super) argmax: [Vec<u8>; 3],
    pub(super) x4: Vec<f32>,
    pub(super) emb: Vec<f32>,
    /// fc1's output transposed (`[embedding, capacity]`), scratch of `linear::forward`.
    pub(super) emb_t: Vec<f32>,
    pub(super) logits: Vec<f32>,
    pub(super) dpooled: [Vec<f32>; 3],
    pub(super) dx4: Vec<f32>,
    pub(super) demb: Vec<f32>,
    pub(super) scratch: Vec<Scratch>,
    /// Gradients of the last [`SiameseNet::train_batch`], laid out like the parameters.
    ///
    /// [`SiameseNet::train_batch`]: super::model::SiameseNet::train_batch
    pub grads: Vec<f32>,
    /// Seconds per stage: tower forward, fc1 forward, head, fc1 backward, tower backward.
    pub(super) stage_s: [f64; 5],
    /// Whether the weights' packed operands and spectra were made once, at build, for
    /// weights that no longer change ([`SiameseNet::inference_workspace`]): no call redoes
    /// them.
    ///
    /// [`SiameseNet::inference_workspace`]: super::model::SiameseNet::inference_workspace
    pub(super) frozen: bool,
}

impl Workspace {
    /// A workspace for batches of up to `capacity` images on `threads` threads of the network
    /// lowered as `lowering`, with parameters laid out as `params` and `flat` features into
    /// fc1.
    pub(super) fn new(
        lowering: &Lowering,
        params: &Params,
        flat: usize,
        capacity: usize,
        threads: usize,
        train: bool,
    ) -> Workspace {
        let threads = threads.max(1);
        let per_thread = capacity.div_ceil(threads);
        let conv_params = params.tensors[FC1_WEIGHT].offset;
        let e = params.shape.embedding;
        let side = params.shape.input;
        let grad = |n: usize| if train { vec![0.0; n] } else { Vec::new() };
        let pooled_len = |l: usize| lowering.pooled_len(l);
        Workspace {
            capacity,
            threads,
            x0: vec![0.0; capacity * side * side],
            packed: std::array::from_fn(|l| vec![0.0; lowering.packed_len(l)]),
            flipped: std::array::from_fn(|l| {
                vec![0.0; if train { lowering.packed_len(l) } else { 0 }]
            }),
            what: std::array::from_fn(|l| lowering.weight_spectra(l)),
            what_of: std::array::from_fn(|_| Vec::new()),
            pooled: std::array::from_fn(|l| vec![0.0; capacity * pooled_len(l)]),
            argmax: std::array::from_fn(|l| vec![0; capacity * pooled_len(l)]),
            x4: vec![0.0; capacity * flat],
            emb: vec![0.0; capacity * e],
            emb_t: vec![0.0; capacity * e],
            logits: vec![0.0; capacity / 2],
            dpooled: std::array::from_fn(|l| grad(capacity * pooled_len(l))),
            dx4: grad(capacity * flat),
            demb: grad(capacity * e),
            scratch: (0..threads)
                .map(|_| Scratch {
                    conv: lowering.scratch(per_thread, train),
                    dconv: grad(conv_params),
                    layer_s: [0.0; 8],
                })
                .collect(),
            grads: grad(params.data.len()),
            stage_s: [0.0; 5],
            frozen: false,
        }
    }

    /// The most images one call can take.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Seconds per stage since the last call (conv layers as seen by thread 0), and reset.
    pub fn profile_line(&mut self) -> String {
        let s = self.stage_s;
        let l = self.scratch[0].layer_s;
        self.stage_s = [0.0; 5];
        for scratch in &mut self.scratch {
            scratch.layer_s = [0.0; 8];
        }
        format!(
            "tower fwd {:.3} (conv1 {:.3} conv2 {:.3} conv3 {:.3} conv4 {:.3}) fc1 fwd {:.3} \
             head {:.4} fc1 bwd {:.3} tower bwd {:.3} (conv1 {:.3} conv2 {:.3} conv3 {:.3} conv4 {:.3})",
            s[0], l[0], l[1], l[2], l[3], s[1], s[2], s[3], s[4], l[4], l[5], l[6], l[7]
        )
    }
}

/// Contiguous image ranges, one per thread.
pub(super) fn bounds(images: usize, threads: usize) -> Vec<usize> {
    (0..=threads).map(|t| t * images / threads).collect()
}

/// Splits `buf` into per-chunk slices of `per` elements per image.
pub(super) fn chunks<'a, T>(
    mut buf: &'a mut [T],
    per: usize,
    bounds: &[usize],
) -> Vec<&'a mut [T]> {
    let mut out = Vec::with_capacity(bounds.len());
    for w in bounds.windows(2) {
        let (head, tail) = buf.split_at_mut((w[1] - w[0]) * per);
        out.push(head);
        buf = tail;
    }
    out
}

/// Splits each of three buffers as [`chunks`] does, `per[i]` elements per image of buffer `i`:
/// the three slices of each chunk together.
pub(super) fn chunks3<'a, T>(
    bufs: &'a mut [Vec<T>; 3],
    per: [usize; 3],
    bounds: &[usize],
) -> Vec<[&'a mut [T]; 3]> {
    let mut rest = bufs.each_mut().map(|buf| buf.as_mut_slice());
    let mut out = Vec::with_capacity(bounds.len());
    for w in bounds.windows(2) {
        out.push(std::array::from_fn(|i| {
            let (head, tail) = std::mem::take(&mut rest[i]).split_at_mut((w[1] - w[0]) * per[i]);
            rest[i] = tail;
            head
        }));
    }
    out
}

/// A rayon pool of exactly `threads` threads.
pub fn thread_pool(threads: usize) -> oneshot_core::error::Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| {
            oneshot_core::error::Error::Runtime(format!(
                "cannot start {threads} worker threads: {e}"
            ))
        })
}
