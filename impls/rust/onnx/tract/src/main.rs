//! `oneshot-tract`: the rust-tract binary (protocol v1, docs/protocol.md): the core's command line
//! over the ONNX export under tract.

use std::process::ExitCode;

fn main() -> ExitCode {
    oneshot_core::cli::main::<oneshot_core::network::engine::EngineNet<oneshot_tract::Engine>>(
        oneshot_core::build_facts!(),
    )
}
