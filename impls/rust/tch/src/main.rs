//! `oneshot-tch`: the rust-tch binary (protocol v1, docs/protocol.md): the core's command line
//! over the network on tch (libtorch).

use std::process::ExitCode;

fn main() -> ExitCode {
    oneshot_core::cli::main::<oneshot_tch::TchNet>(oneshot_core::build_facts!())
}
