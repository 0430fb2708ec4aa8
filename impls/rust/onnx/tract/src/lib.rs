//! [`Engine`]: the exported tower under tract 0.23 (rust-tract), pure Rust. tract optimises a
//! model for concrete input dimensions, so the engine keeps one optimised plan per batch size
//! it is called with (serving calls two: the episode's support images and one query), each
//! made at the first call of that size (one image's at load, where it also tells the output's
//! dimensions) and kept with its state, which reuses its buffers. At
//! more than one thread, tract's matrix products run on a pool of the job's threads
//! (`multithread-mm`); at one, on the caller's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oneshot_core::error::{Error, Result};
use oneshot_core::network::engine::{check_file, check_graph, unreadable, TowerEngine};
use oneshot_core::network::guard::copy_out;
use oneshot_core::network::Shape;
use serde_json::{Map, Value};
use tract_linalg::multithread::{set_default_executor, Executor};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::DimLike;
use tract_onnx::tract_hir::infer::Factoid;

/// The exported tower, as loaded, and its plans by batch size.
pub struct Engine {
    onnx: PathBuf,
    model: InferenceModel,
    plans: HashMap<usize, TypedSimpleState>,
    side: usize,
}

fn runtime(e: TractError) -> Error {
    Error::Runtime(format!(
        "tract: {}",
        format!("{e:#}").lines().next().unwrap_or("")
    ))
}

/// A fact's dimensions as `check_graph` takes them (`None`: not a known number).
fn dims(fact: &InferenceFact) -> Vec<Option<usize>> {
    match fact.shape.concretize() {
        Some(shape) => shape.iter().map(|d| d.to_usize().ok()).collect(),
        None => Vec::new(),
    }
}

impl Engine {
    /// The model optimised for calls of `images` images.
    fn optimise(&self, images: usize) -> Result<TypedModel> {
        let fact = f32::fact([images, 1, self.side, self.side]);
        self.model
            .clone()
            .with_input_fact(0, fact.into())
            .and_then(|m| m.into_optimized())
            .map_err(|e| unreadable(&self.onnx, format!("{e:#}")))
    }

    /// Keeps the plan of `model`, optimised for calls of `images` images.
    fn keep(&mut self, images: usize, model: TypedModel) -> Result<()> {
        let state = model
            .into_runnable()
            .and_then(|plan| plan.spawn())
            .map_err(runtime)?;
        self.plans.insert(images, state);
        Ok(())
    }

    /// The plan for calls of `images` images, optimised at its first use.
    fn plan(&mut self, images: usize) -> Result<&mut TypedSimpleState> {
        if !self.plans.contains_key(&images) {
            let model = self.optimise(images)?;
            self.keep(images, model)?;
        }
        Ok(self.plans.get_mut(&images).expect("kept above"))
    }
}

impl TowerEngine for Engine {
    const ID: &'static str = "rust-tract";

    fn versions() -> Map<String, Value> {
        let mut map = Map::new();
        map.insert(
            "threads".into(),
            Value::from(
                "tract matrix products on a rayon pool of the job's threads (one thread: the \
                 caller's); one optimised plan per batch size",
            ),
        );
        map
    }

    fn open(onnx: &Path, shape: Shape, _capacity: usize, threads: usize) -> Result<Self> {
        check_file(onnx)?;
        if threads > 1 {
            set_default_executor(Executor::multithread(threads));
        }
        // The export's intermediate and output shapes carry its symbolic batch `N`; the plans
        // are made for a concrete one, and their shapes inferred from it.
        let model = tract_onnx::onnx()
            .with_ignore_value_info(true)
            .with_ignore_output_shapes(true)
            .model_for_path(onnx)
            .map_err(|e| unreadable(onnx, format!("{e:#}")))?;
        let Some(&input) = model.inputs.first() else {
            return Err(unreadable(onnx, "no input"));
        };
        let input_name = model.node(input.node).name.clone();
        let input_dims = dims(model.outlet_fact(input).map_err(runtime)?);
        let mut engine = Engine {
            onnx: onnx.to_owned(),
            model,
            plans: HashMap::new(),
            side: shape.input,
        };
        // The output's dimensions are known once typed: the plan of one image (a query's),
        // made here and kept.
        let typed = engine.optimise(1)?;
        let Some(&output) = typed.outputs.first() else {
            return Err(unreadable(onnx, "no output"));
        };
        let output_name = typed
            .outlet_label(output)
            .map_or_else(|| typed.node(output.node).name.clone(), str::to_owned);
        let output_fact = typed.outlet_fact(output).map_err(runtime)?;
        // Its first dimension is the batch that this plan fixed: dynamic in the export.
        let output_dims: Vec<Option<usize>> = output_fact
            .shape
            .iter()
            .enumerate()
            .map(|(i, d)| d.to_usize().ok().filter(|_| i > 0))
            .collect();
        check_graph(
            onnx,
            (&input_name, &input_dims),
            (&output_name, &output_dims),
            shape,
        )?;
        engine.keep(1, typed)?;
        Ok(engine)
    }

    fn embed(&mut self, input: &[f32], images: usize, out: &mut [f32]) -> Result<()> {
        let side = self.side;
        let tensor = Tensor::from_shape(&[images, 1, side, side], input).map_err(runtime)?;
        let outputs = self
            .plan(images)?
            .run(tvec!(tensor.into()))
            .map_err(runtime)?;
        let values = outputs[0]
            .try_as_plain_ram()
            .and_then(|view| view.as_slice::<f32>())
            .map_err(runtime)?;
        copy_out(values, out)
    }
}
