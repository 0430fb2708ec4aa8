//! `oneshot`: the rust-native binary (protocol v1, docs/protocol.md): the core's command line
//! over the hand-written network.

use std::process::ExitCode;

fn main() -> ExitCode {
    oneshot_core::cli::main::<oneshot_native::NativeNet>(oneshot_core::build_facts!())
}
