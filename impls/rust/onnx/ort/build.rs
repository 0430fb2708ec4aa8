//! Records build facts for `oneshot version` and result.json (core/build_support.rs), and the
//! libonnxruntime that the binary loads (ort's `load-dynamic`): the one inside the onnxruntime
//! wheel of the `python` on PATH (`python3` where there is none), as rust-tch finds the torch
//! wheel's libtorch. `ORT_DYLIB_PATH` at run time overrides it. Nothing is downloaded.

include!("../../core/build_support.rs");

use std::path::PathBuf;
use std::process::Command;

/// The wheel's `capi/libonnxruntime.so.*`, if a Python with onnxruntime is on PATH.
fn wheel_library() -> Option<PathBuf> {
    let code = "import onnxruntime, os; print(os.path.dirname(onnxruntime.__file__))";
    let out = ["python", "python3"]
        .into_iter()
        .find_map(|python| Command::new(python).args(["-c", code]).output().ok())
        .filter(|out| out.status.success())?;
    let capi = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim()).join("capi");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&capi)
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libonnxruntime.so"))
        })
        .collect();
    found.sort();
    found.pop()
}

fn main() {
    emit(&["ort", "ort-sys"]);
    let library = wheel_library();
    if let Some(path) = &library {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let library = library.map(|p| p.display().to_string()).unwrap_or_default();
    println!("cargo:rustc-env=ONESHOT_ORT_LIBRARY={library}");
    println!("cargo:rerun-if-env-changed=PATH");
}
