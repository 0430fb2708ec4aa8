//! Records build facts for `oneshot version` and result.json (core/build_support.rs).

include!("../../core/build_support.rs");

fn main() {
    emit(&["tract-onnx", "tract-linalg"]);
}
