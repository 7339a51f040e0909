//! `serin-sandbox`: runs the sandbox control plane from a terminal.
//!
//! `serin-sandbox up` starts the API server (or attaches to one), the kubelet,
//! mesh and autoscaler stand-ins and Prometheus, prints where to reach them, and stops
//! everything on Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serin_sandbox::autoscaler::AutoscalerConfig;
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
    /// Milliseconds between two passes of the HPA controller and KEDA stand-ins.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    autoscaler_tick_ms: u64,
    /// Scale-down stabilisation window of HPAs that set none, in seconds.
    #[arg(long, value_name = "N", default_value_t = 300)]
    hpa_downscale_window_s: u64,
    /// Do not run the HPA controller stand-in (the cluster runs a real one).
    #[arg(long)]
    no_hpa_controller: bool,
    /// Do not install the ScaledObject CRD nor run the KEDA stand-in.
    #[arg(long)]
    no_keda: bool,
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
        autoscaler: AutoscalerConfig {
            tick: Duration::from_millis(args.autoscaler_tick_ms.max(10)),
            downscale_stabilization: Duration::from_secs(args.hpa_downscale_window_s),
            hpa_controller: !args.no_hpa_controller,
            keda: !args.no_keda,
            ..AutoscalerConfig::default()
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
    println!("loadtester: {}", sandbox.loadtester_url);
    println!("alert receiver: {}", sandbox.receiver_url);
    println!();
    println!("export KUBECONFIG={kubeconfig}");
    if let Some(loadtester) = sandbox.loadtester() {
        let addr = loadtester.addr();
        println!("# webhooks to http://flagger-loadtester.test/ reach the loadtester through");
        println!("# the host mapping flagger-loadtester.test={addr}");
    }
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
        let cli = Cli::parse_from([
            "serin-sandbox",
            "up",
            "--autoscaler-tick-ms",
            "100",
            "--hpa-downscale-window-s",
            "5",
            "--no-hpa-controller",
        ]);
        let Command::Up(args) = cli.command;
        assert_eq!(
            (args.autoscaler_tick_ms, args.hpa_downscale_window_s),
            (100, 5)
        );
        assert!(args.no_hpa_controller && !args.no_keda);
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
        assert_eq!(
            (args.autoscaler_tick_ms, args.hpa_downscale_window_s),
            (1000, 300)
        );
        assert!(!args.no_hpa_controller && !args.no_keda);
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
