//! [`CandleNet`]: the siamese network on candle (CPU tensors, `Var`s, `backward`) as the `rust-candle` back-end.

use candle_core::{DType, Device, Tensor, Var};
use oneshot_core::error::{Error, Result};
use oneshot_core::network::guard::{self, check_capacity};
use oneshot_core::network::input::{fill, PACKED_BYTES};
use oneshot_core::network::optim::{Optimizer, Rule};
use oneshot_core::network::params::{Params, FC1_WEIGHT, OUT_WEIGHT};
use oneshot_core::network::{Network, Shape};
use serde_json::{Map, Value};

/// How candle's thread pools follow the job's `threads` (see [`set_candle_threads`]).
const THREADS: &str = "rayon = job threads (the core's pool, which candle's conv and gemm \
     calls run in); gemm = Parallelism::Rayon(job threads) and elementwise barrier pool = job \
     threads, from RAYON_NUM_THREADS and CANDLE_NUM_THREADS set by build";

/// One line from a candle error (its display may carry a backtrace on later lines).
fn rt(err: candle_core::Error) -> Error {
    let text = err.to_string();
    let line = text.lines().next().unwrap_or("unknown error").trim();
    Error::Runtime(format!("candle: {line}"))
}

/// Makes candle's own pools follow `threads`: `candle_core::utils::get_num_threads()` (read
/// at every matmul, the `n` of gemm's `Parallelism::Rayon(n)`) reads `RAYON_NUM_THREADS`, and
/// the barrier pool of the elementwise ops (started on first use) reads `CANDLE_NUM_THREADS`
/// (candle-core 0.11.1, src/utils.rs). Set before the first op; the job has one `threads`.
fn set_candle_threads(threads: usize) {
    let value = threads.to_string();
    for key in ["RAYON_NUM_THREADS", "CANDLE_NUM_THREADS"] {
        if std::env::var(key).ok().as_deref() != Some(value.as_str()) {
            std::env::set_var(key, &value);
        }
    }
}

/// ReLU; with `grad` as `x * (x > 0)`, whose derivative at 0 is 0 as in PyTorch (candle's
/// `relu` passes the gradient at 0, which He-initialised zero biases hit on blank pixels).
fn relu(x: &Tensor, grad: bool) -> candle_core::Result<Tensor> {
    if grad {
        x.mul(&x.gt(0f32)?.to_dtype(DType::F32)?)
    } else {
        x.relu()
    }
}

/// 2x2 max-pooling, stride 2, floor mode: `(N, C, s, s)` -> `(N, C, s/2, s/2)`. With `grad`
/// as an argmax and a gather over the windows, so that the gradient goes to the first maximum
/// of each window, as in PyTorch: candle 0.11's `max_pool2d` backward scales it by the share of
/// the window that ties for the maximum (1/4 for a unique maximum) and maps an odd last row to
/// the wrong window (src/backprop.rs, `Op::MaxPool2D`).
fn max_pool(y: &Tensor, grad: bool) -> candle_core::Result<Tensor> {
    let (n, c, h, w) = y.dims4()?;
    let (ho, wo) = (h / 2, w / 2);
    let y = y.narrow(2, 0, 2 * ho)?.narrow(3, 0, 2 * wo)?;
    if !grad {
        return y.max_pool2d(2);
    }
    // (N, C, ho, 2, wo, 2) -> (N, C, ho, wo, 2, 2) -> (N, C, ho, wo, 4)
    let windows = y
        .reshape((n, c, ho, 2, wo, 2))?
        .permute((0, 1, 2, 4, 3, 5))?
        .contiguous()?
        .reshape((n, c, ho, wo, 4))?;
    let first = windows.argmax_keepdim(4)?;
    windows.gather(&first, 4)?.squeeze(4)
}

/// The rust-candle network: the twelve parameters as `Var`s (interchange shapes), the inputs,
/// the last gradients and the optimiser's buffers.
pub struct CandleNet {
    shape: Shape,
    capacity: usize,
    vars: Vec<Var>,
    /// Staging of the next inputs, `(images, 1, S, S)`, and the tensor made from it.
    pixels: Vec<f32>,
    input: Option<Tensor>,
    grads: Vec<Tensor>,
    first: Vec<Option<Tensor>>,
    second: Vec<Option<Tensor>>,
}

impl CandleNet {
    fn param(&self, index: usize) -> &Tensor {
        self.vars[index].as_tensor()
    }

    /// The first `images` inputs set, `(images, 1, S, S)`.
    fn images(&self, images: usize) -> Result<Tensor> {
        let input = self
            .input
            .as_ref()
            .ok_or_else(|| Error::Runtime("no inputs were set before the network call".into()))?;
        if images > input.dim(0).map_err(rt)? {
            return Err(Error::Runtime(format!(
                "a call of {images} images exceeds the {} inputs set",
                input.dim(0).map_err(rt)?
            )));
        }
        input.narrow(0, 0, images).map_err(rt)
    }

