//! How each conv layer of [`super::model::SiameseNet`] is computed, and what it runs.
//!
//! Per layer one of four lowerings, forward and backward: an FFT ([`conv_fft`], the layers the
//! job's `model.conv` asks for), an implicit GEMM over shifted channels-last views
//! ([`conv_implicit`], where that is faster: conv2 of `paper`), the single-channel kernels
//! ([`conv_single`], conv1 where they fit) or im2col + GEMM ([`conv`], the rest). [`Lowering`]
//! holds the choice, the buffer sizes it implies for a thread's [`ConvScratch`], the weights'
//! preparation before a pass (packed operands, spectra) and the dispatch of one group of
//! images to the chosen kernels; model.rs runs the layers around it (pooling, activations).

use num_complex::Complex32 as C32;

use super::conv::{self, ConvGeom};
use super::conv_fft::{self, FftPlan, PlaneScratch};
use super::conv_implicit;
use super::conv_single;

/// Smallest number of GEMM columns a convolution group aims for (see conv.rs).
const MIN_GROUP_COLS: usize = 1024;

/// Most images per group of an FFT layer: the rows of its per-frequency GEMMs, and the size
/// of its output-spectrum scratch.
const FFT_GROUP: usize = 16;

/// The geometry and the lowering of each of the four conv layers.
#[derive(Debug, Clone)]
pub struct Lowering {
    pub geoms: [ConvGeom; 4],
    /// Layers that run as implicit GEMMs (conv_implicit.rs) instead of im2col.
    implicit: [bool; 4],
    /// Whether conv1 (one input channel) runs by conv_single.rs rather than im2col.
    single: bool,
    /// The FFT plans of the layers that run by FFT (conv_fft.rs), `None` for the others.
    fft: [Option<FftPlan>; 4],
}

/// One thread's buffers of the conv layers' kernels.
#[derive(Debug)]
pub struct ConvScratch {
    col: Vec<f32>,
    /// A group's conv output (forward) or output gradient (backward), `[cout, g*P]`.
    pub y: Vec<f32>,
    /// Channels-last image and product of the implicit-GEMM layers.
    implicit: Vec<f32>,
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
    /// Threads of the current pool that the direct forward GEMMs run on: 1, but the pool's
    /// size for a call of one image (model.rs), where no other image keeps them busy.
    pub gemm_threads: usize,
}

impl Lowering {
    /// The layers of `geoms`, each lowered as measured fastest (no FFT).
    pub fn new(geoms: [ConvGeom; 4]) -> Self {
        Lowering {
            implicit: geoms.map(|g| conv_implicit::preferred(&g)),
            single: conv_single::handles(&geoms[0]),
            fft: [None, None, None, None],
            geoms,
        }
    }

    /// The layers marked `true` by FFT; the others back to their measured choice.
    pub fn set_fft(&mut self, layers: [bool; 4]) {
        for (l, &on) in layers.iter().enumerate() {
            if on {
                self.implicit[l] = false;
            } else if self.fft[l].is_some() {
                self.implicit[l] = conv_implicit::preferred(&self.geoms[l]);
            }
            self.fft[l] = on.then(|| FftPlan::new(self.geoms[l].side_in));
        }
    }

    /// Which layers run by FFT.
    pub fn fft_layers(&self) -> [bool; 4] {
        std::array::from_fn(|l| self.fft[l].is_some())
    }

    /// The layers marked `true` as implicit GEMMs, the others by im2col (or FFT).
    pub fn set_implicit(&mut self, layers: [bool; 4]) {
        self.implicit = layers;
    }

    /// conv1 by conv_single.rs (`true`, where it can be) or by im2col (`false`).
    pub fn set_single(&mut self, on: bool) {
        self.single = on && conv_single::fits(&self.geoms[0]);
    }

    /// Images per group of layer `l` for a thread's chunk of `n` images.
    pub fn group_of(&self, l: usize, n: usize) -> usize {
        if self.fft[l].is_some() {
            FFT_GROUP.min(n).max(1)
        } else if self.implicit[l] {
            1
        } else {
            self.geoms[l].group(MIN_GROUP_COLS, n)
        }
    }

    /// Floats of one pooled activation of conv layer `l` (0..3) per image.
    pub fn pooled_len(&self, l: usize) -> usize {
        let half = self.geoms[l].side_out() / 2;
        self.geoms[l].cout * half * half
    }

    /// Floats of layer `l`'s packed forward weights (its flipped ones when training are as
    /// many): zero unless it runs as an implicit GEMM.
    pub fn packed_len(&self, l: usize) -> usize {
        let len = conv_implicit::packed_len(&self.geoms[l]);
        if self.implicit[l] {
            len
        } else {
            0
        }
    }

    /// The weights' spectra of layer `l` (empty unless it runs by FFT).
    pub fn weight_spectra(&self, l: usize) -> Vec<C32> {
        self.spectra(l, &conv_fft::weights_len)
    }

    fn spectra(&self, l: usize, len: &dyn Fn(&FftPlan, &ConvGeom) -> usize) -> Vec<C32> {
        match &self.fft[l] {
            Some(plan) => vec![C32::default(); len(plan, &self.geoms[l])],
            None => Vec::new(),
        }
    }

