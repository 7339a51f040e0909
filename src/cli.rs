//! The `serin` command line: `run` the controller, print the `crd`s, the `rbac` rules or
//! the `version`, `backtest` a Canary (in [`crate::backtest`]); and what `run` does before
//! the controller starts (logs, the client, a preflight that fails with one clear line,
//! the HTTP endpoints). The leadership loop is [`crate::leadership`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "serin",
    version,
    about = "Progressive delivery (canary) controller for Kubernetes"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the controller.
    Run(Box<RunArgs>),
    /// Print the CustomResourceDefinitions as YAML.
    Crd,
    /// Print the RBAC rules serin needs, as JSON.
    Rbac {
        /// Only these routers' kinds (as `run --routers`); every router when unset.
        #[arg(long, value_delimiter = ',')]
        routers: Vec<String>,
    },
    /// Replay a Canary's analysis (threshold checks and the evidence judge) over past
    /// rollouts found in Prometheus, and print how each would have been judged.
    Backtest(Box<crate::backtest::BacktestArgs>),
    /// Print the version.
    Version,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Json,
    Text,
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Kubeconfig file; in-cluster configuration or $KUBECONFIG when unset.
    #[arg(long, env = "SERIN_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Prometheus address for the builtin metrics.
    #[arg(
        long,
        env = "SERIN_METRICS_SERVER",
        default_value = "http://prometheus:9090"
    )]
    metrics_server: String,
    /// Default mesh provider of Canaries that do not set one.
    #[arg(long, env = "SERIN_MESH_PROVIDER", default_value = "istio")]
    mesh_provider: String,
    /// Routers to enable, comma-separated (`istio`, `gatewayapi`): serin watches only their
    /// kinds, so it needs RBAC only for them. Every router when unset.
    #[arg(long, env = "SERIN_ROUTERS", value_delimiter = ',')]
    routers: Vec<String>,
    /// Watch only this namespace (all namespaces when unset).
    #[arg(long, env = "SERIN_NAMESPACE")]
    namespace: Option<String>,
    /// Log level or tracing filter, e.g. `info` or `serin=debug,kube=info`.
    #[arg(long, env = "SERIN_LOG_LEVEL", default_value = "info")]
    log_level: String,
    /// Log format.
    #[arg(long, env = "SERIN_LOG_FORMAT", value_enum, default_value = "json")]
    log_format: LogFormat,
    /// Address serving /metrics, /healthz and /readyz.
    #[arg(long, env = "SERIN_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// Smallest analysis interval honoured; shorter intervals are raised to it (as Flagger
    /// raises them to 10s).
    #[arg(long, env = "SERIN_MIN_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    min_interval: Duration,
    /// Run only while holding a Lease (needed with more than one replica).
    #[arg(long, env = "SERIN_LEADER_ELECTION")]
    leader_election: bool,
    /// Namespace of the Lease; default the pod's namespace ($POD_NAMESPACE) or `default`.
    #[arg(long, env = "SERIN_LEADER_ELECTION_NAMESPACE")]
    leader_election_namespace: Option<String>,
    /// Name of the Lease.
    #[arg(
        long,
        env = "SERIN_LEADER_ELECTION_LEASE_NAME",
        default_value = "serin"
    )]
    leader_election_lease_name: String,
    /// How long a Lease lasts without renewal; a dead leader is replaced within it.
    #[arg(long, env = "SERIN_LEADER_ELECTION_DURATION", default_value = "15s", value_parser = parse_duration)]
    leader_election_duration: Duration,
    /// Send webhook calls and metric queries for HOST to IP:PORT instead of asking DNS,
    /// e.g. `flagger-loadtester.test=127.0.0.1:39001` (repeatable; in the environment,
    /// comma-separated). For serin running outside the cluster its hooks live in.
    #[arg(
        long = "resolve",
        env = "SERIN_RESOLVE",
        value_delimiter = ',',
        value_name = "HOST=IP:PORT"
    )]
    resolve: Vec<crate::hooks::HostMapping>,
    /// A webhook that receives every event of every Canary, as Flagger's flag.
    #[arg(long, env = "EVENT_WEBHOOK_URL")]
    event_webhook: Option<String>,
    /// Slack incoming webhook for the alerts of Canaries without `analysis.alerts`.
    #[arg(long, env = "SLACK_URL")]
    slack_url: Option<String>,
    /// Slack channel of `--slack-url`.
    #[arg(long, env = "SLACK_CHANNEL")]
    slack_channel: Option<String>,
    /// Slack user name of `--slack-url`.
    #[arg(long, env = "SLACK_USER")]
    slack_user: Option<String>,
    /// Microsoft Teams incoming webhook for the alerts of Canaries without `analysis.alerts`.
    #[arg(long, env = "MSTEAMS_URL")]
    msteams_url: Option<String>,
    /// Cluster name shown in every alert.
    #[arg(long, env = "CLUSTER_NAME")]
    cluster_name: Option<String>,
    /// Export `serin_canary_duration_seconds`, Flagger's per-canary histogram of rollout
    /// durations (14 series per Canary); `--duration-histogram=false` keeps `/metrics`
    /// small with thousands of Canaries.
    #[arg(long, env = "SERIN_DURATION_HISTOGRAM", default_value_t = true, action = clap::ArgAction::Set)]
    duration_histogram: bool,
}

