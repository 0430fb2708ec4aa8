//! The weights interchange file: safetensors, float32, the twelve tensors named and shaped as
//! PyTorch names them (`conv1.weight` [64, 1, 10, 10] ... `out.bias` [1]; docs/protocol.md).
//!
//! Reading checks the file against the expected shape: a missing, extra or mis-shaped tensor,
//! or a non-float32 one, is an error naming the tensor, the expected and the found shape.
//! [`save_tensors`] also writes the outputs of `forward` and the gradients of `step`.

use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::params::Params;
use super::Shape;
use crate::error::{Error, Result};

/// Reads the weights of a network of `shape` from `path`.
///
/// The file is mapped read-only with its pages populated in one call, and each tensor is
/// copied once, from the page cache into the flat buffer: no read buffer, no second copy of
/// the 156 MB of the `paper` weights. (The buffer cannot alias the mapping: safetensors orders
/// tensors by name, `conv1.bias` before `conv1.weight`, and [`Params`] keeps the model's order.)
pub fn load(path: &Path, shape: Shape) -> Result<Params> {
    let io = |source| Error::InputIo {
        path: path.to_path_buf(),
        what: "weights file",
        source,
    };
    let handle = std::fs::File::open(path).map_err(io)?;
    // SAFETY: the mapping is read-only and private to this call; a file truncated by another
    // process while it is read is the one hazard, as with any reader of a shared file.
    let bytes = unsafe { memmap2::MmapOptions::new().populate().map(&handle) }.map_err(io)?;
    let bad = |message: String| Error::Job {
        field: format!("inputs.weights ({})", path.display()),
        message,
    };
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| bad(format!("not a safetensors file ({e})")))?;
    let mut params = Params::zeros(shape)?;
    for index in 0..params.tensors.len() {
        let spec = params.tensors[index].clone();
        let view = file.tensor(&spec.name).map_err(|_| {
            bad(format!(
                "tensor `{}` is missing, expected shape {:?}",
                spec.name, spec.dims
            ))
        })?;
        if view.shape() != spec.dims.as_slice() || view.dtype() != Dtype::F32 {
            return Err(bad(format!(
                "tensor `{}` has shape {:?} ({:?}), expected {:?} (F32)",
                spec.name,
                view.shape(),
                view.dtype(),
                spec.dims
            )));
        }
        for (value, chunk) in params
            .tensor_mut(index)
            .iter_mut()
            .zip(view.data().chunks_exact(4))
        {
            *value = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
    }
    let mut extra: Vec<String> = file
        .names()
        .into_iter()
        .filter(|name| !params.tensors.iter().any(|t| t.name == *name))
        .map(str::to_string)
        .collect();
    if !extra.is_empty() {
        extra.sort();
        return Err(bad(format!(
            "unexpected tensor `{}`, expected only the twelve tensors of the model",
            extra[0]
        )));
    }
    Ok(params)
}

/// The little-endian bytes of `values`: borrowed on little-endian targets (no copy of the
/// 156 MB of the `paper` weights), converted elsewhere.
fn le_bytes(values: &[f32]) -> std::borrow::Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        // SAFETY: any f32 is 4 initialised bytes; u8 has alignment 1; the length is exact.
        let bytes = unsafe {
            std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values))
        };
        std::borrow::Cow::Borrowed(bytes)
    } else {
        std::borrow::Cow::Owned(values.iter().flat_map(|v| v.to_le_bytes()).collect())
    }
}

/// Writes named float32 tensors (name, shape, values) to `path` as safetensors, streaming
/// each tensor's bytes to the file (no whole-file buffer).
pub fn save_tensors(path: &Path, tensors: &[(String, Vec<usize>, &[f32])]) -> Result<()> {
    let bytes: Vec<std::borrow::Cow<'_, [u8]>> = tensors
        .iter()
        .map(|(_, _, values)| le_bytes(values))
        .collect();
    let mut views = Vec::with_capacity(tensors.len());
    for ((name, dims, _), data) in tensors.iter().zip(&bytes) {
        let view = TensorView::new(Dtype::F32, dims.clone(), data)
            .map_err(|e| Error::Runtime(format!("tensor `{name}`: {e}")))?;
        views.push((name.clone(), view));
    }
    safetensors::serialize_to_file(views, None, path).map_err(|e| {
        Error::output(
            path,
            "safetensors file",
            std::io::Error::other(e.to_string()),
        )
    })
}

/// Writes the parameters (or a buffer laid out like them, with `prefix` before each name).
pub fn save(path: &Path, params: &Params, data: &[f32], prefix: &str) -> Result<()> {
    let tensors: Vec<(String, Vec<usize>, &[f32])> = params
        .tensors
        .iter()
        .map(|t| {
            (
                format!("{prefix}{}", t.name),
                t.dims.clone(),
                &data[t.offset..t.offset + t.len],
            )
        })
        .collect();
    save_tensors(path, &tensors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_weights() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let params = super::super::init::paper(Shape::tiny(), 5).unwrap();
        save(&path, &params, &params.data, "").unwrap();
        assert_eq!(load(&path, Shape::tiny()).unwrap(), params);
    }

    #[test]
    fn names_a_mis_shaped_missing_or_extra_tensor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let params = super::super::init::paper(Shape::tiny(), 5).unwrap();
        save(&path, &params, &params.data, "").unwrap();
        let mut other = Shape::tiny();
        other.filters[1] = 9;
        let err = load(&path, other).unwrap_err().to_string();
        assert!(
            err.contains("`conv2.weight` has shape [8, 4, 3, 3]"),
            "{err}"
        );
        assert!(err.contains("expected [9, 4, 3, 3]"), "{err}");
        let mut tensors: Vec<(String, Vec<usize>, &[f32])> = params
            .tensors
            .iter()
            .skip(1)
            .map(|t| {
                (
                    t.name.clone(),
                    t.dims.clone(),
                    &params.data[t.offset..t.offset + t.len],
                )
            })
            .collect();
        save_tensors(&path, &tensors).unwrap();
        let err = load(&path, Shape::tiny()).unwrap_err().to_string();
        assert!(
            err.contains("`conv1.weight` is missing, expected shape [4, 1, 5, 5]"),
            "{err}"
        );
        tensors.insert(
            0,
            ("conv1.weight".into(), vec![4, 1, 5, 5], &params.data[..100]),
        );
        tensors.push(("fc2.weight".into(), vec![1], &params.data[..1]));
        save_tensors(&path, &tensors).unwrap();
        let err = load(&path, Shape::tiny()).unwrap_err().to_string();
        assert!(err.contains("unexpected tensor `fc2.weight`"), "{err}");
        let err = load(&dir.path().join("none"), Shape::tiny()).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
