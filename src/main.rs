//! The `serin` command; everything it does is in [`serin::cli`].

use clap::Parser;

fn main() -> std::process::ExitCode {
    serin::cli::Cli::parse().run()
}
