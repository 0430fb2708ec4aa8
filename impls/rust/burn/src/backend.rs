//! [`BurnNet`]: the siamese network on burn 0.22's pure-Rust CPU back-end (`flex`, `Autodiff<Flex>` for training), SGD and Adam written over its tensors.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::module::{conv2d, linear, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor, TensorData};
use oneshot_core::error::{Error, Result};
use oneshot_core::network::guard::{check_capacity, copy_out};
use oneshot_core::network::input::fill;
use oneshot_core::network::optim::{Optimizer, Rule};
use oneshot_core::network::params::{Params, FC1_WEIGHT, OUT_WEIGHT};
use oneshot_core::network::{Network, Shape};
use serde_json::{Map, Value};

/// The network: its twelve parameters as flat burn tensors (fc1's weight in burn's `Linear`
/// layout `[in, out]`), the optimiser's buffers, the next call's input and the last gradients.
pub struct BurnNet {
    shape: Shape,
    flat: usize,
    device: Device,
    params: Vec<Tensor<1>>,
    grads: Vec<Tensor<1>>,
    first: Vec<Option<Tensor<1>>>,
    second: Vec<Option<Tensor<1>>>,
    input: Option<Tensor<4>>,
    capacity: usize,
    train: bool,
    pool: Option<rayon::ThreadPool>,
}

/// Calls inside burn in progress: while one runs, a panic is turned into an error, not printed.
static GUARDED: AtomicUsize = AtomicUsize::new(0);
static QUIET_HOOK: Once = Once::new();

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown failure".into());
    text.lines().next().unwrap_or("").to_owned()
}

impl BurnNet {
    /// Runs `f` on the job's thread pool, a panic inside burn becoming `Error::Runtime`.
    fn guarded<T: Send>(&self, what: &str, f: impl FnOnce() -> T + Send) -> Result<T> {
        QUIET_HOOK.call_once(|| {
            let default = panic::take_hook();
            panic::set_hook(Box::new(move |info| {
                if GUARDED.load(Ordering::SeqCst) == 0 {
                    default(info);
                }
            }));
        });
        GUARDED.fetch_add(1, Ordering::SeqCst);
        let run = AssertUnwindSafe(|| match &self.pool {
            Some(pool) => pool.install(f),
            None => f(),
        });
        let outcome = panic::catch_unwind(run);
        GUARDED.fetch_sub(1, Ordering::SeqCst);
        outcome.map_err(|p| Error::Runtime(format!("burn failed in {what}: {}", panic_text(&*p))))
    }

    /// The first `images` inputs set, `(N, 1, S, S)`.
    fn inputs(&self, images: usize) -> Result<Tensor<4>> {
        match &self.input {
            Some(x) if x.dims()[0] >= images => Ok(x.clone().narrow(0, 0, images)),
            _ => Err(Error::Runtime(format!(
                "a call of {images} images, but fewer inputs were set"
            ))),
        }
    }

    /// One tower over `x` `(N, 1, S, S)` with parameters `p`: embeddings `(N, E)`.
    fn tower(&self, x: Tensor<4>, p: &[Tensor<1>]) -> Tensor<2> {
        let s = &self.shape;
        let mut h = x;
        let mut channels = 1;
        for l in 0..4 {
            let (f, k) = (s.filters[l], s.kernels[l]);
            let w = p[2 * l].clone().reshape([f, channels, k, k]); // (F, C, K, K)
            let options = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
            h = relu(conv2d(h, w, Some(p[2 * l + 1].clone()), options)); // (N, F, s, s)
            if l < 3 {
                h = max_pool2d(h, MaxPoolOptions::new([2, 2])); // (N, F, s/2, s/2)
            }
            channels = f;
        }
        let n = h.dims()[0];
        let h = h.reshape([n, self.flat]); // (N, F4*s4*s4), NCHW order
        let w = p[FC1_WEIGHT].clone().reshape([self.flat, s.embedding]); // (flat, E)
        sigmoid(linear(h, w, Some(p[FC1_WEIGHT + 1].clone()))) // (N, E)
    }

    /// The head over embeddings `(2P, E)` (left rows, then right rows): logits `(P)`.
    fn head_logits(&self, e: Tensor<2>, pairs: usize, p: &[Tensor<1>]) -> Tensor<1> {
        let d = (e.clone().narrow(0, 0, pairs) - e.narrow(0, pairs, pairs)).abs(); // (P, E)
        let w = p[OUT_WEIGHT].clone().reshape([self.shape.embedding, 1]); // (E, 1)
        linear(d, w, Some(p[OUT_WEIGHT + 1].clone())).reshape([pairs]) // (P)
    }

