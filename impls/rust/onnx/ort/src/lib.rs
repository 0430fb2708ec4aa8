//! [`Engine`]: the exported tower under ONNX Runtime through ort 2.0 (rust-ort), with the
//! session options of python-onnxruntime (impls/python/oneshot_onnx/engines.py): the CPU
//! execution provider, `intra_op_num_threads` = the job's threads, one inter-op thread,
//! sequential execution, every graph optimisation (level 3, `ORT_ENABLE_ALL`), and otherwise
//! ONNX Runtime's defaults, spinning intra-op threads included. The same library as
//! python-onnxruntime's (the wheel's), so the two differ only by the interpreter around it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use oneshot_core::error::{Error, Result};
use oneshot_core::network::engine::{check_file, check_graph, unreadable, TowerEngine};
use oneshot_core::network::guard::copy_out;
use oneshot_core::network::Shape;
use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::{TensorRef, ValueType};
use serde_json::{Map, Value};

/// The exported tower in one ONNX Runtime session.
pub struct Engine {
    session: Session,
    side: usize,
}

/// The libonnxruntime to load: `ORT_DYLIB_PATH`, else the wheel's that build.rs found.
fn library() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH") {
        return Ok(PathBuf::from(path));
    }
    match env!("ONESHOT_ORT_LIBRARY") {
        "" => Err(Error::Runtime(
            "no libonnxruntime: the build found no onnxruntime wheel (pip install \
             onnxruntime==1.31.1, then rebuild), and ORT_DYLIB_PATH is not set"
                .into(),
        )),
        path => Ok(PathBuf::from(path)),
    }
}

/// ONNX Runtime, loaded once per process: its environment (every session's) and version.
fn load() -> Result<&'static (Environment, String)> {
    static LOADED: OnceLock<std::result::Result<(Environment, String), String>> = OnceLock::new();
    let loaded = LOADED.get_or_init(|| {
        let path = library().map_err(|e| e.to_string())?;
        let fail = |e: &dyn std::fmt::Display| format!("{}: cannot load it: {e}", path.display());
        let environment = ort::init_from(&path)
            .map_err(|e| fail(&e))?
            .build()
            .map_err(|e| fail(&e))?;
        Ok((environment, version_of(&path)))
    });
    loaded.as_ref().map_err(|e| Error::Runtime(e.clone()))
}

/// The library's version from its file name (`libonnxruntime.so.1.31.1`).
fn version_of(path: &Path) -> String {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.strip_prefix("libonnxruntime.so.")
        .unwrap_or("unknown")
        .to_owned()
}

/// A tensor's dimensions as `check_graph` takes them (`None`: dynamic).
fn dims(kind: &ValueType) -> Vec<Option<usize>> {
    kind.tensor_shape()
        .map(|shape| shape.iter().map(|&d| usize::try_from(d).ok()).collect())
        .unwrap_or_default()
}

fn runtime(e: ort::Error) -> Error {
    let text = e.to_string();
    Error::Runtime(format!(
        "onnxruntime: {}",
        text.lines().next().unwrap_or("").trim()
    ))
}

impl TowerEngine for Engine {
    const ID: &'static str = "rust-ort";

    fn versions() -> Map<String, Value> {
        let mut map = Map::new();
        let (version, path) = match (load(), library()) {
            (Ok((_, version)), Ok(path)) => (version.clone(), path.display().to_string()),
            (Err(e), _) | (_, Err(e)) => ("unavailable".to_owned(), e.to_string()),
        };
        map.insert("onnxruntime".into(), Value::from(version));
        map.insert("onnxruntime_library".into(), Value::from(path));
        map.insert("ort_provider".into(), Value::from("CPUExecutionProvider"));
        map.insert(
            "threads".into(),
            Value::from(
                "intra-op = job threads, inter-op 1, sequential, graph optimisation level 3, \
                 intra-op spinning on (ONNX Runtime's default)",
            ),
        );
        map
    }

    fn open(onnx: &Path, shape: Shape, _capacity: usize, threads: usize) -> Result<Self> {
        check_file(onnx)?;
        let (environment, _) = load()?;
        let builder = || -> ort::Result<Session> {
            Session::builder(environment)?
                .with_optimization_level(GraphOptimizationLevel::Level3)?
                .with_intra_threads(threads)?
                .with_inter_threads(1)?
                .with_parallel_execution(false)?
                .commit_from_file(onnx)
        };
        let session = builder().map_err(|e| unreadable(onnx, e))?;
        let (Some(input), Some(output)) = (session.inputs().first(), session.outputs().first())
        else {
            return Err(unreadable(onnx, "no input or no output"));
        };
        check_graph(
            onnx,
            (input.name(), &dims(input.dtype())),
            (output.name(), &dims(output.dtype())),
            shape,
        )?;
        Ok(Engine {
            session,
            side: shape.input,
        })
    }

    fn embed(&mut self, input: &[f32], images: usize, out: &mut [f32]) -> Result<()> {
        let tensor = TensorRef::from_array_view(([images, 1, self.side, self.side], input))
            .map_err(runtime)?;
        let outputs = self.session.run(ort::inputs![tensor]).map_err(runtime)?;
        let (_, values) = outputs[0].try_extract_tensor::<f32>().map_err(runtime)?;
        copy_out(values, out)
    }
}
