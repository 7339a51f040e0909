//! `serin-sandbox`: runs the sandbox control plane from a terminal.
//!
//! `serin-sandbox up` starts the API server (or attaches to one), the kubelet
//! and mesh stand-ins and Prometheus, prints where to reach them, and stops
//! everything on Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serin_sandbox::kubelet::KubeletConfig;
use serin_sandbox::mesh::{MeshConfig, TrafficClass};
use serin_sandbox::sandbox::{Sandbox, SandboxOptions};
use tokio::signal::unix::{SignalKind, signal};

#[derive(Debug, Parser)]
#[command(
    name = "serin-sandbox",
    version,
    about = "A Kubernetes control plane, an Istio-like mesh and a real Prometheus on one machine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the sandbox and run until Ctrl-C or SIGTERM.
    Up(UpArgs),
}

#[derive(Debug, clap::Args)]
struct UpArgs {
    /// Where to write the kubeconfig of the in-process API server
    /// (default: a temporary file, removed on exit).
    #[arg(long, value_name = "PATH", conflicts_with = "attach")]
    kubeconfig: Option<PathBuf>,
    /// Use the API server of this kubeconfig instead of the in-process one.
    #[arg(long, value_name = "KUBECONFIG")]
    attach: Option<PathBuf>,
    /// Requests per second sent to each VirtualService host.
    #[arg(long, value_name = "N", default_value_t = 20.0)]
    rps: f64,
    /// Milliseconds before new or added pods report ready.
    #[arg(long, value_name = "N", default_value_t = 300)]
    kubelet_delay_ms: u64,
    /// A share of the traffic carrying headers, cookies, a path or query
    /// parameters, for matched routes (repeatable): `ITEM[,ITEM...]:SHARE`,
    /// an item being `NAME=VALUE` (a header), `cookie:NAME=VALUE`,
    /// `uri:/PATH`, `query:NAME=VALUE`, `method:METHOD` or
    /// `source:WORKLOAD`, e.g. `x-canary=insider:0.1` or
    /// `cookie:canary=always,source:insiders:0.25`.
    #[arg(long, value_name = "ITEMS:SHARE", value_parser = parse_header_traffic)]
    header_traffic: Vec<TrafficClass>,
    /// Simulated clients per VirtualService host that keep the cookies
    /// responses set (session affinity); 0 sends stateless traffic.
    #[arg(long, value_name = "N", default_value_t = 0)]
    session_clients: usize,
}

fn parse_header_traffic(text: &str) -> Result<TrafficClass, String> {
    text.parse()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,serin_sandbox=info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Up(args) => up(args).await,
    }
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    let opts = SandboxOptions {
        attach: args.attach,
        kubeconfig_out: args.kubeconfig,
        kubelet: KubeletConfig {
            ready_delay: Duration::from_millis(args.kubelet_delay_ms),
        },
        mesh: MeshConfig {
            rps_per_host: args.rps.max(0.0),
            header_traffic: args.header_traffic,
            session_clients: args.session_clients,
            ..MeshConfig::default()
        },
    };
    // Listen before starting, so that a signal during start-up still stops cleanly.
    let mut terminate = signal(SignalKind::terminate())?;
    let sandbox = Sandbox::start(opts).await?;
    print_summary(&sandbox);
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    eprintln!("stopping the sandbox (again to force)");
    tokio::select! {
        () = sandbox.shutdown() => {}
        // Prometheus dies with this process (PR_SET_PDEATHSIG), even so.
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    Ok(())
}

fn print_summary(sandbox: &Sandbox) {
    let kubeconfig = sandbox.kubeconfig.display();
    println!("kubeconfig: {kubeconfig}");
    println!("prometheus: {}", sandbox.prometheus_url);
    println!("mesh metrics: {}", sandbox.mesh_metrics_url);
    if let Some(mesh) = sandbox.mesh() {
        println!("mesh clients: {}", mesh.clients_url());
    }
    if let Some(api) = &sandbox.api {
        println!("api server: {}", api.url());
    }
    println!();
    println!("export KUBECONFIG={kubeconfig}");
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
        let cli = Cli::parse_from([
            "serin-sandbox",
            "up",
            "--rps",
            "50",
            "--kubelet-delay-ms",
            "10",
        ]);
        let Command::Up(args) = cli.command;
        assert_eq!((args.rps, args.kubelet_delay_ms), (50.0, 10));
        assert!(
            Cli::try_parse_from(["serin-sandbox", "up", "--kubeconfig", "a", "--attach", "b"])
                .is_err()
        );
    }

    #[test]
    fn header_traffic_flag() {
        let cli = Cli::parse_from([
            "serin-sandbox",
            "up",
            "--header-traffic",
            "x-canary=insider:0.1",
        ]);
        let Command::Up(args) = cli.command;
        assert_eq!(args.header_traffic[0].share, 0.1);
        assert_eq!(args.header_traffic[0].headers["x-canary"], "insider");
        assert!(parse_header_traffic("x-canary:0.1").is_err());
        assert!(parse_header_traffic("a=b:2").is_err());
        let cli = Cli::parse_from([
            "serin-sandbox",
            "up",
            "--header-traffic",
            "cookie:canary=always,uri:/api:0.25",
            "--session-clients",
            "50",
        ]);
        let Command::Up(args) = cli.command;
        assert_eq!(args.header_traffic[0].cookies["canary"], "always");
        assert_eq!(args.header_traffic[0].path.as_deref(), Some("/api"));
        assert_eq!(args.session_clients, 50);
    }
}
