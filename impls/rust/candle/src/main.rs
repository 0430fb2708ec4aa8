//! `oneshot-candle`: the rust-candle binary (protocol v1): the core's command line over candle.

use std::process::ExitCode;

fn main() -> ExitCode {
    oneshot_core::cli::main::<oneshot_candle::CandleNet>(oneshot_core::build_facts!())
}
