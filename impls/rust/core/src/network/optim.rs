//! Optimisers as one fused pass over the flat parameter buffer: SGD with momentum and Adam,
//! each tensor with its own learning rate, momentum and L2 weight (Koch et al. 2015, 4.2).
//!
//! Semantics are PyTorch's, so both implementations follow the same trajectory: L2 is coupled
//! weight decay on weights only (`g += l2 * w`, never on biases); SGD is `v = mu*v + g`,
//! `w -= lr*v` (the first step sets `v = g`); Adam is torch's with bias correction,
//! `w -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)`. The schedule (the learning rate
//! decayed by `lr_decay` per epoch, momentum rising linearly from `momentum_start`) is applied
//! per epoch by [`Optimizer::set_epoch`]. The pass is split over the current rayon pool.

use rayon::prelude::*;

use super::params::Params;

/// Elements per parallel work item of the fused pass.
const CHUNK: usize = 1 << 16;

/// Learning rate, final momentum and L2 weight of one layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayerSettings {
    pub lr: f64,
    pub momentum: f64,
    pub l2: f64,
}

/// Which update rule and its global settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// SGD with momentum; the schedule's settings.
    Sgd {
        momentum_start: f64,
        momentum_epochs: u64,
        lr_decay: f64,
    },
    /// Adam with torch's defaults for the form of the update.
    Adam {
        beta1: f64,
        beta2: f64,
        eps: f64,
        lr_decay: f64,
    },
}

/// Per-tensor values in force for the current epoch.
/// One tensor's settings for the current epoch, as an update applies them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Current {
    /// Learning rate after the epoch's decay.
    pub lr: f32,
    /// Momentum on the epoch's ramp (SGD; unused by Adam).
    pub momentum: f32,
    /// L2 weight: 0 for biases.
    pub l2: f32,
}

/// The optimiser's state: one or two buffers laid out like the parameters.
#[derive(Debug, Clone)]
pub struct Optimizer {
    rule: Rule,
    layers: Vec<LayerSettings>,
    current: Vec<Current>,
    first: Vec<f32>,
    second: Vec<f32>,
    steps: u64,
}

impl Optimizer {
    /// An optimiser for `params` with `layer_settings(layer_name)` per tensor, at epoch 0.
    pub fn new(
        params: &Params,
        rule: Rule,
        layer_settings: impl Fn(&str) -> LayerSettings,
    ) -> Self {
        let layers: Vec<LayerSettings> = params
            .tensors
            .iter()
            .map(|t| {
                let mut s = layer_settings(t.layer());
                if !t.is_weight() {
                    s.l2 = 0.0;
                }
                s
            })
            .collect();
        let second = match rule {
            Rule::Adam { .. } => vec![0.0; params.data.len()],
            Rule::Sgd { .. } => Vec::new(),
        };
        let mut optimizer = Optimizer {
            rule,
            current: Vec::new(),
            layers,
            first: vec![0.0; params.data.len()],
            second,
            steps: 0,
        };
        optimizer.set_epoch(0);
        optimizer
    }

    /// Sets the epoch's learning rates and momenta (epochs count from 0).
    pub fn set_epoch(&mut self, epoch: u64) {
        let (decay, ramp, start) = match self.rule {
            Rule::Sgd {
                momentum_start,
                momentum_epochs,
                lr_decay,
            } => {
                let ramp = if momentum_epochs == 0 {
                    1.0
                } else {
                    (epoch as f64 / momentum_epochs as f64).min(1.0)
                };
                (lr_decay, ramp, momentum_start)
            }
            Rule::Adam { lr_decay, .. } => (lr_decay, 1.0, 0.0),
        };
        let factor = (1.0 - decay).powi(epoch.min(i32::MAX as u64) as i32);
        self.current = self
            .layers
            .iter()
            .map(|s| Current {
                lr: (s.lr * factor) as f32,
                momentum: (start + (s.momentum - start) * ramp) as f32,
                l2: s.l2 as f32,
            })
            .collect();
    }

    /// The update rule and its constants.
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// Tensor `index`'s settings for the current epoch.
    pub fn current(&self, index: usize) -> Current {
        self.current[index]
    }

    /// Count one more step and return its number (1 for the first), for back-ends that apply
    /// the update to their own tensors: SGD sets the momentum buffer to the gradient on step 1,
    /// Adam's bias correction uses the number.
    pub fn begin_step(&mut self) -> u64 {
        self.steps += 1;
        self.steps
    }

