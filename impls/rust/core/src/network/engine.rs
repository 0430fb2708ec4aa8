//! [`EngineNet`]: the network of an inference engine that runs python-torch's ONNX export of
//! the tower (rust-ort, rust-tract; docs/protocol.md, "The ONNX export"). The engine embeds
//! images; the head, the inputs and every check around a call are the core's, so the two
//! engines differ only in the engine. It never trains: `from_job` refuses `train` in one line,
//! and the manifests list only `forward`, `evaluate` and `serve`.

use std::path::Path;

use serde_json::{Map, Value};

use super::backend::JobFiles;
use super::guard::{check_capacity, check_output};
use super::head::head_forward;
use super::input::fill;
use super::optim::Optimizer;
use super::params::{Params, OUT_WEIGHT};
use super::{Network, Shape};
use crate::error::{Error, Result};

/// An engine with the exported tower loaded: float32 network inputs `[N, 1, S, S]` (row-major)
/// in, embeddings `[N, E]` out, computed when `embed` returns.
pub trait TowerEngine: Sized {
    /// The implementation id (`rust-ort`, `rust-tract`).
    const ID: &'static str;

    /// Version facts of the engine (its version, library, settings in effect).
    fn versions() -> Map<String, Value>;

    /// The engine over the ONNX file `onnx`, the export of a network of `shape`, for calls of
    /// up to `capacity` images on `threads` threads. A file that is not that export is one
    /// line naming it.
    fn open(onnx: &Path, shape: Shape, capacity: usize, threads: usize) -> Result<Self>;

    /// Embeddings of the `images` network inputs `input` into `out` (`images * E` floats).
    fn embed(&mut self, input: &[f32], images: usize, out: &mut [f32]) -> Result<()>;
}

/// The graph's input, float32 `[N, 1, S, S]` with `N` dynamic (oneshot_torch/onnx_export.py).
pub const INPUT_NAME: &str = "images";
/// The graph's output, float32 `[N, E]`.
pub const OUTPUT_NAME: &str = "embeddings";

/// Checks that a graph read from `onnx` is the export of a tower of `shape`: its input and
/// output names and dimensions as the engine reports them (`None` for a dynamic dimension).
/// The words are python-onnxruntime's (impls/python/oneshot_onnx/engines.py).
pub fn check_graph(
    onnx: &Path,
    input: (&str, &[Option<usize>]),
    output: (&str, &[Option<usize>]),
    shape: Shape,
) -> Result<()> {
    let side = Some(shape.input);
    let expected_input = [None, Some(1), side, side];
    let expected_output = [None, Some(shape.embedding)];
    let show = |dims: &[Option<usize>]| {
        let dims: Vec<String> = dims
            .iter()
            .map(|d| d.map_or("N".to_owned(), |d| d.to_string()))
            .collect();
        format!("[{}]", dims.join(", "))
    };
    for ((what, (name, dims)), (expected_name, expected)) in
        [("input", input), ("output", output)].into_iter().zip([
            (INPUT_NAME, &expected_input[..]),
            (OUTPUT_NAME, &expected_output[..]),
        ])
    {
        if name != expected_name {
            return Err(bad_file(
                onnx,
                format!("its {what} is {name:?}, expected {expected_name:?}"),
            ));
        }
        // The batch dimension may be dynamic or any number; the others must match.
        let fits =
            dims.len() == expected.len() && dims.iter().zip(expected).skip(1).all(|(d, e)| d == e);
        if !fits {
            return Err(bad_file(
                onnx,
                format!(
                    "{name} has shape {}, expected {} (the job's model)",
                    show(dims),
                    show(expected)
                ),
            ));
        }
    }
    Ok(())
}

fn bad_file(onnx: &Path, message: String) -> Error {
    Error::InputFile {
        path: onnx.to_owned(),
        message,
    }
}

/// Refuses an ONNX path that is not a file, in python-onnxruntime's words.
pub fn check_file(onnx: &Path) -> Result<()> {
    if onnx.is_file() {
        return Ok(());
    }
    Err(bad_file(
        onnx,
        "no such file, expected the ONNX export of inputs.weights".into(),
    ))
}

