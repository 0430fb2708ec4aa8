//! `SiameseNet`: the two-tower network of Koch et al. (2015) with hand-written forward and
//! backward passes, and the `Workspace` that holds every buffer a batch needs.
//!
//! Both towers run as one batch of `2N` images (left images first). The convolution tower is
//! split into one contiguous chunk of images per thread of the current rayon pool; each thread
//! runs its chunk through all four convolutions with its own im2col and output scratch, so
//! the GEMMs there are single-threaded and the threads never wait on each other inside the
//! tower. Layers for which conv_implicit.rs is faster (conv2 of `paper`) skip im2col: they run
//! one image at a time as GEMMs over shifted channels-last views, forward and backward, with
//! weights rearranged once per call. A single-channel layer (conv1) runs by conv_single.rs's
//! register-blocked loops, forward and weight gradient, without im2col. Layers chosen for FFT
//! ([`SiameseNet::with_fft`], the job's `model.conv`) run by conv_fft.rs in groups of up to `FFT_GROUP` images: the input
//! spectra are kept per thread from the forward to the backward pass, and the weights'
//! spectra are made on every thread whenever the weights changed. fc1 is one batched GEMM
//! split over the pool's threads. The workspace is sized once for a maximum batch and reused
//! across steps: no big buffer is allocated per step. Only pooled activations and their
//! argmax bytes (and, for FFT layers, the input spectra) are kept for the backward pass
//! (pool.rs).
//!
//! Call the methods inside `pool.install(..)` of a pool with the workspace's thread count.

use std::time::Instant;

use rayon::prelude::*;

use super::activation;
use super::conv::{self, ConvGeom};
use super::conv_fft::{self, FftPlan, PlaneScratch};
use super::conv_implicit;
use super::conv_single;
use super::input;
use super::linear;
use super::loss;
use super::params::{conv_weight, split_mut, Params, FC1_WEIGHT, OUT_WEIGHT};
use super::pool;
use super::Shape;
use num_complex::Complex32 as C32;
use oneshot_core::error::Result;

/// Smallest number of GEMM columns a convolution group aims for (see conv.rs).
const MIN_GROUP_COLS: usize = 1024;

/// Most images per group of an FFT layer: the rows of its per-frequency GEMMs, and the size
/// of its output-spectrum scratch.
const FFT_GROUP: usize = 16;

/// The siamese network: its shape, layer geometry and parameters.
#[derive(Debug, Clone)]
pub struct SiameseNet {
    pub params: Params,
    geoms: [ConvGeom; 4],
    /// Layers that run as implicit GEMMs (conv_implicit.rs) instead of im2col.
    implicit: [bool; 4],
    /// Whether conv1 (one input channel) runs by conv_single.rs rather than im2col.
    single: bool,
    /// The FFT plans of the layers that run by FFT (conv_fft.rs), `None` for the others.
    fft: [Option<FftPlan>; 4],
    flat: usize,
}

/// Per-thread scratch of the convolution tower.
#[derive(Debug)]
struct Scratch {
    col: Vec<f32>,
    y: Vec<f32>,
    /// Channels-last image and product of the implicit-GEMM layers.
    implicit: Vec<f32>,
    /// Partial gradients of the conv tensors (the first eight tensors), training only.
    dconv: Vec<f32>,
    /// FFT layers: input spectra (kept from forward to backward when training), output
    /// (and output-gradient) spectra, input-gradient spectra, weight-gradient spectra and the
    /// plane transforms' buffers.
    xhat: [Vec<C32>; 4],
    yhat: Vec<C32>,
    dxhat: Vec<C32>,
    dwhat: [Vec<C32>; 4],
    planes: [PlaneScratch; 4],
    /// Which outputs of the current FFT group have a nonzero input (conv_fft::input_support).
    support: Vec<u8>,
    /// Whether `xhat` holds every image of the thread's chunk (training) or one group.
    keep_xhat: bool,
    /// Seconds spent per conv layer: forward 0..4, backward 4..8 (see `profile_line`).
    layer_s: [f64; 8],
}

/// Every buffer of a forward (and, when built for training, backward) pass of up to
/// `capacity` images.
#[derive(Debug)]
pub struct Workspace {
    capacity: usize,
    threads: usize,
    x0: Vec<f32>,
    /// Weights of the implicit-GEMM layers in their operand layout (empty for the others),
    /// rearranged at every forward call; `flipped` likewise for their backward pass.
    packed: [Vec<f32>; 4],
    flipped: [Vec<f32>; 4],
    /// Spectra of the FFT layers' weights (`[f][cin][cout]`), and the weights they are of.
    what: [Vec<C32>; 4],
    what_of: [Vec<f32>; 4],
    pooled: [Vec<f32>; 3],
    argmax: [Vec<u8>; 3],
    x4: Vec<f32>,
    emb: Vec<f32>,
    /// fc1's output transposed (`[embedding, capacity]`), scratch of `linear::forward`.
    emb_t: Vec<f32>,
    logits: Vec<f32>,
    dpooled: [Vec<f32>; 3],
    dx4: Vec<f32>,
    demb: Vec<f32>,
    scratch: Vec<Scratch>,
    /// Gradients of the last [`SiameseNet::train_batch`], laid out like the parameters.
    pub grads: Vec<f32>,
    /// Seconds per stage: tower forward, fc1 forward, head, fc1 backward, tower backward.
    stage_s: [f64; 5],
}