/// The routers named, or every router when none is.
fn routers_or_all(names: &[String]) -> Result<Vec<crate::decide::Provider>, String> {
    let routers = crate::router::parse_routers(names)?;
    Ok(if routers.is_empty() {
        crate::decide::Provider::ALL.to_vec()
    } else {
        routers
    })
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::api::parse_duration(s).map_err(|e| e.to_string())
}

impl Cli {
    /// Runs the command; the exit code says whether it worked.
    pub fn run(self) -> std::process::ExitCode {
        match self.command {
            Command::Crd => match crate::api::crds_yaml() {
                Ok(yaml) => {
                    print!("{yaml}");
                    std::process::ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: cannot render the CRDs: {e}");
                    std::process::ExitCode::FAILURE
                }
            },
            Command::Rbac { routers } => match routers_or_all(&routers).and_then(|r| {
                serde_json::to_string_pretty(&crate::rbac::rules(&crate::router::rbac_rules_of(&r)))
                    .map_err(|e| e.to_string())
            }) {
                Ok(json) => {
                    println!("{json}");
                    std::process::ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::ExitCode::FAILURE
                }
            },
            Command::Backtest(args) => backtest(*args),
            Command::Version => {
                println!("serin {}", env!("CARGO_PKG_VERSION"));
                std::process::ExitCode::SUCCESS
            }
            Command::Run(args) => {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        eprintln!("error: cannot start the runtime: {e}");
                        return std::process::ExitCode::FAILURE;
                    }
                };
                match runtime.block_on(run_controller(*args)) {
                    Ok(()) => std::process::ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("error: {e:#}");
                        std::process::ExitCode::FAILURE
                    }
                }
            }
        }
    }
}

/// Runs `serin backtest`: the report on stdout, or one error line on stderr.
fn backtest(args: crate::backtest::BacktestArgs) -> std::process::ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(crate::backtest::run(args)) {
        Ok(report) => {
            print!("{report}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logs(args: &RunArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level)
        .map_err(|e| anyhow::anyhow!("invalid --log-level {:?}: {e}", args.log_level))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        LogFormat::Text => builder.init(),
    }
    Ok(())
}

async fn client(
    args: &RunArgs,
    calls: crate::api_calls::ApiCounter,
) -> anyhow::Result<kube::Client> {
    let config = match &args.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| anyhow::anyhow!("cannot read kubeconfig {}: {e}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| anyhow::anyhow!("no Kubernetes configuration found: {e}"))?,
    };
    // Named in the API server's audit log (kube's client sends no User-Agent of its own).
    let mut config = config;
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(concat!("serin/", env!("CARGO_PKG_VERSION"))),
    ));
    let layer = crate::api_calls::CountingLayer(calls);
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&layer)
        .build())
}