    /// Every tensor of `tensors` (laid out as the parameters) in the interchange layout.
    fn export(&self, tensors: &[Tensor<1>]) -> Result<Vec<f32>> {
        let mut out = Vec::new();
        for (i, t) in tensors.iter().enumerate() {
            let t = if i == FC1_WEIGHT {
                let w = t.clone().reshape([self.flat, self.shape.embedding]); // (flat, E)
                w.transpose().reshape([self.flat * self.shape.embedding])
            } else {
                t.clone()
            };
            let data = t
                .try_into_data()
                .map_err(|e| Error::Runtime(format!("burn cannot read a tensor: {e:?}")))?;
            let values = data
                .try_to_vec::<f32>()
                .map_err(|e| Error::Runtime(format!("burn tensor is not float32: {e:?}")))?;
            out.extend_from_slice(&values);
        }
        Ok(out)
    }

    fn read(t: Tensor<2>, out: &mut [f32]) -> Result<()> {
        let values = t
            .try_into_data()
            .map_err(|e| Error::Runtime(format!("burn cannot read a tensor: {e:?}")))?
            .try_to_vec::<f32>()
            .map_err(|e| Error::Runtime(format!("burn tensor is not float32: {e:?}")))?;
        copy_out(&values, out)
    }
}

impl Network for BurnNet {
    const ID: &'static str = "rust-burn";

    fn versions() -> Map<String, Value> {
        let mut map = Map::new();
        map.insert(
            "burn_backend".into(),
            "flex (Autodiff<Flex> for training), features std,simd,rayon,x86-v4".into(),
        );
        let avx512 = cfg!(target_arch = "x86_64") && std::is_x86_feature_detected!("avx512f");
        map.insert(
            "gemm_kernels".into(),
            (if avx512 {
                "x86-v4 (AVX-512)"
            } else {
                "x86-v3 or below (no AVX-512 CPU)"
            })
            .into(),
        );
        map.insert(
            "threads".into(),
            "rayon = job threads, gemm = job threads (flex kernels and gemm Parallelism::Rayon(0) run on the job's rayon pool)".into(),
        );
        map
    }

