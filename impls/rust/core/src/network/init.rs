//! The paper's initialisation (Koch et al. 2015, section 4.2): conv weights N(0, 1e-2), fully
//! connected weights N(0, 2e-1), every bias N(0.5, 1e-2).
//!
//! Values come from the shared generator's `init` stream seeded with the job seed, turned into
//! normal deviates by Box-Muller, tensors in interchange order. Value parity with the PyTorch
//! side is not required: to start both sides from the same weights, one writes a weights file
//! (task `init`) and the other reads it.

use super::params::Params;
use super::Shape;
use crate::error::Result;
use crate::rng::Rng;

/// Standard normal deviates by the Box-Muller transform over `rng.uniform()`.
struct Normal {
    rng: Rng,
    spare: Option<f64>,
}

impl Normal {
    fn next(&mut self) -> f64 {
        if let Some(value) = self.spare.take() {
            return value;
        }
        // 1 - u is in (0, 1], so the logarithm is finite.
        let u1 = 1.0 - self.rng.uniform();
        let u2 = self.rng.uniform();
        let radius = (-2.0 * u1.ln()).sqrt();
        let angle = std::f64::consts::TAU * u2;
        self.spare = Some(radius * angle.sin());
        radius * angle.cos()
    }
}

/// Parameters of `shape` drawn as in the paper from `seed`.
pub fn paper(shape: Shape, seed: u64) -> Result<Params> {
    let mut params = Params::zeros(shape)?;
    let mut normal = Normal {
        rng: Rng::new(seed, "init"),
        spare: None,
    };
    for index in 0..params.tensors.len() {
        let spec = &params.tensors[index];
        let (mean, std) = if !spec.is_weight() {
            (0.5, 1e-2)
        } else if spec.layer().starts_with("conv") {
            (0.0, 1e-2)
        } else {
            (0.0, 2e-1)
        };
        for value in params.tensor_mut(index) {
            *value = (mean + std * normal.next()) as f32;
        }
    }
    Ok(params)
}

/// He initialisation (not in the paper, docs/protocol.md): weights N(0, g/fan_in) in
/// variance, g = 2 for the convolutions and 1 for fc1 and out, fan_in = the weight's size over
/// its first dimension; biases 0. Same stream and order as [`paper`].
pub fn he(shape: Shape, seed: u64) -> Result<Params> {
    let mut params = Params::zeros(shape)?;
    let mut normal = Normal {
        rng: Rng::new(seed, "init"),
        spare: None,
    };
    for index in 0..params.tensors.len() {
        let spec = &params.tensors[index];
        if !spec.is_weight() {
            continue;
        }
        let gain = if spec.layer().starts_with("conv") {
            2.0
        } else {
            1.0
        };
        let std = (gain / (spec.len / spec.dims[0]) as f64).sqrt();
        for value in params.tensor_mut(index) {
            *value = (std * normal.next()) as f32;
        }
    }
    Ok(params)
}

/// The initialisation a job names (`params.init`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitName {
    #[default]
    Paper,
    He,
}

/// Parameters of `shape` drawn with `name` from `seed`.
pub fn draw(name: InitName, shape: Shape, seed: u64) -> Result<Params> {
    match name {
        InitName::Paper => paper(shape, seed),
        InitName::He => he(shape, seed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_the_paper_means_and_deviations() {
        let shape = Shape {
            filters: [8, 16, 16, 32],
            kernels: [5, 3, 3, 2],
            embedding: 64,
            input: 40,
        };
        let params = paper(shape, 3).unwrap();
        let stats = |v: &[f32]| {
            let n = v.len() as f64;
            let mean = v.iter().map(|x| *x as f64).sum::<f64>() / n;
            let var = v.iter().map(|x| (*x as f64 - mean).powi(2)).sum::<f64>() / n;
            (mean, var.sqrt())
        };
        let (m, s) = stats(params.tensor(2)); // conv2.weight, 1152 values
        assert!(m.abs() < 2e-3 && (s - 1e-2).abs() < 1e-3, "{m} {s}");
        let (m, s) = stats(params.tensor(8)); // fc1.weight
        assert!(m.abs() < 2e-2 && (s - 0.2).abs() < 1e-2, "{m} {s}");
        let (m, s) = stats(params.tensor(9)); // fc1.bias
        assert!((m - 0.5).abs() < 5e-3 && (s - 1e-2).abs() < 3e-3, "{m} {s}");
        assert_eq!(params, paper(shape, 3).unwrap());
        assert_ne!(params, paper(shape, 4).unwrap());
    }
}
