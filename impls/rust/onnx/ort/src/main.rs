//! `oneshot-ort`: the rust-ort binary (protocol v1, docs/protocol.md): the core's command line
//! over the ONNX export under ONNX Runtime.

use std::process::ExitCode;

fn main() -> ExitCode {
    oneshot_core::cli::main::<oneshot_core::network::engine::EngineNet<oneshot_ort::Engine>>(
        oneshot_core::build_facts!(),
    )
}
