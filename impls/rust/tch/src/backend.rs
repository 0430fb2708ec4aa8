//! [`TchNet`]: the siamese network on tch (libtorch's ATen ops, as python-torch runs them).
//!
//! Like impls/python/oneshot_torch/model.py at its best: convolution weights and activations in
//! channels-last memory format (oneDNN's fast path), both sides of the pairs in ONE tower call
//! of `2B` images, the flatten before fc1 in C, H, W order. `train_batch` is autograd's
//! `torch.autograd.grad` over the twelve leaf tensors (fresh gradients, as Python's
//! `zero_grad(set_to_none=True)` gives); inference and the update run under `no_grad`. tch 0.26
//! exposes neither the fused optimiser kernels (`_fused_sgd_`, `_fused_adam_`) nor the
//! `_foreach` ops, so the update is a few in-place ops per tensor on the framework's own
//! tensors, with the buffers kept here.

use std::sync::{Once, OnceLock};

use oneshot_core::error::{Error, Result};
use oneshot_core::network::guard::{check_capacity, check_output};
use oneshot_core::network::input::fill;
use oneshot_core::network::optim::{Optimizer, Rule};
use oneshot_core::network::params::{Params, TensorSpec, FC1_WEIGHT, OUT_WEIGHT};
use oneshot_core::network::{Network, Shape};
use serde_json::{Map, Value};
use tch::{Device, Kind, Reduction, TchError, Tensor};

const CPU: (Kind, Device) = (Kind::Float, Device::Cpu);

/// The network on tch: its twelve parameter tensors and what the update keeps.
pub struct TchNet {
    shape: Shape,
    specs: Vec<TensorSpec>,
    /// Interchange order; conv weights `(O, I, K, K)` in channels-last strides.
    params: Vec<Tensor>,
    /// Gradients of the last `train_batch` (empty before it and after `update`).
    grads: Vec<Tensor>,
    /// SGD momentum or Adam's first moment, per tensor (empty before the first update).
    first: Vec<Tensor>,
    /// Adam's second moment, per tensor.
    second: Vec<Tensor>,
    /// The inputs of the next call: `(N, 1, S, S)`, left rows then right rows.
    input: Option<Tensor>,
    staging: Vec<f32>,
    capacity: usize,
    train: bool,
}

/// A libtorch error as the core's one-line runtime error (libtorch appends its C++ trace).
fn torch_error(e: TchError) -> Error {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or("unknown error").trim();
    Error::Runtime(format!("libtorch: {line}"))
}

trait OrRuntime<T> {
    fn rt(self) -> Result<T>;
}

impl<T> OrRuntime<T> for std::result::Result<T, TchError> {
    fn rt(self) -> Result<T> {
        self.map_err(torch_error)
    }
}

/// An in-place op's result: its returned handle to the same tensor is not needed.
trait InPlace {
    fn done(self) -> Result<()>;
}

impl InPlace for std::result::Result<Tensor, TchError> {
    fn done(self) -> Result<()> {
        self.map(drop).map_err(torch_error)
    }
}

/// Whether glibc keeps freed memory in the process (python-torch's `keep_freed_memory`).
static KEEP_FREED: OnceLock<bool> = OnceLock::new();

/// Keep freed memory in the process before any tensor exists, as python-torch does
/// (impls/python/oneshot_common/allocator.py): no `mmap` for large blocks and no trimming, so
/// the `paper` shape's large activations do not fault their pages in anew on every step. One
/// arena too: the core runs the network on a rayon worker thread, whose own glibc arena is a
/// set of 64 MiB heaps that are unmapped whenever they empty (trimming settings aside), which
/// faulted 1.47 M pages in a `paper` forward of 256 pairs against python-torch's 0.28 M (its
/// network runs on the main thread, in the main arena); with one arena, 0.30 M.
pub fn keep_freed_memory() -> bool {
    *KEEP_FREED.get_or_init(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            extern "C" {
                fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
            }
            const M_TRIM_THRESHOLD: std::ffi::c_int = -1;
            const M_MMAP_MAX: std::ffi::c_int = -4;
            const M_ARENA_MAX: std::ffi::c_int = -8;
            // SAFETY: mallopt only changes glibc's allocation settings.
            unsafe {
                mallopt(M_MMAP_MAX, 0) != 0
                    && mallopt(M_TRIM_THRESHOLD, i32::MAX) != 0
                    && mallopt(M_ARENA_MAX, 1) != 0
            }
        }
        #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
        {
            false
        }
    })
}

