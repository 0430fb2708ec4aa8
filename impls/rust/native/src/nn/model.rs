//! `SiameseNet`: the two-tower network of Koch et al. (2015) with hand-written forward and
//! backward passes over a [`Workspace`] (workspace.rs) that holds every buffer a batch needs.
//!
//! Both towers run as one batch of `2N` images (left images first). The convolution tower is
//! split into one contiguous chunk of images per thread of the current rayon pool; each thread
//! runs its chunk through all four convolutions with its own scratch, so the GEMMs there are
//! single-threaded and the threads never wait on each other inside the tower. How each conv
//! layer is computed is lowering.rs's choice: im2col + GEMM; an implicit GEMM over shifted
//! channels-last views, one image at a time, where conv_implicit.rs is faster (conv2 of
//! `paper`), with weights rearranged once per call; conv_single.rs's register-blocked loops for
//! the single-channel conv1; or, for the layers chosen for FFT ([`SiameseNet::with_fft`], the
//! job's `model.conv`), conv_fft.rs in groups of images, the input spectra kept per thread from
//! the forward to the backward pass and the weights' spectra made whenever the weights changed
//! (once, at build, in an inference workspace). fc1 is one batched GEMM split over the pool's
//! threads, a GEMV for one image. Only pooled activations and their argmax bytes (and, for FFT
//! layers, the input spectra) are kept for the backward pass (pool.rs).
//!
//! Call the methods inside `pool.install(..)` of a pool with the workspace's thread count.

use std::time::Instant;

use rayon::prelude::*;

use super::activation;
use super::conv::ConvGeom;
use super::input;
use super::linear;
use super::loss;
use super::lowering::Lowering;
use super::params::{conv_weight, split_mut, Params, FC1_WEIGHT, OUT_WEIGHT};
use super::pool;
use super::workspace::{bounds, chunks, chunks3, Scratch};
use super::Shape;
use num_complex::Complex32 as C32;
use oneshot_core::error::Result;

pub use super::workspace::{thread_pool, Workspace};

/// The siamese network: its shape, layer geometry and lowering, and parameters.
#[derive(Debug, Clone)]
pub struct SiameseNet {
    pub params: Params,
    /// Each conv layer's geometry and how it is computed (lowering.rs).
    lowering: Lowering,
    flat: usize,
}

impl SiameseNet {
    /// A network of `params.shape` with the given parameters.
    pub fn new(params: Params) -> Result<Self> {
        let shape = params.shape;
        let sides = shape.sides()?;
        let mut cin = 1;
        let geoms = std::array::from_fn(|l| {
            let geom = ConvGeom {
                cin,
                cout: shape.filters[l],
                k: shape.kernels[l],
                side_in: sides.inputs[l],
            };
            cin = shape.filters[l];
            geom
        });
        Ok(SiameseNet {
            flat: shape.flat()?,
            params,
            lowering: Lowering::new(geoms),
        })
    }

    /// The same network with the layers marked `true` computed by FFT (conv_fft.rs), forward
    /// and backward; build workspaces after this.
    pub fn with_fft(mut self, layers: [bool; 4]) -> Self {
        self.lowering.set_fft(layers);
        self
    }

    /// Which layers run by FFT.
    pub fn fft_layers(&self) -> [bool; 4] {
        self.lowering.fft_layers()
    }

    /// The same network with the lowering of each conv layer, forward and backward, chosen by
    /// hand (`true`: implicit GEMM), for tests and benchmarks; build workspaces after this.
    pub fn with_implicit(mut self, layers: [bool; 4]) -> Self {
        self.lowering.set_implicit(layers);
        self
    }

    /// The same network with conv1 computed by conv_single.rs (`true`, where it can be) or by
    /// im2col (`false`), whatever `conv_single::handles` would choose; for tests and benchmarks.
    pub fn with_single_channel(mut self, on: bool) -> Self {
        self.lowering.set_single(on);
        self
    }

    /// The network's shape.
    pub fn shape(&self) -> Shape {
        self.params.shape
    }

    /// Floats of one pooled activation of conv layer `l` (0..3) per image.
    fn pooled_len(&self, l: usize) -> usize {
        self.lowering.pooled_len(l)
    }

    /// A workspace for batches of up to `capacity` images on `threads` threads.
    pub fn workspace(&self, capacity: usize, threads: usize, train: bool) -> Workspace {
        Workspace::new(
            &self.lowering,
            &self.params,
            self.flat,
            capacity,
            threads,
            train,
        )
    }