    /// Both towers in one call: embeddings `(N, E)` of images `(N, 1, S, S)`.
    fn tower(&self, x: &Tensor, grad: bool) -> candle_core::Result<Tensor> {
        let mut x = x.clone();
        for l in 0..4 {
            // (N, F, s, s): valid stride-1 convolution, OIHW weights.
            let y = x.conv2d(self.param(2 * l), 0, 1, 1, 1)?;
            let y = if l < 3 { max_pool(&y, grad)? } else { y };
            // Bias after pooling and ReLU last: max(y) + b = max(y + b), relu commutes with max.
            let bias = self.param(2 * l + 1).reshape((1, (), 1, 1))?;
            x = relu(&y.broadcast_add(&bias)?, grad)?;
        }
        // (N, F4 * s4 * s4) in C, H, W order, then fc1 + sigmoid: (N, E).
        let flat = x.flatten_from(1)?;
        let z = flat
            .matmul(&self.param(FC1_WEIGHT).t()?)?
            .broadcast_add(self.param(FC1_WEIGHT + 1))?;
        candle_nn::ops::sigmoid(&z)
    }

    /// Logits `(P,)` of embeddings `(2P, E)`: `out(|e1 - e2|)`.
    fn logits(&self, emb: &Tensor, pairs: usize) -> candle_core::Result<Tensor> {
        let diff = (emb.narrow(0, 0, pairs)? - emb.narrow(0, pairs, pairs)?)?.abs()?;
        diff.matmul(&self.param(OUT_WEIGHT).t()?)?
            .broadcast_add(self.param(OUT_WEIGHT + 1))?
            .squeeze(1)
    }

    fn train_graph(&mut self, labels: &[f32]) -> candle_core::Result<f64> {
        let pairs = labels.len();
        let input = match &self.input {
            Some(input) => input.narrow(0, 0, 2 * pairs)?,
            None => candle_core::bail!("no inputs were set before the training call"),
        };
        let z = self.logits(&self.tower(&input, true)?, pairs)?;
        let y = Tensor::from_slice(labels, pairs, &Device::Cpu)?;
        // Mean BCE from logits: max(z, 0) - z*y + log(1 + exp(-|z|)).
        let soft = z.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
        let loss = ((z.relu()? - (&z * &y)?)? + soft)?.mean_all()?;
        let store = loss.backward()?;
        self.grads = self
            .vars
            .iter()
            .map(|v| match store.get(v.as_tensor()) {
                // Detached: a gradient's graph holds this step's activations.
                Some(g) => Ok(g.detach()),
                None => v.as_tensor().zeros_like(),
            })
            .collect::<candle_core::Result<_>>()?;
        loss.to_scalar::<f32>().map(f64::from)
    }

    fn update_graph(&mut self, optimizer: &mut Optimizer) -> candle_core::Result<()> {
        let step = optimizer.begin_step();
        for (i, var) in self.vars.iter().enumerate() {
            let c = optimizer.current(i);
            // Detached: ops on a `Var` record a graph, and the buffers would chain every step's.
            let (w, g) = (&var.as_tensor().detach(), &self.grads[i]);
            // Coupled L2 on weights: g' = g + l2 * w (l2 is 0 for biases).
            let g = if c.l2 != 0.0 {
                (g + w.affine(f64::from(c.l2), 0.0)?)?
            } else {
                g.clone()
            };
            let delta = match optimizer.rule() {
                Rule::Sgd { .. } => {
                    // v = g' on the first step, else mu * v + g'; w -= lr * v.
                    let v = match (&self.first[i], step) {
                        (Some(v), s) if s > 1 => (v.affine(f64::from(c.momentum), 0.0)? + g)?,
                        _ => g,
                    };
                    let delta = v.affine(f64::from(c.lr), 0.0)?;
                    self.first[i] = Some(v);
                    delta
                }
                Rule::Adam {
                    beta1, beta2, eps, ..
                } => {
                    let t = step.min(i32::MAX as u64) as i32;
                    let m = match &self.first[i] {
                        Some(m) => (m.affine(beta1, 0.0)? + g.affine(1.0 - beta1, 0.0)?)?,
                        None => g.affine(1.0 - beta1, 0.0)?,
                    };
                    let g2 = g.sqr()?;
                    let v = match &self.second[i] {
                        Some(v) => (v.affine(beta2, 0.0)? + g2.affine(1.0 - beta2, 0.0)?)?,
                        None => g2.affine(1.0 - beta2, 0.0)?,
                    };
                    // w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
                    let step_size = f64::from(c.lr) / (1.0 - beta1.powi(t));
                    let root_c2 = (1.0 - beta2.powi(t)).sqrt();
                    let denom = v.sqrt()?.affine(1.0 / root_c2, eps)?;
                    let delta = (m.affine(step_size, 0.0)? / denom)?;
                    self.first[i] = Some(m);
                    self.second[i] = Some(v);
                    delta
                }
            };
            var.set(&(w - delta)?)?;
        }
        Ok(())
    }