/// An engine's failure to read `onnx`: one line naming the file, with the engine's last line.
pub fn unreadable(onnx: &Path, problem: impl std::fmt::Display) -> Error {
    let problem = problem.to_string();
    let lines: Vec<&str> = problem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let detail: String = lines
        .last()
        .unwrap_or(&"unknown error")
        .chars()
        .take(200)
        .collect();
    bad_file(onnx, format!("not a readable ONNX model ({detail})"))
}

/// The network of engine `E`: the engine for the tower, the parameters for the head.
pub struct EngineNet<E: TowerEngine> {
    engine: E,
    params: Params,
    staging: Vec<f32>,
    /// Images set by the last `set_inputs`.
    images: usize,
    capacity: usize,
}

fn inference_only(id: &str) -> Error {
    Error::Runtime(format!("{id} runs inference only: it cannot train"))
}

impl<E: TowerEngine> Network for EngineNet<E> {
    const ID: &'static str = E::ID;

    fn versions() -> Map<String, Value> {
        E::versions()
    }

    fn build(_: Params, _: usize, _: usize, _: bool) -> Result<Self> {
        Err(Error::job(
            "inputs.onnx",
            "null, expected the ONNX export of inputs.weights",
        ))
    }

    fn from_job(job: &JobFiles, params: Params, capacity: usize, train: bool) -> Result<Self> {
        if train {
            return Err(Error::job(
                format!("{} does not train", E::ID),
                format!(
                    "task '{}', expected one of forward, evaluate, serve (an ONNX engine runs \
                     the exported tower only)",
                    job.task
                ),
            ));
        }
        let Some(onnx) = job.onnx else {
            return Self::build(params, capacity, job.threads, train);
        };
        let shape = params.shape;
        shape.sides()?;
        let capacity = capacity.max(1);
        Ok(EngineNet {
            engine: E::open(onnx, shape, capacity, job.threads)?,
            staging: vec![0.0; capacity * shape.input * shape.input],
            params,
            images: 0,
            capacity,
        })
    }

    fn shape(&self) -> Shape {
        self.params.shape
    }

    fn set_inputs(&mut self, left: &[&[u8]], right: &[&[u8]]) -> Result<()> {
        let images = left.len() + right.len();
        check_capacity(images, self.capacity)?;
        let side = self.params.shape.input;
        for (image, out) in left
            .iter()
            .chain(right)
            .zip(self.staging.chunks_exact_mut(side * side))
        {
            fill(image, side, out);
        }
        self.images = images;
        Ok(())
    }

    fn embed(&mut self, images: usize, out: &mut [f32]) -> Result<()> {
        check_capacity(images, self.images)?;
        check_output(images * self.params.shape.embedding, out.len())?;
        let pixels = self.params.shape.input * self.params.shape.input;
        self.engine
            .embed(&self.staging[..images * pixels], images, out)
    }

    fn forward_pairs(&mut self, pairs: usize, emb: &mut [f32], logits: &mut [f32]) -> Result<()> {
        check_output(pairs, logits.len())?;
        self.embed(2 * pairs, emb)?;
        let (left, right) = emb.split_at(pairs * self.params.shape.embedding);
        let bias = self.params.tensor(OUT_WEIGHT + 1)[0];
        head_forward(left, right, self.params.tensor(OUT_WEIGHT), bias, logits);
        Ok(())
    }

    fn train_batch(&mut self, _: &[f32]) -> Result<f64> {
        Err(inference_only(E::ID))
    }

    fn gradients(&self) -> Result<Vec<f32>> {
        Err(inference_only(E::ID))
    }

    fn update(&mut self, _: &mut Optimizer) -> Result<()> {
        Err(inference_only(E::ID))
    }

