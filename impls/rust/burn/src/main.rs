//! `oneshot-burn`: the rust-burn binary (protocol v1, docs/protocol.md): the core's command
//! line over the network on burn's flex CPU back-end.

use std::process::ExitCode;

fn main() -> ExitCode {
    oneshot_core::cli::main::<oneshot_burn::BurnNet>(oneshot_core::build_facts!())
}
