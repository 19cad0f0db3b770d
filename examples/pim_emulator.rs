//! Run the emulator on its own, with the same flags as `pim emulator`:
//! `cargo run --example pim_emulator -- --seed examples/contoso/tenant.json --no-tls`.

use clap::Parser;
// `src/cli/emulator.rs` names the emulator as `crate::emulator`; this makes
// that path resolve here too.
use pim::emulator;

#[path = "../src/cli/emulator.rs"]
mod cli_emulator;

#[derive(Parser)]
#[command(name = "pim-emulator", about = "A local Microsoft Graph PIM emulator")]
struct Cli {
    #[command(flatten)]
    args: cli_emulator::EmulatorArgs,
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    cli_emulator::run(Cli::parse().args)
}