    fn params(&self) -> Result<Params> {
        Ok(self.params.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::input::PACKED_BYTES;

    /// An engine whose embedding of an image is its pixel sum, repeated E times.
    struct SumEngine {
        embedding: usize,
        pixels: usize,
    }

    impl TowerEngine for SumEngine {
        const ID: &'static str = "test-engine";

        fn versions() -> Map<String, Value> {
            Map::new()
        }

        fn open(_: &Path, shape: Shape, _: usize, _: usize) -> Result<Self> {
            Ok(SumEngine {
                embedding: shape.embedding,
                pixels: shape.input * shape.input,
            })
        }

        fn embed(&mut self, input: &[f32], images: usize, out: &mut [f32]) -> Result<()> {
            for (image, row) in input
                .chunks_exact(self.pixels)
                .zip(out.chunks_exact_mut(self.embedding))
                .take(images)
            {
                row.fill(image.iter().sum());
            }
            Ok(())
        }
    }

    fn files<'a>(onnx: Option<&'a Path>) -> JobFiles<'a> {
        JobFiles {
            task: "forward",
            threads: 1,
            weights: None,
            onnx,
        }
    }

    #[test]
    fn embeds_by_the_engine_and_scores_by_the_head() {
        let mut params = Params::zeros(Shape::tiny()).unwrap();
        params.tensor_mut(OUT_WEIGHT).fill(1.0);
        params.tensor_mut(OUT_WEIGHT + 1)[0] = 0.5;
        let onnx = Path::new("tower.onnx");
        let mut net =
            EngineNet::<SumEngine>::from_job(&files(Some(onnx)), params, 4, false).unwrap();
        let ink = vec![0xffu8; PACKED_BYTES];
        let blank = vec![0u8; PACKED_BYTES];
        net.set_inputs(&[&ink], &[&blank]).unwrap();
        let e = Shape::tiny().embedding;
        let (mut emb, mut logits) = (vec![0.0; 2 * e], vec![0.0; 1]);
        net.forward_pairs(1, &mut emb, &mut logits).unwrap();
        let side = Shape::tiny().input as f32;
        assert_eq!(emb[0], side * side);
        assert_eq!(emb[e], 0.0);
        assert_eq!(logits[0], e as f32 * side * side + 0.5);
    }

    #[test]
    fn refuses_training_a_missing_file_and_a_call_past_its_inputs() {
        let params = || Params::zeros(Shape::tiny()).unwrap();
        let onnx = Path::new("tower.onnx");
        let err = EngineNet::<SumEngine>::from_job(&files(Some(onnx)), params(), 4, true)
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            err,
            "test-engine does not train: task 'forward', expected one of forward, evaluate, \
             serve (an ONNX engine runs the exported tower only)"
        );
        let err = EngineNet::<SumEngine>::from_job(&files(None), params(), 4, false)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("inputs.onnx"), "{err}");
        let mut net =
            EngineNet::<SumEngine>::from_job(&files(Some(onnx)), params(), 4, false).unwrap();
        let blank = vec![0u8; PACKED_BYTES];
        net.set_inputs(&[&blank], &[]).unwrap();
        let mut out = vec![0.0; 2 * Shape::tiny().embedding];
        assert!(net.embed(2, &mut out).is_err());
        assert!(net.train_batch(&[1.0]).is_err());
    }

    #[test]
    fn a_graph_of_another_shape_is_one_line_naming_the_file() {
        let shape = Shape::tiny();
        let (s, e) = (Some(shape.input), Some(shape.embedding));
        let onnx = Path::new("tower.onnx");
        let input = [None, Some(1), s, s];
        check_graph(onnx, ("images", &input), ("embeddings", &[None, e]), shape).unwrap();
        check_graph(
            onnx,
            ("images", &[Some(3), Some(1), s, s]),
            ("embeddings", &[Some(3), e]),
            shape,
        )
        .unwrap();
        let err = check_graph(
            onnx,
            ("images", &input),
            ("embeddings", &[None, Some(7)]),
            shape,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "tower.onnx: embeddings has shape [N, 7], expected [N, 32] (the job's model)"
        );
        let err = check_graph(onnx, ("x", &input), ("embeddings", &[None, e]), shape)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "tower.onnx: its input is \"x\", expected \"images\"");
        let err = unreadable(onnx, "parse error\n  at line 3: bad tag\n").to_string();
        assert_eq!(
            err,
            "tower.onnx: not a readable ONNX model (at line 3: bad tag)"
        );
    }
}