    /// The kernels' buffers of one thread for chunks of up to `per_thread` images.
    pub fn scratch(&self, per_thread: usize, train: bool) -> ConvScratch {
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
        let xhat_images = |l: usize| {
            if train {
                per_thread
            } else {
                self.group_of(l, per_thread)
            }
        };
        ConvScratch {
            col: vec![0.0; col],
            y: vec![0.0; y],
            implicit: vec![0.0; implicit],
            xhat: std::array::from_fn(|l| {
                self.spectra(l, &|p, g| conv_fft::inputs_len(p, g, xhat_images(l)))
            }),
            yhat: vec![C32::default(); yhat],
            dxhat: vec![C32::default(); dxhat],
            dwhat: std::array::from_fn(|l| {
                if train {
                    self.weight_spectra(l)
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
            gemm_threads: 1,
        }
    }

    /// Before a forward pass: layer `l`'s `weight` packed (implicit GEMM) or transformed
    /// into `what` (FFT), the latter only when the weights changed since `what_of`.
    pub fn prepare_forward(
        &self,
        l: usize,
        weight: &[f32],
        packed: &mut [f32],
        what: &mut [C32],
        what_of: &mut Vec<f32>,
    ) {
        let geom = &self.geoms[l];
        if self.implicit[l] {
            conv_implicit::pack_weights(geom, weight, packed);
        }
        if let Some(plan) = &self.fft[l] {
            // Transformed again only when the weights changed (every training step; once
            // for a whole inference task).
            if what_of.as_slice() != weight {
                conv_fft::transform_weights(plan, geom, weight, what);
                what_of.clear();
                what_of.extend_from_slice(weight);
            }
        }
    }

    /// Before a backward pass: layer `l`'s `weight` flipped into `flipped` (implicit GEMM).
    pub fn prepare_backward(&self, l: usize, weight: &[f32], flipped: &mut [f32]) {
        if self.implicit[l] {
            conv_implicit::pack_flipped_weights(&self.geoms[l], weight, flipped);
        }
    }

    /// Layer `l`'s conv output (no bias) of the `g` images `input`, the `i`-th onwards of the
    /// thread's chunk, into `s.y`, from its weights as given, packed and transformed.
    pub fn forward(
        &self,
        l: usize,
        s: &mut ConvScratch,
        (weight, packed, what): (&[f32], &[f32], &[C32]),
        input: &[f32],
        i: usize,
        g: usize,
    ) {
        let geom = &self.geoms[l];
        if let Some(plan) = &self.fft[l] {
            let at = if s.keep_xhat { i } else { 0 };
            let xhat = &mut s.xhat[l][conv_fft::inputs_len(plan, geom, at)..];
            let planes = &mut s.planes[l];
            conv_fft::transform_inputs(plan, geom, input, g, xhat, planes);
            conv_fft::input_support(geom, input, g, &mut s.support);
            let (xhat, yhat, y, on) = (&*xhat, &mut s.yhat, &mut s.y, &s.support);
            conv_fft::forward(plan, geom, what, xhat, on, g, yhat, y, planes);
        } else if self.implicit[l] {
            let (scratch, threads) = (&mut s.implicit, s.gemm_threads);
            conv_implicit::forward_on(geom, packed, input, scratch, &mut s.y, threads);
        } else if l == 0 && self.single {
            conv_single::forward(geom, weight, input, g, &mut s.y);
        } else {
            conv::forward_on(geom, weight, input, g, &mut s.col, &mut s.y, s.gemm_threads);
        }
    }

    /// Before layer `l`'s backward groups: its weight-gradient spectra cleared (FFT).
    pub fn begin_backward(&self, l: usize, s: &mut ConvScratch) {
        s.dwhat[l].fill(C32::default());
    }

    /// Backward of layer `l` for the `g` images `input`, the `i`-th onwards of the thread's
    /// chunk, from the output gradient in `s.y` and its weights as given, flipped and
    /// transformed: adds to `dw` and `db` (or, by FFT, to the weight-gradient spectra until
    /// [`Self::finish_backward`]), and overwrites `dinput` when given.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        l: usize,
        s: &mut ConvScratch,
        (weight, flipped, what): (&[f32], &[f32], &[C32]),
        input: &[f32],
        i: usize,
        g: usize,
        dw: &mut [f32],
        db: &mut [f32],
        dinput: Option<&mut [f32]>,
    ) {
        let geom = &self.geoms[l];
        if let Some(plan) = &self.fft[l] {
            let xhat = &s.xhat[l][conv_fft::inputs_len(plan, geom, i)..];
            conv_fft::backward(
                plan,
                geom,
                what,
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
            conv_implicit::backward(geom, flipped, input, dy, scratch, dw, db, dinput);
        } else if l == 0 && self.single {
            conv_single::backward(geom, input, &s.y, g, dw, db);
        } else {
            conv::backward(geom, weight, input, &s.y, g, &mut s.col, dw, db, dinput);
        }
    }

    /// After layer `l`'s backward groups: the weight gradient of an FFT layer added to `dw`.
    pub fn finish_backward(&self, l: usize, s: &mut ConvScratch, dw: &mut [f32]) {
        if let Some(plan) = &self.fft[l] {
            conv_fft::finish_weight_grad(plan, &self.geoms[l], &s.dwhat[l], dw, &mut s.planes[l]);
        }
    }
}
