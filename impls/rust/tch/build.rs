//! Records build facts for `oneshot version` and result.json (core/build_support.rs), and puts
//! the libtorch that torch-sys linked (the one inside the installed torch wheel) on the binary's
//! rpath, so that it runs without `LD_LIBRARY_PATH`.

include!("../core/build_support.rs");

fn main() {
    emit(&["tch", "torch-sys", "png", "rayon", "safetensors"]);
    // torch-sys (`links = "tch"`) passes its libtorch lib folder to direct dependents.
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        // torch-sys finds libtorch once and cargo keeps its answer: when that torch is gone (a
        // venv or tox environment made again elsewhere), say so instead of a link error, or a
        // binary that cannot load libtorch_cpu.so. The folder is watched, so this reruns then.
        println!("cargo:rerun-if-changed={lib}");
        if !std::path::Path::new(&lib).is_dir() {
            panic!(
                "torch-sys's cached libtorch folder {lib} no longer exists; rebuild it with \
                 `cargo clean --release -p torch-sys --manifest-path impls/rust/tch/Cargo.toml`"
            );
        }
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        let version = std::fs::read_to_string(std::path::Path::new(&lib).join("../version.py"))
            .ok()
            .and_then(|text| {
                text.lines().find_map(|l| {
                    l.strip_prefix("__version__ = ")
                        .map(|v| v.trim_matches(['\'', '"']).to_owned())
                })
            })
            .unwrap_or_else(|| "unknown".into());
        println!("cargo:rustc-env=ONESHOT_LIBTORCH_VERSION={version}");
        println!("cargo:rustc-env=ONESHOT_LIBTORCH_LIB={lib}");
    } else {
        println!("cargo:rustc-env=ONESHOT_LIBTORCH_VERSION=unknown");
        println!("cargo:rustc-env=ONESHOT_LIBTORCH_LIB=unknown");
    }
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
}