/// libtorch's intra-op threads follow the job (OpenMP, MKL and oneDNN all read it); one
/// inter-op thread, as python-torch sets (eager ops never use that pool).
fn set_threads(threads: usize) -> Result<()> {
    static INTEROP: Once = Once::new();
    INTEROP.call_once(|| tch::set_num_interop_threads(1));
    let wanted = i32::try_from(threads)
        .map_err(|_| Error::Runtime(format!("{threads} threads is too many for libtorch")))?;
    tch::set_num_threads(wanted);
    let got = tch::get_num_threads();
    if got != wanted {
        return Err(Error::Runtime(format!(
            "libtorch runs {got} intra-op threads, expected the job's {wanted}"
        )));
    }
    Ok(())
}

/// A tensor of `values` with `dims`; 4-D (conv weights) in channels-last strides.
fn parameter(values: &[f32], dims: &[usize], train: bool) -> Result<Tensor> {
    let dims: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
    let plain = Tensor::f_from_slice(values)
        .rt()?
        .f_view(dims.as_slice())
        .rt()?;
    let tensor = if let [o, i, h, w] = dims[..] {
        // OIHW sizes with strides of O, H, W, I (what `.to(memory_format=channels_last)` makes).
        let _ = o;
        let strides = [i * h * w, 1, w * i, i];
        let mut cl = Tensor::f_empty_strided(dims.as_slice(), strides, CPU).rt()?;
        cl.f_copy_(&plain).rt()?;
        cl
    } else {
        plain
    };
    Ok(tensor.set_requires_grad(train))
}

/// A 0-dim float32 tensor: broadcast as the factor of `addcmul_`, so `a += s * b` is one pass.
fn scalar(value: f32) -> Result<Tensor> {
    Tensor::f_scalar_tensor(f64::from(value), CPU).rt()
}

/// The values of `tensor` (any strides) in its logical (row-major) order into `out`, checking
/// the length.
fn copy_out(tensor: &Tensor, out: &mut [f32]) -> Result<()> {
    check_output(tensor.numel(), out.len())?;
    tensor.f_contiguous().rt()?.f_copy_data(out, out.len()).rt()
}

impl TchNet {
    /// The first `images` inputs set, `(images, 1, S, S)`.
    fn inputs(&self, images: usize) -> Result<Tensor> {
        let input = self
            .input
            .as_ref()
            .ok_or_else(|| Error::Runtime("no inputs were set before the call".into()))?;
        let set = input.size()[0] as usize;
        if images > set {
            return Err(Error::Runtime(format!(
                "a call of {images} images, but only {set} inputs were set"
            )));
        }
        input.f_narrow(0, 0, images as i64).rt()
    }

    /// Embeddings `(N, E)` of images `(N, 1, S, S)`.
    fn tower(&self, images: &Tensor) -> std::result::Result<Tensor, TchError> {
        let p = &self.params;
        let mut x = images.shallow_clone();
        for layer in 0..4 {
            // (N, C, H, W) -> (N, F, H - K + 1, W - K + 1), channels-last like the weights.
            x = x
                .f_conv2d(&p[2 * layer], Some(&p[2 * layer + 1]), 1, 0, 1, 1)?
                .f_relu()?;
            if layer < 3 {
                x = x.f_max_pool2d(2, 2, 0, 1, false)?; // (N, F, H / 2, W / 2)
            }
        }
        // (N, F4 * H4 * W4) in C, H, W order whatever the memory format, like python-torch.
        let flat = x.f_contiguous()?.f_flatten(1, -1)?;
        flat.f_linear(&p[FC1_WEIGHT], Some(&p[FC1_WEIGHT + 1]))?
            .f_sigmoid()
    }

    /// Logits `(P)` of the pairs of embeddings `(2P, E)` (left rows, then right rows).
    fn head_logits(&self, emb: &Tensor, pairs: i64) -> std::result::Result<Tensor, TchError> {
        let left = emb.f_narrow(0, 0, pairs)?;
        let right = emb.f_narrow(0, pairs, pairs)?;
        let p = &self.params;
        (left - right)
            .f_abs()?
            .f_linear(&p[OUT_WEIGHT], Some(&p[OUT_WEIGHT + 1]))?
            .f_squeeze_dim(1)
    }

