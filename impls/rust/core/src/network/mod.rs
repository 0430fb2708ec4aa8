//! The network as every Rust back-end shares it: the [`Shape`] and its analytic counts, the
//! interchange layout of the parameters ([`params`]), the paper's initial weights ([`init`]),
//! the safetensors weights file ([`weights`]), the network input from packed images
//! ([`input`]), the optimiser's schedule and reference update ([`optim`]), the head that scores
//! embeddings ([`head`]), the [`Network`] trait a back-end implements ([`backend`]), the network
//! of an ONNX inference engine ([`engine`]) and the checks every back-end makes around a call
//! ([`guard`]).
//! `Shape::paper()` is the published shape.

pub mod backend;
pub mod engine;
pub mod guard;
pub mod head;
pub mod init;
pub mod input;
pub mod optim;
pub mod params;
pub mod weights;

pub use backend::Network;

use serde::Deserialize;

use crate::error::{Error, Result};

/// Side of an Omniglot image in pixels.
pub const IMAGE_SIDE: usize = 105;
/// How a conv layer is computed: directly (GEMM-lowered) or by FFT. The function is the same;
/// only the arithmetic and its rounding differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConvAlgo {
    Direct,
    Fft,
}

/// Names of the six layers in interchange order.
pub const LAYERS: [&str; 6] = ["conv1", "conv2", "conv3", "conv4", "fc1", "out"];

/// A network shape: conv widths and kernel sizes, embedding size, input side in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub filters: [usize; 4],
    pub kernels: [usize; 4],
    pub embedding: usize,
    pub input: usize,
}

/// Spatial sizes of one tower: the side after each conv (before pooling) and after pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sides {
    /// Side of each layer's input (`input`, then the pooled outputs).
    pub inputs: [usize; 4],
    /// Side of each conv output (before pooling).
    pub convs: [usize; 4],
}

impl Shape {
    /// Koch et al. (2015): 38,951,745 parameters.
    pub fn paper() -> Self {
        Shape {
            filters: [64, 128, 128, 256],
            kernels: [10, 7, 4, 4],
            embedding: 4096,
            input: 105,
        }
    }

    /// A tiny shape for tests (same as the PyTorch side's `tiny` preset).
    pub fn tiny() -> Self {
        Shape {
            filters: [4, 8, 8, 16],
            kernels: [5, 3, 2, 2],
            embedding: 32,
            input: 32,
        }
    }

    /// Checks the shape and returns its spatial sizes; `Error::Job` on the `model` field if the
    /// shape is impossible (a kernel larger than its input, a pooled side of zero).
    pub fn sides(&self) -> Result<Sides> {
        if self.input == 0 || self.input > IMAGE_SIDE {
            return Err(Error::job(
                "model.input",
                format!("{} is out of range, expected 1..={IMAGE_SIDE}", self.input),
            ));
        }
        for (i, (&f, &k)) in self.filters.iter().zip(&self.kernels).enumerate() {
            if f == 0 || k == 0 {
                return Err(Error::job(
                    "model",
                    format!(
                        "conv{} has width {f} and kernel {k}, expected both >= 1",
                        i + 1
                    ),
                ));
            }
        }
        if self.embedding == 0 {
            return Err(Error::job("model.embedding", "0, expected >= 1"));
        }
        let mut side = self.input;
        let mut sides = Sides {
            inputs: [0; 4],
            convs: [0; 4],
        };
        for (i, &k) in self.kernels.iter().enumerate() {
            if k > side {
                return Err(Error::job(
                    "model",
                    format!(
                        "conv{} kernel {k} does not fit a {side}-pixel input, expected a smaller \
                         kernel or a larger model.input",
                        i + 1
                    ),
                ));
            }
            sides.inputs[i] = side;
            side = side - k + 1;
            sides.convs[i] = side;
            if i < 3 {
                if side < 2 {
                    return Err(Error::job(
                        "model",
                        format!(
                            "conv{} output is {side} pixel wide, expected at least 2 for its 2x2 \
                             max-pooling",
                            i + 1
                        ),
                    ));
                }
                side /= 2;
            }
        }
        Ok(sides)
    }

    /// Length of the flattened conv4 output that feeds fc1 (C, H, W order).
    pub fn flat(&self) -> Result<usize> {
        let side = self.sides()?.convs[3];
        Ok(self.filters[3] * side * side)
    }

    /// Interchange tensor names and shapes (PyTorch layouts), in file order.
    pub fn tensor_shapes(&self) -> Result<Vec<(String, Vec<usize>)>> {
        let flat = self.flat()?;
        let mut shapes = Vec::with_capacity(12);
        let mut channels = 1;
        for i in 0..4 {
            let (f, k) = (self.filters[i], self.kernels[i]);
            shapes.push((format!("conv{}.weight", i + 1), vec![f, channels, k, k]));
            shapes.push((format!("conv{}.bias", i + 1), vec![f]));
            channels = f;
        }
        shapes.push(("fc1.weight".into(), vec![self.embedding, flat]));
        shapes.push(("fc1.bias".into(), vec![self.embedding]));
        shapes.push(("out.weight".into(), vec![1, self.embedding]));
        shapes.push(("out.bias".into(), vec![1]));
        Ok(shapes)
    }

    /// Number of parameters.
    pub fn parameter_count(&self) -> Result<usize> {
        Ok(self
            .tensor_shapes()?
            .iter()
            .map(|(_, dims)| dims.iter().product::<usize>())
            .sum())
    }

    /// FLOP of one image through the conv tower and fc1 (a multiply-add counts 2).
    pub fn image_forward_flop(&self) -> Result<f64> {
        let sides = self.sides()?;
        let mut total = 0.0;
        let mut channels = 1;
        for i in 0..4 {
            let (f, k, s) = (self.filters[i], self.kernels[i], sides.convs[i]);
            total += 2.0 * (k * k * channels * f * s * s) as f64;
            channels = f;
        }
        Ok(total + 2.0 * (self.flat()? * self.embedding) as f64)
    }

    /// FLOP of one pair forward (both towers and the head).
    pub fn pair_forward_flop(&self) -> Result<f64> {
        Ok(2.0 * self.image_forward_flop()? + 2.0 * self.embedding as f64)
    }

    /// FLOP of one training pair (3x the pair forward, as the PyTorch side counts).
    pub fn train_pair_flop(&self) -> Result<f64> {
        Ok(3.0 * self.pair_forward_flop()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_shape_has_the_published_parameter_count() {
        assert_eq!(Shape::paper().parameter_count().unwrap(), 38_951_745);
        assert_eq!(Shape::paper().flat().unwrap(), 9216);
        let flop = Shape::paper().train_pair_flop().unwrap() / 1e9;
        assert!((flop - 10.9035).abs() < 1e-3, "{flop}");
    }

    #[test]
    fn rejects_a_kernel_larger_than_its_input() {
        let mut shape = Shape::tiny();
        shape.kernels[3] = 9;
        let err = shape.sides().unwrap_err().to_string();
        assert!(err.contains("conv4 kernel 9"), "{err}");
    }
}