    fn build(params: Params, capacity: usize, threads: usize, train: bool) -> Result<Self> {
        let shape = params.shape;
        let flat = shape.flat()?;
        let pool = if rayon::current_num_threads() == threads.max(1) {
            None
        } else {
            Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads.max(1))
                    .build()
                    .map_err(|e| {
                        Error::Runtime(format!("cannot start {threads} worker threads: {e}"))
                    })?,
            )
        };
        let count = params.tensors.len();
        let mut net = BurnNet {
            shape,
            flat,
            device: Device::flex(),
            params: Vec::new(),
            grads: Vec::new(),
            first: vec![None; count],
            second: vec![None; count],
            input: None,
            capacity: capacity.max(1),
            train,
            pool,
        };
        let device = net.device.clone();
        net.params = net.guarded("loading the parameters", || {
            (0..count)
                .map(|i| {
                    let values = params.tensor(i).to_vec();
                    let len = values.len();
                    if i == FC1_WEIGHT {
                        let (e, f) = (shape.embedding, flat);
                        let w = Tensor::<2>::from_data(TensorData::new(values, [e, f]), &device);
                        w.transpose().reshape([len]) // (flat, E) flattened
                    } else {
                        Tensor::<1>::from_data(TensorData::new(values, [len]), &device)
                    }
                })
                .collect()
        })?;
        Ok(net)
    }

    fn shape(&self) -> Shape {
        self.shape
    }

    fn set_inputs(&mut self, left: &[&[u8]], right: &[&[u8]]) -> Result<()> {
        let n = left.len() + right.len();
        check_capacity(n, self.capacity)?;
        let side = self.shape.input;
        let mut pixels = vec![0.0f32; n * side * side];
        for (row, packed) in pixels
            .chunks_exact_mut(side * side)
            .zip(left.iter().chain(right))
        {
            fill(packed, side, row);
        }
        let device = self.device.clone();
        let data = TensorData::new(pixels, [n, 1, side, side]);
        self.input = Some(self.guarded("set_inputs", || Tensor::<4>::from_data(data, &device))?);
        Ok(())
    }

    fn embed(&mut self, images: usize, out: &mut [f32]) -> Result<()> {
        check_capacity(images, self.capacity)?;
        let x = self.inputs(images)?;
        let e = self.guarded("embed", || self.tower(x, &self.params))?;
        Self::read(e, out)
    }

    fn forward_pairs(&mut self, pairs: usize, emb: &mut [f32], logits: &mut [f32]) -> Result<()> {
        check_capacity(2 * pairs, self.capacity)?;
        let x = self.inputs(2 * pairs)?;
        let (e, z) = self.guarded("forward", || {
            let e = self.tower(x, &self.params);
            let z = self.head_logits(e.clone(), pairs, &self.params);
            (e, z)
        })?;
        Self::read(e, emb)?;
        Self::read(z.reshape([1, pairs]), logits)
    }

    fn train_batch(&mut self, labels: &[f32]) -> Result<f64> {
        let pairs = labels.len();
        check_capacity(2 * pairs, self.capacity)?;
        if !self.train {
            return Err(Error::Runtime(
                "the network was built for inference, not training".into(),
            ));
        }
        let x = self.inputs(2 * pairs)?;
        let y = TensorData::new(labels.to_vec(), [pairs]);
        let (loss, grads) = self.guarded("train_batch", || {
            let leaves: Vec<Tensor<1>> = self
                .params
                .iter()
                .map(|p| p.clone().autodiff().require_grad())
                .collect();
            let y = Tensor::<1>::from_data(y, &self.device); // (P), a constant
            let z = self.head_logits(self.tower(x, &leaves), pairs, &leaves); // (P)
                                                                              // Mean BCE from logits, stable: max(z, 0) - z*y + log(1 + exp(-|z|)).
            let loss =
                (z.clone().clamp_min(0.0) - z.clone() * y + z.abs().neg().exp().log1p()).mean();
            let mut tape = loss.backward();
            let grads: Vec<Option<Tensor<1>>> =
                leaves.iter().map(|l| l.grad_remove(&mut tape)).collect();
            (loss.inner().into_data().try_to_vec::<f32>(), grads)
        })?;
        let loss = loss.map_err(|e| Error::Runtime(format!("burn loss unreadable: {e:?}")))?;
        self.grads = grads
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| Error::Runtime("burn returned no gradient for a parameter".into()))?;
        Ok(f64::from(loss[0]))
    }

    fn gradients(&self) -> Result<Vec<f32>> {
        if self.grads.is_empty() {
            return Err(Error::Runtime(
                "no gradients: train_batch has not run".into(),
            ));
        }
        self.guarded("gradients", || self.export(&self.grads))?
    }

    fn update(&mut self, optimizer: &mut Optimizer) -> Result<()> {
        if self.grads.len() != self.params.len() {
            return Err(Error::Runtime(
                "no gradients: train_batch has not run".into(),
            ));
        }
        let t = optimizer.begin_step();
        let rule = optimizer.rule();
        let current: Vec<_> = (0..self.params.len())
            .map(|i| optimizer.current(i))
            .collect();
        let params = std::mem::take(&mut self.params);
        let mut first = std::mem::take(&mut self.first);
        let mut second = std::mem::take(&mut self.second);
        let updated = self.guarded("update", || {
            let mut out = Vec::with_capacity(params.len());
            for (i, w) in params.into_iter().enumerate() {
                let c = current[i];
                // Coupled L2 (0 for biases): g' = g + l2 * w.
                let g = self.grads[i].clone();
                let g = if c.l2 != 0.0 {
                    g + w.clone().mul_scalar(c.l2)
                } else {
                    g
                };
                out.push(match rule {
                    Rule::Sgd { .. } => {
                        // v = g' on step 1, else mu * v + g'; w -= lr * v.
                        let v = match first[i].take() {
                            Some(v) if t > 1 => v.mul_scalar(c.momentum) + g,
                            _ => g,
                        };
                        let w = w - v.clone().mul_scalar(c.lr);
                        first[i] = Some(v);
                        w
                    }
                    Rule::Adam {
                        beta1, beta2, eps, ..
                    } => {
                        let (b1, b2, eps) = (beta1 as f32, beta2 as f32, eps as f32);
                        let step_size = (c.lr as f64 / (1.0 - beta1.powi(t as i32))) as f32;
                        let root_c2 = (1.0 - beta2.powi(t as i32)).sqrt() as f32;
                        let gm = g.clone().mul_scalar(1.0 - b1);
                        let m = match first[i].take() {
                            Some(m) => m.mul_scalar(b1) + gm,
                            None => gm,
                        };
                        let gv = g.clone().mul_scalar(1.0 - b2) * g;
                        let v = match second[i].take() {
                            Some(v) => v.mul_scalar(b2) + gv,
                            None => gv,
                        };
                        let denom = v.clone().sqrt().div_scalar(root_c2).add_scalar(eps);
                        let w = w - m.clone().mul_scalar(step_size) / denom;
                        first[i] = Some(m);
                        second[i] = Some(v);
                        w
                    }
                });
            }
            out
        });
        self.first = first;
        self.second = second;
        self.params = updated?;
        Ok(())
    }

    fn params(&self) -> Result<Params> {
        let mut params = Params::zeros(self.shape)?;
        params.data = self.guarded("params", || self.export(&self.params))??;
        Ok(params)
    }
}