    /// SGD with momentum on tensor `i`: g' = g + l2 w; v = g' (step 1) or mu v + g'; w -= lr v.
    /// The fresh gradient becomes the momentum buffer, so each line is one pass.
    fn sgd(
        &mut self,
        i: usize,
        mut g: Tensor,
        lr: f32,
        mu: f32,
        l2: f32,
        first_step: bool,
    ) -> Result<()> {
        let w = &mut self.params[i];
        if l2 != 0.0 {
            g.f_addcmul_(w, &scalar(l2)?).done()?;
        }
        if !first_step {
            g.f_addcmul_(&self.first[i], &scalar(mu)?).done()?;
        }
        w.f_addcmul_(&g, &scalar(-lr)?).done()?;
        if first_step {
            self.first.push(g);
        } else {
            self.first[i] = g;
        }
        Ok(())
    }

    /// Adam on tensor `i` (torch's, with bias correction, coupled L2): m = lerp(m, g', 1 - b1),
    /// v = lerp(v, g'^2, 1 - b2), w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
    #[allow(clippy::too_many_arguments)]
    fn adam(
        &mut self,
        i: usize,
        mut g: Tensor,
        lr: f32,
        l2: f32,
        (beta1, beta2, eps): (f64, f64, f64),
        step: u64,
    ) -> Result<()> {
        let t = step.min(i32::MAX as u64) as i32;
        let w = &mut self.params[i];
        if self.first.len() == i {
            self.first.push(w.f_zeros_like().rt()?);
            self.second.push(w.f_zeros_like().rt()?);
        }
        if l2 != 0.0 {
            g.f_addcmul_(w, &scalar(l2)?).done()?;
        }
        self.first[i].f_lerp_(&g, 1.0 - beta1).done()?;
        g.f_square_().done()?;
        self.second[i].f_lerp_(&g, 1.0 - beta2).done()?;
        // The step as one addcdiv: w += m / d with d = -(sqrt(v) / root_c2 + eps) / step_size.
        let step_size = f64::from(lr) / (1.0 - beta1.powi(t));
        let root_c2 = (1.0 - beta2.powi(t)).sqrt();
        self.second[i].f_sqrt_out(&g).done()?;
        g.f_mul_scalar_(-1.0 / (root_c2 * step_size)).done()?;
        g.f_add_scalar_(-eps / step_size).done()?;
        w.f_addcdiv_(&self.first[i], &g).done()?;
        Ok(())
    }
}

impl Network for TchNet {
    const ID: &'static str = "rust-tch";

    fn versions() -> Map<String, Value> {
        let mut map = Map::new();
        let mut put = |k: &str, v: String| {
            map.insert(k.to_owned(), Value::from(v));
        };
        put("libtorch", env!("ONESHOT_LIBTORCH_VERSION").to_owned());
        put("libtorch_lib", env!("ONESHOT_LIBTORCH_LIB").to_owned());
        let backends: Vec<&str> = [
            ("openmp", tch::utils::has_openmp()),
            ("mkl", tch::utils::has_mkl()),
            ("mkldnn", tch::utils::has_mkldnn()),
        ]
        .into_iter()
        .filter_map(|(name, has)| has.then_some(name))
        .collect();
        put("torch_backends", backends.join(","));
        put(
            "threads",
            "torch intra-op = job threads (at::set_num_threads, checked at build), torch \
             inter-op 1, rayon = job threads"
                .to_owned(),
        );
        let kept = if keep_freed_memory() { "yes" } else { "no" };
        put("malloc_keep_freed", kept.to_owned());
        map
    }

    fn build(params: Params, capacity: usize, threads: usize, train: bool) -> Result<Self> {
        keep_freed_memory();
        set_threads(threads)?;
        let shape = params.shape;
        shape.sides()?;
        let tensors = params
            .tensors
            .iter()
            .enumerate()
            .map(|(i, spec)| parameter(params.tensor(i), &spec.dims, train))
            .collect::<Result<Vec<_>>>()?;
        let capacity = capacity.max(1);
        Ok(TchNet {
            shape,
            specs: params.tensors,
            params: tensors,
            grads: Vec::new(),
            first: Vec::new(),
            second: Vec::new(),
            input: None,
            staging: vec![0.0; capacity * shape.input * shape.input],
            capacity,
            train,
        })
    }

