//! The network's parameters: one flat float32 buffer holding the twelve interchange tensors
//! in file order (`conv1.weight`, `conv1.bias`, ..., `out.bias`), with their names and shapes.
//!
//! Gradients, momentum and Adam moments use the same layout, so the optimiser is one fused
//! pass over flat slices, and [`split_mut`] hands out disjoint per-tensor slices.

use super::Shape;
use crate::error::Result;

/// Index of the weight tensor of conv layer `l` (0..4); its bias is the next index.
pub const fn conv_weight(l: usize) -> usize {
    2 * l
}
/// Index of `fc1.weight` (`fc1.bias` is `FC1_WEIGHT + 1`).
pub const FC1_WEIGHT: usize = 8;
/// Index of `out.weight` (`out.bias` is `OUT_WEIGHT + 1`).
pub const OUT_WEIGHT: usize = 10;

/// Name, shape and place of one tensor in the flat buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: String,
    pub dims: Vec<usize>,
    pub offset: usize,
    pub len: usize,
}

impl TensorSpec {
    /// The layer name (`conv1`, ..., `out`).
    pub fn layer(&self) -> &str {
        self.name.split('.').next().unwrap_or("")
    }
    /// Whether this is a weight (L2 applies) rather than a bias.
    pub fn is_weight(&self) -> bool {
        self.name.ends_with(".weight")
    }
}

/// The twelve tensors of a shape, laid out one after the other.
pub fn layout(shape: &Shape) -> Result<Vec<TensorSpec>> {
    let mut offset = 0;
    Ok(shape
        .tensor_shapes()?
        .into_iter()
        .map(|(name, dims)| {
            let len = dims.iter().product();
            let spec = TensorSpec {
                name,
                dims,
                offset,
                len,
            };
            offset += len;
            spec
        })
        .collect())
}

/// The parameters of a network.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub shape: Shape,
    pub tensors: Vec<TensorSpec>,
    pub data: Vec<f32>,
}

impl Params {
    /// All-zero parameters of `shape`.
    pub fn zeros(shape: Shape) -> Result<Self> {
        let tensors = layout(&shape)?;
        let total = tensors.iter().map(|t| t.len).sum();
        Ok(Params {
            shape,
            tensors,
            data: vec![0.0; total],
        })
    }

    /// The values of tensor `index`.
    pub fn tensor(&self, index: usize) -> &[f32] {
        let t = &self.tensors[index];
        &self.data[t.offset..t.offset + t.len]
    }

    /// The values of tensor `index`, mutable.
    pub fn tensor_mut(&mut self, index: usize) -> &mut [f32] {
        let t = &self.tensors[index];
        &mut self.data[t.offset..t.offset + t.len]
    }
}

/// Disjoint mutable slices of every tensor of a buffer laid out as `tensors`.
pub fn split_mut<'a>(mut data: &'a mut [f32], tensors: &[TensorSpec]) -> Vec<&'a mut [f32]> {
    let mut out = Vec::with_capacity(tensors.len());
    for t in tensors {
        let (head, tail) = data.split_at_mut(t.len);
        out.push(head);
        data = tail;
    }
    out
}