    /// One update of `params` from `grads` (laid out like the parameters).
    pub fn step(&mut self, params: &mut Params, grads: &[f32]) {
        self.steps += 1;
        let t = self.steps as i32;
        for (index, spec) in params.tensors.clone().iter().enumerate() {
            let c = self.current[index];
            let range = spec.offset..spec.offset + spec.len;
            let w = &mut params.data[range.clone()];
            let g = &grads[range.clone()];
            let m = &mut self.first[range.clone()];
            match self.rule {
                Rule::Sgd { .. } => {
                    let first_step = self.steps == 1;
                    w.par_chunks_mut(CHUNK)
                        .zip(g.par_chunks(CHUNK))
                        .zip(m.par_chunks_mut(CHUNK))
                        .for_each(|((w, g), m)| {
                            for ((w, g), m) in w.iter_mut().zip(g).zip(m.iter_mut()) {
                                let grad = g + c.l2 * *w;
                                *m = if first_step {
                                    grad
                                } else {
                                    c.momentum * *m + grad
                                };
                                *w -= c.lr * *m;
                            }
                        });
                }
                Rule::Adam {
                    beta1, beta2, eps, ..
                } => {
                    let v = &mut self.second[range];
                    let step_size = (c.lr as f64 / (1.0 - beta1.powi(t))) as f32;
                    let root_c2 = (1.0 - beta2.powi(t)).sqrt() as f32;
                    let (b1, b2, eps) = (beta1 as f32, beta2 as f32, eps as f32);
                    w.par_chunks_mut(CHUNK)
                        .zip(g.par_chunks(CHUNK))
                        .zip(m.par_chunks_mut(CHUNK))
                        .zip(v.par_chunks_mut(CHUNK))
                        .for_each(|(((w, g), m), v)| {
                            for (((w, g), m), v) in
                                w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut())
                            {
                                let grad = g + c.l2 * *w;
                                *m = b1 * *m + (1.0 - b1) * grad;
                                *v = b2 * *v + (1.0 - b2) * grad * grad;
                                *w -= step_size * *m / (v.sqrt() / root_c2 + eps);
                            }
                        });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Shape;

    fn settings(_: &str) -> LayerSettings {
        LayerSettings {
            lr: 0.1,
            momentum: 0.9,
            l2: 0.01,
        }
    }

    #[test]
    fn sgd_follows_torch_momentum_and_weight_decay() {
        let mut params = Params::zeros(Shape::tiny()).unwrap();
        params.data.fill(1.0);
        let grads = vec![0.5; params.data.len()];
        let rule = Rule::Sgd {
            momentum_start: 0.5,
            momentum_epochs: 10,
            lr_decay: 0.01,
        };
        let mut opt = Optimizer::new(&params, rule, settings);
        opt.step(&mut params, &grads);
        // weight: g = 0.5 + 0.01*1 = 0.51, v = 0.51, w = 1 - 0.051; bias: no decay.
        assert!((params.data[0] - 0.949).abs() < 1e-6);
        let bias = params.tensors[1].offset;
        assert!((params.data[bias] - 0.95).abs() < 1e-6);
        opt.step(&mut params, &grads);
        // momentum 0.5 at epoch 0: v = 0.5*0.51 + (0.5 + 0.01*0.949).
        let v = 0.5 * 0.51 + 0.5 + 0.01 * 0.949;
        assert!((params.data[0] - (0.949 - 0.1 * v)).abs() < 1e-6);
        opt.set_epoch(5);
        assert!((opt.current[0].momentum - 0.7).abs() < 1e-6);
        assert!((opt.current[0].lr as f64 - 0.1 * 0.99f64.powi(5)).abs() < 1e-7);
    }

    #[test]
    fn adam_first_step_moves_by_the_learning_rate() {
        let mut params = Params::zeros(Shape::tiny()).unwrap();
        let grads: Vec<f32> = (0..params.data.len())
            .map(|i| if i % 2 == 0 { 2.0 } else { -3.0 })
            .collect();
        let rule = Rule::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            lr_decay: 0.0,
        };
        let mut opt = Optimizer::new(&params, rule, |_| LayerSettings {
            lr: 1e-3,
            momentum: 0.0,
            l2: 0.0,
        });
        opt.step(&mut params, &grads);
        assert!((params.data[0] + 1e-3).abs() < 1e-7);
        assert!((params.data[1] - 1e-3).abs() < 1e-7);
    }
}