    fn shape(&self) -> Shape {
        self.shape
    }

    fn set_inputs(&mut self, left: &[&[u8]], right: &[&[u8]]) -> Result<()> {
        let images = left.len() + right.len();
        check_capacity(images, self.capacity)?;
        let side = self.shape.input;
        let pixels = side * side;
        for (image, out) in left
            .iter()
            .chain(right)
            .zip(self.staging.chunks_exact_mut(pixels))
        {
            fill(image, side, out);
        }
        let side = side as i64;
        let x = Tensor::f_from_slice(&self.staging[..images * pixels])
            .rt()?
            .f_view([images as i64, 1, side, side])
            .rt()?;
        // One input channel: NCHW-contiguous is already channels-last-contiguous (the
        // `.contiguous(memory_format=torch.channels_last)` of python-torch is a no-op).
        self.input = Some(x);
        Ok(())
    }

    fn embed(&mut self, images: usize, out: &mut [f32]) -> Result<()> {
        check_capacity(images, self.capacity)?;
        let x = self.inputs(images)?;
        let emb = tch::no_grad(|| self.tower(&x)).rt()?;
        copy_out(&emb, out)
    }

    fn forward_pairs(&mut self, pairs: usize, emb: &mut [f32], logits: &mut [f32]) -> Result<()> {
        check_capacity(2 * pairs, self.capacity)?;
        let x = self.inputs(2 * pairs)?;
        let (e, l) = tch::no_grad(|| {
            let e = self.tower(&x)?;
            let l = self.head_logits(&e, pairs as i64)?;
            Ok::<_, TchError>((e, l))
        })
        .rt()?;
        copy_out(&e, emb)?;
        copy_out(&l, logits)
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
        let targets = Tensor::f_from_slice(labels).rt()?;
        let emb = self.tower(&x).rt()?; // (2P, E)
        let logits = self.head_logits(&emb, pairs as i64).rt()?; // (P)
        let loss = logits
            .f_binary_cross_entropy_with_logits::<Tensor>(&targets, None, None, Reduction::Mean)
            .rt()?;
        self.grads = Tensor::f_run_backward(&[&loss], &self.params, false, false).rt()?;
        loss.f_double_value(&[]).rt()
    }

    fn gradients(&self) -> Result<Vec<f32>> {
        if self.grads.len() != self.params.len() {
            return Err(Error::Runtime(
                "no gradients: train_batch has not run since the last update".into(),
            ));
        }
        let total = self.specs.iter().map(|s| s.len).sum();
        let mut out = vec![0.0f32; total];
        for (g, spec) in self.grads.iter().zip(&self.specs) {
            copy_out(g, &mut out[spec.offset..spec.offset + spec.len])?;
        }
        Ok(out)
    }

    fn update(&mut self, optimizer: &mut Optimizer) -> Result<()> {
        if self.grads.len() != self.params.len() {
            return Err(Error::Runtime(
                "no gradients to update from: train_batch has not run".into(),
            ));
        }
        let step = optimizer.begin_step();
        let grads = std::mem::take(&mut self.grads);
        let _guard = tch::no_grad_guard();
        for (i, g) in grads.into_iter().enumerate() {
            let c = optimizer.current(i);
            match optimizer.rule() {
                Rule::Sgd { .. } => {
                    let first_step = self.first.len() == i;
                    self.sgd(i, g, c.lr, c.momentum, c.l2, first_step)?;
                }
                Rule::Adam {
                    beta1, beta2, eps, ..
                } => self.adam(i, g, c.lr, c.l2, (beta1, beta2, eps), step)?,
            }
        }
        Ok(())
    }

    fn params(&self) -> Result<Params> {
        let mut params = Params::zeros(self.shape)?;
        for (i, tensor) in self.params.iter().enumerate() {
            copy_out(tensor, params.tensor_mut(i))?;
        }
        Ok(params)
    }

    fn head(&self) -> Result<(Vec<f32>, f32)> {
        let mut weight = vec![0.0f32; self.shape.embedding];
        copy_out(&self.params[OUT_WEIGHT], &mut weight)?;
        let mut bias = [0.0f32];
        copy_out(&self.params[OUT_WEIGHT + 1], &mut bias)?;
        Ok((weight, bias[0]))
    }
}