/// Fails with one clear line when the API server is unreachable or the CRDs are missing.
async fn preflight(client: &kube::Client, namespace: Option<&str>) -> anyhow::Result<()> {
    use kube::api::{Api, ListParams};
    // Scoped to the watched namespace: a namespaced install has no cluster-wide list.
    let canaries: Api<crate::api::Canary> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    match tokio::time::timeout(
        Duration::from_secs(15),
        canaries.list(&ListParams::default().limit(1)),
    )
    .await
    {
        Err(_) => anyhow::bail!("the Kubernetes API server did not answer within 15s"),
        Ok(Err(kube::Error::Api(s))) if s.code == 404 => {
            anyhow::bail!(
                "the serin CRDs are not installed: run `serin crd | kubectl apply -f -` (or install the chart)"
            )
        }
        Ok(Err(e)) => anyhow::bail!("cannot reach the Kubernetes API server: {e}"),
        Ok(Ok(_)) => Ok(()),
    }
}

async fn run_controller(args: RunArgs) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    init_logs(&args)?;
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let telemetry = Arc::new(crate::telemetry::Telemetry::with_options(
        &args.mesh_provider,
        args.duration_histogram,
    ));
    let client = client(&args, telemetry.api_calls.clone()).await?;
    tracing::info!(url = %client.default_namespace(), "connecting to the Kubernetes API server");
    tokio::select! {
        r = preflight(&client, args.namespace.as_deref()) => r?,
        _ = &mut shutdown => return Ok(()),
    }
    let ready = Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    tracing::info!(listen = %listener.local_addr()?, "serving /metrics, /healthz and /readyz");
    tokio::spawn(crate::server::serve(
        listener,
        telemetry.clone(),
        ready.clone(),
    ));
    let routers = routers_or_all(&args.routers).map_err(|e| anyhow::anyhow!("--routers: {e}"))?;
    let config = crate::controller::Config {
        routers,
        mesh_provider: args.mesh_provider.clone(),
        metrics_server: args.metrics_server.clone(),
        min_interval: args.min_interval,
        namespace: args.namespace.clone(),
        hooks: crate::hooks::HookClients::new(args.resolve.clone())
            .map_err(|e| anyhow::anyhow!("cannot build the webhook HTTP client: {e}"))?,
        alerts: crate::alerts::AlertSender::new(
            crate::hooks::build_client(&[], false)
                .map_err(|e| anyhow::anyhow!("cannot build the alert HTTP client: {e}"))?,
            crate::alerts::SendPolicy::default(),
        ),
        event_webhook: args.event_webhook.clone().filter(|u| !u.is_empty()),
        global_alerts: global_alerts(&args),
        cluster_name: args.cluster_name.clone().filter(|c| !c.is_empty()),
    };
    let election = args.leader_election.then(|| crate::leadership::Election {
        namespace: args
            .leader_election_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .unwrap_or_else(|| "default".into()),
        lease_name: args.leader_election_lease_name.clone(),
        identity: crate::leadership::identity(),
        duration: args.leader_election_duration,
    });
    crate::leadership::run(client, config, telemetry, ready, election, shutdown).await
}

/// The providers of the global alert flags, as AlertProviders would spell them.
fn global_alerts(args: &RunArgs) -> Vec<crate::api::AlertProviderSpec> {
    use crate::api::{AlertProviderSpec, AlertProviderType};
    let set = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    let mut out = Vec::new();
    if let Some(address) = set(&args.slack_url) {
        out.push(AlertProviderSpec {
            type_: AlertProviderType::Slack,
            channel: set(&args.slack_channel),
            username: set(&args.slack_user),
            address: Some(address),
            ..Default::default()
        });
    }
    if let Some(address) = set(&args.msteams_url) {
        out.push(AlertProviderSpec {
            type_: AlertProviderType::Msteams,
            address: Some(address),
            ..Default::default()
        });
    }
    out
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn verify_cli() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
