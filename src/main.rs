//! The `serin` command; everything it does is in [`serin::cli`].

use clap::Parser;

/// musl's allocator takes one global lock per call; see Cargo.toml.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    serin::cli::Cli::parse().run()
}