impl Workspace {
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
fn bounds(images: usize, threads: usize) -> Vec<usize> {
    (0..=threads).map(|t| t * images / threads).collect()
}

/// Splits `buf` into per-chunk slices of `per` elements per image.
fn chunks<'a, T>(mut buf: &'a mut [T], per: usize, bounds: &[usize]) -> Vec<&'a mut [T]> {
    let mut out = Vec::with_capacity(bounds.len());
    for w in bounds.windows(2) {
        let (head, tail) = buf.split_at_mut((w[1] - w[0]) * per);
        out.push(head);
        buf = tail;
    }
    out
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
            implicit: geoms.map(|g| conv_implicit::preferred(&g)),
            single: conv_single::handles(&geoms[0]),
            fft: [None, None, None, None],
            geoms,
        })
    }

    /// The same network with the layers marked `true` computed by FFT (conv_fft.rs), forward
    /// and backward; build workspaces after this.
    pub fn with_fft(mut self, layers: [bool; 4]) -> Self {
        for (l, &on) in layers.iter().enumerate() {
            if on {
                self.implicit[l] = false;
            } else if self.fft[l].is_some() {
                self.implicit[l] = conv_implicit::preferred(&self.geoms[l]);
            }
            self.fft[l] = on.then(|| FftPlan::new(self.geoms[l].side_in));
        }
        self
    }

    /// Which layers run by FFT.
    pub fn fft_layers(&self) -> [bool; 4] {
        std::array::from_fn(|l| self.fft[l].is_some())
    }

    /// Images per group of layer `l` for a thread's chunk of `n` images.
    fn group_of(&self, l: usize, n: usize) -> usize {
        if self.fft[l].is_some() {
            FFT_GROUP.min(n).max(1)
        } else if self.implicit[l] {
            1
        } else {
            self.geoms[l].group(MIN_GROUP_COLS, n)
        }
    }

    /// The same network with the lowering of each conv layer, forward and backward, chosen by
    /// hand (`true`: implicit GEMM), for tests and benchmarks; build workspaces after this.
    pub fn with_implicit(mut self, layers: [bool; 4]) -> Self {
        self.implicit = layers;
        self
    }

    /// The same network with conv1 computed by conv_single.rs (`true`, where it can be) or by
    /// im2col (`false`), whatever `conv_single::handles` would choose; for tests and benchmarks.
    pub fn with_single_channel(mut self, on: bool) -> Self {
        self.single = on && conv_single::fits(&self.geoms[0]);
        self
    }

    /// The network's shape.
    pub fn shape(&self) -> Shape {
        self.params.shape
    }

    /// Floats of one pooled activation of conv layer `l` (0..3) per image.
    fn pooled_len(&self, l: usize) -> usize {
        let half = self.geoms[l].side_out() / 2;
        self.geoms[l].cout * half * half
    }

    /// A workspace for batches of up to `capacity` images on `threads` threads.
    pub fn workspace(&self, capacity: usize, threads: usize, train: bool) -> Workspace {
        let threads = threads.max(1);
        let per_thread = capacity.div_ceil(threads);
        let (mut col, mut y, mut implicit) = (0, 0, 0);
        let (mut yhat, mut dxhat, mut support) = (0, 0, 0);
        for (l, (geom, &lowered)) in self.geoms.iter().zip(&self.implicit).enumerate() {
            let g = self.group_of(l, per_thread);
            if let Some(plan) = &self.fft[l] {
                yhat = yhat.max(conv_fft::outputs_len(plan, geom, g));
                support = support.max(g * geom.pixels_out());
                if train {
                    dxhat = dxhat.max(conv_fft::inputs_len(plan, geom, g));
                }
            } else if !lowered {
                col = col.max(geom.col_rows() * g * geom.pixels_out());
            }
            y = y.max(geom.cout * g * geom.pixels_out());
            if lowered {
                implicit = implicit.max(conv_implicit::scratch_len(geom));
                if train {
                    implicit = implicit.max(conv_implicit::backward_scratch_len(geom));
                }
            }
        }
        let conv_params = self.params.tensors[FC1_WEIGHT].offset;
        let e = self.shape().embedding;
        let side = self.shape().input;
        let grad = |n: usize| if train { vec![0.0; n] } else { Vec::new() };
        let spectra = |l: usize, len: &dyn Fn(&FftPlan, &ConvGeom) -> usize| match &self.fft[l] {
            Some(plan) => vec![C32::default(); len(plan, &self.geoms[l])],
            None => Vec::new(),
        };
        let xhat_images = |l: usize| {
            if train {
                per_thread
            } else {
                self.group_of(l, per_thread)
            }
        };
        Workspace {
            capacity,
            threads,
            x0: vec![0.0; capacity * side * side],
            packed: std::array::from_fn(|l| {
                let len = conv_implicit::packed_len(&self.geoms[l]);
                vec![0.0; if self.implicit[l] { len } else { 0 }]
            }),
            flipped: std::array::from_fn(|l| {
                let len = conv_implicit::packed_len(&self.geoms[l]);
                vec![0.0; if train && self.implicit[l] { len } else { 0 }]
            }),
            what: std::array::from_fn(|l| spectra(l, &conv_fft::weights_len)),
            what_of: std::array::from_fn(|_| Vec::new()),
            pooled: std::array::from_fn(|l| vec![0.0; capacity * self.pooled_len(l)]),
            argmax: std::array::from_fn(|l| vec![0; capacity * self.pooled_len(l)]),
            x4: vec![0.0; capacity * self.flat],
            emb: vec![0.0; capacity * e],
            emb_t: vec![0.0; capacity * e],
            logits: vec![0.0; capacity / 2],
            dpooled: std::array::from_fn(|l| grad(capacity * self.pooled_len(l))),
            dx4: grad(capacity * self.flat),
            demb: grad(capacity * e),
            scratch: (0..threads)
                .map(|_| Scratch {
                    col: vec![0.0; col],
                    y: vec![0.0; y],
                    implicit: vec![0.0; implicit],
                    dconv: grad(conv_params),
                    xhat: std::array::from_fn(|l| {
                        spectra(l, &|p, g| conv_fft::inputs_len(p, g, xhat_images(l)))
                    }),
                    yhat: vec![C32::default(); yhat],
                    dxhat: vec![C32::default(); dxhat],
                    dwhat: std::array::from_fn(|l| {
                        if train {
                            spectra(l, &conv_fft::weights_len)
                        } else {
                            Vec::new()
                        }
                    }),
                    planes: std::array::from_fn(|l| match &self.fft[l] {
                        Some(plan) => plan.scratch(),
                        None => PlaneScratch::default(),
                    }),
                    support: vec![0; support],
                    keep_xhat: train,
                    layer_s: [0.0; 8],
                })
                .collect(),
            grads: grad(self.params.data.len()),
            stage_s: [0.0; 5],
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
        for (l, geom) in self.geoms.iter().enumerate() {
            if self.implicit[l] {
                let weight = self.params.tensor(conv_weight(l));
                conv_implicit::pack_weights(geom, weight, &mut ws.packed[l]);
            }
            if let Some(plan) = &self.fft[l] {
                // Transformed again only when the weights changed (every training step; once
                // for a whole inference task).
                let weight = self.params.tensor(conv_weight(l));
                if ws.what_of[l] != weight {
                    conv_fft::transform_weights(plan, geom, weight, &mut ws.what[l]);
                    ws.what_of[l].clear();
                    ws.what_of[l].extend_from_slice(weight);
                }
            }
        }
        let b = bounds(images, ws.threads);
        let in_len = self.geoms[0].input_len();
        let x0: Vec<&mut [f32]> = chunks(&mut ws.x0, in_len, &b);
        let [p0, p1, p2] = &mut ws.pooled;
        let [a0, a1, a2] = &mut ws.argmax;
        let pooled = [
            chunks(p0, self.pooled_len(0), &b),
            chunks(p1, self.pooled_len(1), &b),
            chunks(p2, self.pooled_len(2), &b),
        ];
        let argmax = [
            chunks(a0, self.pooled_len(0), &b),
            chunks(a1, self.pooled_len(1), &b),
            chunks(a2, self.pooled_len(2), &b),
        ];
        let began = Instant::now();
        let x4 = chunks(&mut ws.x4, self.flat, &b);
        let mut work = Vec::with_capacity(ws.threads);
        let [pa, pb, pc] = pooled;
        let [aa, ab, ac] = argmax;
        let (packed, what) = (&ws.packed, &ws.what);
        let iter = x0
            .into_iter()
            .zip(pa)
            .zip(pb)
            .zip(pc)
            .zip(aa)
            .zip(ab)
            .zip(ac)
            .zip(x4);
        for (((((((x0, pa), pb), pc), aa), ab), ac), x4) in iter {
            work.push((x0, [pa, pb, pc], [aa, ab, ac], x4));
        }
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
        linear::forward(
            &ws.x4,
            self.params.tensor(FC1_WEIGHT),
            images,
            self.flat,
            e,
            emb,
            &mut ws.emb_t,
            ws.threads,
        );
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
        for (l, geom) in self.geoms.iter().enumerate() {
            let began = Instant::now();
            let g_max = self.group_of(l, n);
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
                if let Some(plan) = &self.fft[l] {
                    let at = if s.keep_xhat { i } else { 0 };
                    let xhat = &mut s.xhat[l][conv_fft::inputs_len(plan, geom, at)..];
                    let planes = &mut s.planes[l];
                    conv_fft::transform_inputs(plan, geom, input, g, xhat, planes);
                    conv_fft::input_support(geom, input, g, &mut s.support);
                    let (xhat, yhat, y, on) = (&*xhat, &mut s.yhat, &mut s.y, &s.support);
                    conv_fft::forward(plan, geom, &what[l], xhat, on, g, yhat, y, planes);
                } else if self.implicit[l] {
                    conv_implicit::forward(geom, &packed[l], input, &mut s.implicit, &mut s.y);
                } else if l == 0 && self.single {
                    conv_single::forward(geom, weight, input, g, &mut s.y);
                } else {
                    conv::forward(geom, weight, input, g, &mut s.col, &mut s.y);
                }
                if l < 3 {
                    let len = self.pooled_len(l);
                    let range = i * len..(i + g) * len;
                    pool::forward(
                        &s.y,
                        bias,
                        g,
                        geom.side_out(),
                        &mut cur[0][range.clone()],
                        &mut a[l][range],
                    );
                } else {
                    activation::bias_relu_flatten(
                        &s.y,
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
        for (l, geom) in self.geoms.iter().enumerate() {
            if self.implicit[l] {
                let weight = self.params.tensor(conv_weight(l));
                conv_implicit::pack_flipped_weights(geom, weight, &mut ws.flipped[l]);
            }
        }
        let (flipped, what) = (&ws.flipped, &ws.what);
        let b = bounds(images, ws.threads);
        let in_len = self.geoms[0].input_len();
        let mut work = Vec::with_capacity(ws.threads);
        let [dp0, dp1, dp2] = &mut ws.dpooled;
        let mut dps = [
            chunks(dp0, self.pooled_len(0), &b).into_iter(),
            chunks(dp1, self.pooled_len(1), &b).into_iter(),
            chunks(dp2, self.pooled_len(2), &b).into_iter(),
        ];
        for w in b.windows(2) {
            let (lo, hi) = (w[0], w[1]);
            let p: [&[f32]; 3] = std::array::from_fn(|l| {
                &ws.pooled[l][lo * self.pooled_len(l)..hi * self.pooled_len(l)]
            });
            let a: [&[u8]; 3] = std::array::from_fn(|l| {
                &ws.argmax[l][lo * self.pooled_len(l)..hi * self.pooled_len(l)]
            });
            let dp: [&mut [f32]; 3] = [
                dps[0].next().expect("chunk"),
                dps[1].next().expect("chunk"),
                dps[2].next().expect("chunk"),
            ];
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
            let geom = &self.geoms[l];
            let g_max = self.group_of(l, n);
            let weight = self.params.tensor(conv_weight(l));
            s.dwhat[l].fill(C32::default());
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
                        &mut s.y,
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
                        &mut s.y,
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
                if let Some(plan) = &self.fft[l] {
                    let xhat = &s.xhat[l][conv_fft::inputs_len(plan, geom, i)..];
                    conv_fft::backward(
                        plan,
                        geom,
                        &what[l],
                        xhat,
                        &s.y,
                        g,
                        &mut s.yhat,
                        &mut s.dxhat,
                        &mut s.dwhat[l],
                        db,
                        dinput,
                        &mut s.planes[l],
                    );
                } else if self.implicit[l] {
                    let (dy, scratch) = (&s.y, &mut s.implicit);
                    conv_implicit::backward(geom, &flipped[l], input, dy, scratch, dw, db, dinput);
                } else if l == 0 && self.single {
                    conv_single::backward(geom, input, &s.y, g, dw, db);
                } else {
                    conv::backward(geom, weight, input, &s.y, g, &mut s.col, dw, db, dinput);
                }
                i += g;
            }
            if let Some(plan) = &self.fft[l] {
                conv_fft::finish_weight_grad(plan, geom, &s.dwhat[l], dw, &mut s.planes[l]);
            }
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

/// A rayon pool of exactly `threads` threads.
pub fn thread_pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| {
            oneshot_core::error::Error::Runtime(format!(
                "cannot start {threads} worker threads: {e}"
            ))
        })
}