    /// A workspace for inference on weights that no longer change, and the seconds spent
    /// making each layer's packed operands and weight spectra here, once, not at every call
    /// (nor checking every call that the weights are unchanged): change `params`, build another.
    pub fn inference_workspace(&self, capacity: usize, threads: usize) -> (Workspace, f64) {
        let mut ws = self.workspace(capacity, threads, false);
        let began = Instant::now();
        self.prepare_forward(&mut ws);
        ws.frozen = true;
        (ws, began.elapsed().as_secs_f64())
    }

    /// Every layer's weights packed or transformed for the forward pass (lowering.rs).
    fn prepare_forward(&self, ws: &mut Workspace) {
        for l in 0..4 {
            let (weight, what_of) = (self.params.tensor(conv_weight(l)), &mut ws.what_of[l]);
            let (packed, what) = (&mut ws.packed[l], &mut ws.what[l]);
            self.lowering
                .prepare_forward(l, weight, packed, what, what_of);
        }
    }

    /// Writes the network input of packed images `left` then `right` into the workspace.
    pub fn set_inputs(&self, ws: &mut Workspace, left: &[&[u8]], right: &[&[u8]]) {
        let side = self.shape().input;
        let n = left.len() + right.len();
        assert!(
            n <= ws.capacity,
            "batch of {n} images exceeds the workspace"
        );
        let rows = ws.x0.chunks_exact_mut(side * side);
        for (row, packed) in rows.zip(left.iter().chain(right)) {
            input::fill(packed, side, row);
        }
    }

