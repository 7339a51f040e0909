//! The command line of `kubectl-serin`: flags as kubectl spells them (`-n`, `-A`, `-w`,
//! `--context`, `--kubeconfig`, `--as`), the connection, and the exit code.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand};

use super::act::{self, Request};
use super::errors::PluginError;
use super::live;
use crate::api::ActionKind;

/// Watch and steer serin's canary rollouts.
///
/// Every action creates a CanaryAction (serin.dev/v1beta1) that serin applies and
/// answers: it never edits the Canary, whose spec belongs to Git.
#[derive(Parser, Debug)]
#[command(name = "kubectl serin", version, bin_name = "kubectl serin")]
pub struct Plugin {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    command: Command,
}

/// Where to connect and as whom, as kubectl reads it.
#[derive(Args, Debug, Clone, Default)]
pub struct Connection {
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// Namespace (default: the context's namespace).
    #[arg(short, long, global = true)]
    pub namespace: Option<String>,
    /// Act as this user (impersonation, as `kubectl --as`).
    #[arg(long = "as", global = true, value_name = "USER")]
    pub as_user: Option<String>,
    /// Act with this group (impersonation, as `kubectl --as-group`; repeatable).
    #[arg(long = "as-group", global = true, value_name = "GROUP")]
    pub as_groups: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// A table of Canaries: phase, strategy, traffic, step, next step, failed checks, verdict.
    Get {
        /// Canaries of every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// Keep the table up to date from a watch.
        #[arg(short, long)]
        watch: bool,
    },
    /// One Canary in depth: steps with their checks, gates, revisions, what comes next.
    Status {
        /// The Canary.
        name: String,
        /// Keep the page up to date from a watch.
        #[arg(short, long)]
        watch: bool,
    },
    /// Open the gate the current revision waits at (confirm-rollout, confirm-traffic-increase, confirm-promotion).
    Approve {
        name: String,
        /// Why (recorded in the Canary's status and event).
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        wait: Wait,
    },
    /// Roll the current revision back now.
    Abort {
        name: String,
        /// Why (required; recorded in the Canary's status and event).
        #[arg(long, required = true)]
        reason: String,
        #[command(flatten)]
        wait: Wait,
    },
    /// Hold the rollout at its current step (spec.suspend, which Git owns, is left alone).
    Pause {
        name: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        wait: Wait,
    },
    /// Go on after a pause; the next step comes one interval later.
    Resume {
        name: String,
        #[command(flatten)]
        wait: Wait,
    },
    /// Analyse a failed revision again.
    Retry {
        name: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        wait: Wait,
    },
    /// Promote the current revision now, skipping the rest of its analysis.
    Promote {
        name: String,
        /// Required: says that the analysis is skipped.
        #[arg(long, required = true)]
        skip_analysis: bool,
        /// Why (required).
        #[arg(long, required = true)]
        reason: String,
        #[command(flatten)]
        wait: Wait,
    },
}

/// Whether and how long to wait for serin's answer.
#[derive(Args, Debug, Clone, Copy)]
struct Wait {
    /// Wait for serin's outcome (`--wait=false` returns once the action is created).
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", value_name = "BOOL")]
    wait: bool,
    /// How long to wait for serin's outcome.
    #[arg(long, default_value = "60s", value_parser = parse_timeout)]
    timeout: Duration,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    crate::api::parse_duration(s).map_err(|e| e.to_string())
}

/// What a finished command reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done (or the action was applied).
    Ok,
    /// serin refused the action.
    Refused,
    /// serin did not answer within `--timeout`.
    NoAnswer,
}

impl Plugin {
    /// Runs the command; prints errors in words and returns the exit code
    /// (0 done, 1 error or refused, 2 usage, 3 no answer from serin in time).
    pub fn run(self) -> ExitCode {
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: cannot start: {e}");
                return ExitCode::FAILURE;
            }
        };
        match runtime.block_on(self.dispatch()) {
            Ok(Exit::Ok) => ExitCode::SUCCESS,
            Ok(Exit::Refused) => ExitCode::from(1),
            Ok(Exit::NoAnswer) => ExitCode::from(3),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    }

    async fn dispatch(self) -> Result<Exit, PluginError> {
        let conn = super::act::connect(&self.conn).await?;
        let (kind, name, reason, wait) = match self.command {
            Command::Get {
                all_namespaces,
                watch,
            } => {
                let ns = (!all_namespaces).then_some(conn.namespace.as_str());
                live::get(&conn.client, ns, watch).await?;
                return Ok(Exit::Ok);
            }
            Command::Status { name, watch } => {
                live::status(&conn.client, &conn.namespace, &name, watch).await?;
                return Ok(Exit::Ok);
            }
            Command::Approve { name, reason, wait } => (ActionKind::Approve, name, reason, wait),
            Command::Abort { name, reason, wait } => (ActionKind::Abort, name, Some(reason), wait),
            Command::Pause { name, reason, wait } => (ActionKind::Pause, name, reason, wait),
            Command::Resume { name, wait } => (ActionKind::Resume, name, None, wait),
            Command::Retry { name, reason, wait } => (ActionKind::Retry, name, reason, wait),
            Command::Promote {
                name, reason, wait, ..
            } => (ActionKind::Promote, name, Some(reason), wait),
        };
        let req = Request {
            kind,
            canary: name,
            reason: reason.filter(|r| !r.trim().is_empty()),
            wait: wait.wait.then_some(wait.timeout),
        };
        act::run(&conn, &req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_cli() {
        use clap::CommandFactory;
        Plugin::command().debug_assert();
    }

    #[test]
    fn flags_as_kubectl_spells_them() {
        let p = Plugin::try_parse_from([
            "kubectl-serin",
            "approve",
            "podinfo",
            "-n",
            "shop",
            "--context",
            "prod",
            "--wait=false",
        ])
        .unwrap();
        assert_eq!(p.conn.namespace.as_deref(), Some("shop"));
        assert_eq!(p.conn.context.as_deref(), Some("prod"));
        let Command::Approve { wait, .. } = p.command else {
            panic!("approve")
        };
        assert!(!wait.wait);
        assert_eq!(wait.timeout, Duration::from_secs(60));
    }

    #[test]
    fn abort_and_promote_need_a_reason() {
        assert!(Plugin::try_parse_from(["kubectl-serin", "abort", "podinfo"]).is_err());
        assert!(
            Plugin::try_parse_from(["kubectl-serin", "promote", "podinfo", "--reason", "x"])
                .is_err()
        );
        assert!(
            Plugin::try_parse_from([
                "kubectl-serin",
                "promote",
                "podinfo",
                "--skip-analysis",
                "--reason",
                "hotfix"
            ])
            .is_ok()
        );
    }
}