    fn copy_params(&self, indices: std::ops::Range<usize>) -> candle_core::Result<Vec<f32>> {
        let mut out = Vec::new();
        for var in &self.vars[indices] {
            out.extend(var.as_tensor().flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(out)
    }
}

/// Copies `t` (any shape, float32) into `out`, checking the length.
fn copy_out(t: &Tensor, out: &mut [f32]) -> Result<()> {
    let values = t
        .flatten_all()
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(rt)?;
    guard::copy_out(&values, out)
}

impl Network for CandleNet {
    const ID: &'static str = "rust-candle";

    fn versions() -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("threads".into(), Value::from(THREADS));
        // This crate's own `gemm` dependency unifies the feature into candle-core's.
        map.insert("gemm_features".into(), Value::from("std,rayon,x86-v4"));
        map
    }

    fn build(params: Params, capacity: usize, threads: usize, _train: bool) -> Result<Self> {
        set_candle_threads(threads);
        let vars = params
            .tensors
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                Var::from_slice(params.tensor(i), spec.dims.as_slice(), &Device::Cpu).map_err(rt)
            })
            .collect::<Result<Vec<_>>>()?;
        let n = vars.len();
        Ok(CandleNet {
            shape: params.shape,
            capacity: capacity.max(1),
            vars,
            pixels: Vec::new(),
            input: None,
            grads: Vec::new(),
            first: vec![None; n],
            second: vec![None; n],
        })
    }

    fn shape(&self) -> Shape {
        self.shape
    }

    fn set_inputs(&mut self, left: &[&[u8]], right: &[&[u8]]) -> Result<()> {
        let images = left.len() + right.len();
        check_capacity(images, self.capacity)?;
        let side = self.shape.input;
        let plane = side * side;
        self.pixels.resize(images * plane, 0.0);
        for (k, packed) in left.iter().chain(right).enumerate() {
            if packed.len() != PACKED_BYTES {
                return Err(Error::Runtime(format!(
                    "a packed image of {} bytes, expected {PACKED_BYTES}",
                    packed.len()
                )));
            }
            fill(packed, side, &mut self.pixels[k * plane..(k + 1) * plane]);
        }
        let input = Tensor::from_slice(&self.pixels, (images, 1, side, side), &Device::Cpu);
        self.input = Some(input.map_err(rt)?);
        Ok(())
    }

    fn embed(&mut self, images: usize, out: &mut [f32]) -> Result<()> {
        check_capacity(images, self.capacity)?;
        let x = self.images(images)?;
        let emb = self.tower(&x, false).map_err(rt)?;
        copy_out(&emb, out)
    }

    fn forward_pairs(&mut self, pairs: usize, emb: &mut [f32], logits: &mut [f32]) -> Result<()> {
        check_capacity(2 * pairs, self.capacity)?;
        let x = self.images(2 * pairs)?;
        let e = self.tower(&x, false).map_err(rt)?;
        let z = self.logits(&e, pairs).map_err(rt)?;
        copy_out(&e, emb)?;
        copy_out(&z, logits)
    }

    fn train_batch(&mut self, labels: &[f32]) -> Result<f64> {
        check_capacity(2 * labels.len(), self.capacity)?;
        if labels.is_empty() {
            return Err(Error::Runtime("a training call with no pairs".into()));
        }
        self.images(2 * labels.len())?;
        self.train_graph(labels).map_err(rt)
    }

    fn gradients(&self) -> Result<Vec<f32>> {
        if self.grads.is_empty() {
            return Err(Error::Runtime(
                "no gradients before the first training call".into(),
            ));
        }
        let mut out = Vec::new();
        for g in &self.grads {
            out.extend(
                g.flatten_all()
                    .and_then(|t| t.to_vec1::<f32>())
                    .map_err(rt)?,
            );
        }
        Ok(out)
    }

    fn update(&mut self, optimizer: &mut Optimizer) -> Result<()> {
        if self.grads.is_empty() {
            return Err(Error::Runtime(
                "an update before the first training call".into(),
            ));
        }
        self.update_graph(optimizer).map_err(rt)
    }

    fn params(&self) -> Result<Params> {
        let mut params = Params::zeros(self.shape)?;
        params.data = self.copy_params(0..self.vars.len()).map_err(rt)?;
        Ok(params)
    }

    fn head(&self) -> Result<(Vec<f32>, f32)> {
        let values = self.copy_params(OUT_WEIGHT..OUT_WEIGHT + 2).map_err(rt)?;
        let e = self.shape.embedding;
        Ok((values[..e].to_vec(), values[e]))
    }
}