    /// The raw network inputs (`[capacity, input*input]`), for callers that build them.
    pub fn inputs_mut<'w>(&self, ws: &'w mut Workspace) -> &'w mut [f32] {
        &mut ws.x0
    }

    /// Runs the first `images` inputs through the tower; embeddings end up in `ws.emb`.
    pub fn embed(&self, ws: &mut Workspace, images: usize) {
        assert!(
            images <= ws.capacity,
            "batch of {images} images exceeds the workspace"
        );
        if !ws.frozen {
            self.prepare_forward(ws);
        }
        // One image: one chunk, its direct convolutions' GEMMs over the whole pool instead.
        let split = if images == 1 { 1 } else { ws.threads };
        let b = bounds(images, split);
        ws.scratch[0].conv.gemm_threads = ws.threads / split;
        let in_len = self.lowering.geoms[0].input_len();
        let lens = std::array::from_fn(|l| self.pooled_len(l));
        let x0: Vec<&mut [f32]> = chunks(&mut ws.x0, in_len, &b);
        let pooled = chunks3(&mut ws.pooled, lens, &b);
        let argmax = chunks3(&mut ws.argmax, lens, &b);
        let began = Instant::now();
        let x4 = chunks(&mut ws.x4, self.flat, &b);
        let (packed, what) = (&ws.packed, &ws.what);
        let work: Vec<_> = (x0.into_iter().zip(pooled).zip(argmax).zip(x4))
            .map(|(((x0, p), a), x4)| (x0, p, a, x4))
            .collect();
        ws.scratch
            .par_iter_mut()
            .zip(work)
            .zip(b.par_windows(2))
            .for_each(|((s, (x0, mut p, mut a, x4)), w)| {
                self.tower_forward(s, packed, what, x0, &mut p, &mut a, x4, w[1] - w[0]);
            });
        ws.stage_s[0] += began.elapsed().as_secs_f64();
        let began = Instant::now();
        let e = self.shape().embedding;
        let emb = &mut ws.emb[..images * e];
        let (weight, emb_t) = (self.params.tensor(FC1_WEIGHT), &mut ws.emb_t);
        match images {
            1 => linear::forward_one(&ws.x4, weight, self.flat, emb, ws.threads),
            _ => linear::forward(&ws.x4, weight, images, self.flat, e, emb, emb_t, ws.threads),
        }
        activation::bias_sigmoid(emb, self.params.tensor(FC1_WEIGHT + 1));
        ws.stage_s[1] += began.elapsed().as_secs_f64();
    }

    #[allow(clippy::too_many_arguments)]
    fn tower_forward(
        &self,
        s: &mut Scratch,
        packed: &[Vec<f32>; 4],
        what: &[Vec<C32>; 4],
        x0: &[f32],
        p: &mut [&mut [f32]; 3],
        a: &mut [&mut [u8]; 3],
        x4: &mut [f32],
        n: usize,
    ) {
        for (l, geom) in self.lowering.geoms.iter().enumerate() {
            let began = Instant::now();
            let g_max = self.lowering.group_of(l, n);
            let (weight, bias) = (
                self.params.tensor(conv_weight(l)),
                self.params.tensor(conv_weight(l) + 1),
            );
            let (prev, cur) = p.split_at_mut(l);
            let mut i = 0;
            while i < n {
                let g = g_max.min(n - i);
                let input = if l == 0 {
                    &x0[i * geom.input_len()..]
                } else {
                    &prev[l - 1][i * geom.input_len()..]
                };
                let weights = (weight, &packed[l][..], &what[l][..]);
                self.lowering.forward(l, &mut s.conv, weights, input, i, g);
                if l < 3 {
                    let len = self.pooled_len(l);
                    let range = i * len..(i + g) * len;
                    pool::forward(
                        &s.conv.y,
                        bias,
                        g,
                        geom.side_out(),
                        &mut cur[0][range.clone()],
                        &mut a[l][range],
                    );
                } else {
                    activation::bias_relu_flatten(
                        &s.conv.y,
                        bias,
                        g,
                        geom.pixels_out(),
                        &mut x4[i * self.flat..],
                    );
                }
                i += g;
            }
            s.layer_s[l] += began.elapsed().as_secs_f64();
        }
    }

    /// Forward of `pairs` pairs whose inputs were set (left rows then right rows): fills the
    /// embeddings and logits of the workspace.
    pub fn forward_pairs(&self, ws: &mut Workspace, pairs: usize) {
        self.embed(ws, 2 * pairs);
        let e = self.shape().embedding;
        let (e1, e2) = ws.emb[..2 * pairs * e].split_at(pairs * e);
        let bias = self.params.tensor(OUT_WEIGHT + 1)[0];
        loss::head_forward(
            e1,
            e2,
            self.params.tensor(OUT_WEIGHT),
            bias,
            &mut ws.logits[..pairs],
        );
    }

    /// Forward and backward of `labels.len()` pairs whose inputs were set: returns the mean BCE
    /// and leaves the gradients in `ws.grads`.
    pub fn train_batch(&self, ws: &mut Workspace, labels: &[f32]) -> f64 {
        let pairs = labels.len();
        let images = 2 * pairs;
        assert!(!ws.grads.is_empty(), "workspace was not built for training");
        self.forward_pairs(ws, pairs);
        let began = Instant::now();
        let loss_value = loss::bce_with_logits(&ws.logits[..pairs], labels);
        let e = self.shape().embedding;
        let grads = split_mut(&mut ws.grads, &self.params.tensors);
        let [_, _, _, _, _, _, _, _, dfc_w, dfc_b, dout_w, dout_b] =
            <[&mut [f32]; 12]>::try_from(grads).expect("12 tensors");
        {
            let (e1, e2) = ws.emb[..images * e].split_at(pairs * e);
            let (d1, d2) = ws.demb[..images * e].split_at_mut(pairs * e);
            let w = self.params.tensor(OUT_WEIGHT);
            dout_b[0] = loss::head_backward(e1, e2, w, &ws.logits[..pairs], labels, d1, d2, dout_w);
        }
        ws.stage_s[2] += began.elapsed().as_secs_f64();
        let began = Instant::now();
        activation::sigmoid_backward(&mut ws.demb[..images * e], &ws.emb[..images * e]);
        linear::backward(
            &ws.x4,
            self.params.tensor(FC1_WEIGHT),
            &ws.demb,
            images,
            self.flat,
            e,
            dfc_w,
            dfc_b,
            Some(&mut ws.dx4),
            ws.threads,
        );
        ws.stage_s[3] += began.elapsed().as_secs_f64();
        let began = Instant::now();
        self.tower_backward_all(ws, images);
        ws.stage_s[4] += began.elapsed().as_secs_f64();
        loss_value
    }

    fn tower_backward_all(&self, ws: &mut Workspace, images: usize) {
        for l in 0..4 {
            let weight = self.params.tensor(conv_weight(l));
            self.lowering
                .prepare_backward(l, weight, &mut ws.flipped[l]);
        }
        let (flipped, what) = (&ws.flipped, &ws.what);
        let b = bounds(images, ws.threads);
        let in_len = self.lowering.geoms[0].input_len();
        let mut work = Vec::with_capacity(ws.threads);
        let lens = std::array::from_fn(|l| self.pooled_len(l));
        let mut dps = chunks3(&mut ws.dpooled, lens, &b).into_iter();
        for w in b.windows(2) {
            let (lo, hi) = (w[0], w[1]);
            let p: [&[f32]; 3] = std::array::from_fn(|l| {
                &ws.pooled[l][lo * self.pooled_len(l)..hi * self.pooled_len(l)]
            });
            let a: [&[u8]; 3] = std::array::from_fn(|l| {
                &ws.argmax[l][lo * self.pooled_len(l)..hi * self.pooled_len(l)]
            });
            let dp = dps.next().expect("chunk");
            let x0 = &ws.x0[lo * in_len..hi * in_len];
            let x4 = &ws.x4[lo * self.flat..hi * self.flat];
            let dx4 = &ws.dx4[lo * self.flat..hi * self.flat];
            work.push((x0, p, a, x4, dx4, dp, hi - lo));
        }
        ws.scratch
            .par_iter_mut()
            .zip(work)
            .for_each(|(s, (x0, p, a, x4, dx4, mut dp, n))| {
                self.tower_backward(s, flipped, what, x0, &p, &a, x4, dx4, &mut dp, n);
            });
        let conv_params = self.params.tensors[FC1_WEIGHT].offset;
        let (first, rest) = ws.scratch.split_first().expect("one thread");
        ws.grads[..conv_params].copy_from_slice(&first.dconv);
        for s in rest {
            for (g, d) in ws.grads[..conv_params].iter_mut().zip(&s.dconv) {
                *g += d;
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn tower_backward(
        &self,
        s: &mut Scratch,
        flipped: &[Vec<f32>; 4],
        what: &[Vec<C32>; 4],
        x0: &[f32],
        p: &[&[f32]; 3],
        a: &[&[u8]; 3],
        x4: &[f32],
        dx4: &[f32],
        dp: &mut [&mut [f32]; 3],
        n: usize,
    ) {
        s.dconv.fill(0.0);
        let mut dgrads = split_mut(&mut s.dconv, &self.params.tensors[..8]);
        for l in (0..4).rev() {
            let began = Instant::now();
            let geom = &self.lowering.geoms[l];
            let g_max = self.lowering.group_of(l, n);
            let weight = self.params.tensor(conv_weight(l));
            self.lowering.begin_backward(l, &mut s.conv);
            let (dws, dbs) = dgrads.split_at_mut(2 * l + 1);
            let (dw, db) = (&mut dws[2 * l], &mut dbs[0]);
            let (dprev, dcur) = dp.split_at_mut(l);
            let mut i = 0;
            while i < n {
                let g = g_max.min(n - i);
                if l == 3 {
                    let range = i * self.flat..(i + g) * self.flat;
                    activation::bias_relu_flatten_backward(
                        &dx4[range.clone()],
                        &x4[range],
                        geom.cout,
                        g,
                        geom.pixels_out(),
                        &mut s.conv.y,
                    );
                } else {
                    let len = self.pooled_len(l);
                    let range = i * len..(i + g) * len;
                    pool::backward(
                        &dcur[0][range.clone()],
                        &p[l][range.clone()],
                        &a[l][range],
                        geom.cout,
                        g,
                        geom.side_out(),
                        &mut s.conv.y,
                    );
                }
                let in_len = geom.input_len();
                let input = if l == 0 {
                    &x0[i * in_len..]
                } else {
                    &p[l - 1][i * in_len..]
                };
                let dinput = if l == 0 {
                    None
                } else {
                    Some(&mut dprev[l - 1][i * in_len..(i + g) * in_len])
                };
                let weights = (weight, &flipped[l][..], &what[l][..]);
                let conv = &mut s.conv;
                self.lowering
                    .backward(l, conv, weights, input, i, g, dw, db, dinput);
                i += g;
            }
            self.lowering.finish_backward(l, &mut s.conv, dw);
            s.layer_s[4 + l] += began.elapsed().as_secs_f64();
        }
    }

    /// Embeddings of the last forward (`[images, embedding]`).
    pub fn embeddings<'w>(&self, ws: &'w Workspace, images: usize) -> &'w [f32] {
        &ws.emb[..images * self.shape().embedding]
    }

    /// Logits of the last [`forward_pairs`](Self::forward_pairs).
    pub fn logits<'w>(&self, ws: &'w Workspace, pairs: usize) -> &'w [f32] {
        &ws.logits[..pairs]
    }
}
