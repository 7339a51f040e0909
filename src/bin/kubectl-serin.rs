//! `kubectl-serin`, the kubectl plugin: `kubectl serin get|status|approve|...`.
//! Everything it does is in [`serin::plugin`].

use clap::Parser;

fn main() -> std::process::ExitCode {
    serin::plugin::Plugin::parse().run()
}
