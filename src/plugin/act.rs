//! The actions: check that there is something to do, ask the API server who is asking,
//! create the CanaryAction for the revision the person saw, and wait for serin's answer.

use std::time::Duration;

use k8s_openapi::api::authentication::v1::{SelfSubjectReview, SelfSubjectReviewStatus};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::await_condition;

use super::cli::{Connection, Exit};
use super::errors::{PluginError, code, explain};
use super::view::{analysing, closed_gates, short};
use crate::api::{
    ActionKind, ActionOutcome, Canary, CanaryAction, CanaryActionSpec, CanaryActionStatus, Phase,
};

/// A connected client, the namespace to act in, and the kubeconfig's user name (the
/// fallback when the API server cannot say who is asking).
pub struct Conn {
    pub client: kube::Client,
    pub namespace: String,
    pub kubeconfig_user: Option<String>,
}

/// Connects as kubectl would: `--kubeconfig`, else `$KUBECONFIG`, else `~/.kube/config`,
/// else in-cluster; `--context`, `-n` and `--as` on top.
pub async fn connect(c: &Connection) -> Result<Conn, PluginError> {
    let options = KubeConfigOptions {
        context: c.context.clone(),
        ..Default::default()
    };
    let connect = |e: &dyn std::fmt::Display| PluginError::Connect(e.to_string());
    let file = match &c.kubeconfig {
        Some(path) => Some(Kubeconfig::read_from(path).map_err(|e| {
            PluginError::Connect(format!("cannot read kubeconfig {}: {e}", path.display()))
        })?),
        None => Kubeconfig::from_env()
            .map_err(|e| connect(&e))?
            .or_else(|| Kubeconfig::read().ok()),
    };
    let mut config = match &file {
        Some(kc) => kube::Config::from_custom_kubeconfig(kc.clone(), &options)
            .await
            .map_err(|e| connect(&e))?,
        None if c.context.is_some() => {
            return Err(PluginError::Connect(
                "--context given, but there is no kubeconfig ($KUBECONFIG or ~/.kube/config)"
                    .into(),
            ));
        }
        None => kube::Config::incluster().map_err(|e| {
            PluginError::Connect(format!(
                "no kubeconfig ($KUBECONFIG or ~/.kube/config) and not in a cluster: {e}"
            ))
        })?,
    };
    if c.as_user.is_some() {
        config.auth_info.impersonate = c.as_user.clone();
        config.auth_info.impersonate_groups =
            (!c.as_groups.is_empty()).then(|| c.as_groups.clone());
    }
    let namespace = c
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let kubeconfig_user = file.as_ref().and_then(|kc| {
        let context = c.context.clone().or_else(|| kc.current_context.clone())?;
        kc.contexts
            .iter()
            .find(|n| n.name == context)
            .and_then(|n| n.context.as_ref())
            .and_then(|ctx| ctx.user.clone())
    });
    let client = kube::Client::try_from(config).map_err(|e| connect(&e))?;
    Ok(Conn {
        client,
        namespace,
        kubeconfig_user,
    })
}

/// One action as asked on the command line.
#[derive(Debug, Clone)]
pub struct Request {
    pub kind: ActionKind,
    pub canary: String,
    pub reason: Option<String>,
    /// Wait this long for serin's outcome; None returns once created.
    pub wait: Option<Duration>,
}

/// Who is asking, and whether the API server said so.
#[derive(Debug, Clone, PartialEq)]
pub struct Requester {
    pub name: String,
    pub vouched: bool,
}

/// Checks, creates the action, and (unless `--wait=false`) prints serin's outcome.
pub async fn run(conn: &Conn, req: &Request) -> Result<Exit, PluginError> {
    let canaries: Api<Canary> = Api::namespaced(conn.client.clone(), &conn.namespace);
    let canary = canaries
        .get_opt(&req.canary)
        .await
        .map_err(|e| explain(e, "get", "canaries.serin.dev", &conn.namespace))?
        .ok_or_else(|| PluginError::NoCanary {
            name: req.canary.clone(),
            namespace: conn.namespace.clone(),
        })?;
    precheck(req.kind, &canary).map_err(|why| PluginError::Nothing {
        action: req.kind.as_str(),
        name: req.canary.clone(),
        namespace: conn.namespace.clone(),
        why,
    })?;
    let who = whoami(conn).await?;
    if !who.vouched {
        eprintln!(
            "note: the API server does not serve SelfSubjectReview (authentication.k8s.io/v1); \
             recording the kubeconfig user {:?}, which the server does not vouch for",
            who.name
        );
    }
    let action = build(req, &canary, &who.name);
    let actions: Api<CanaryAction> = Api::namespaced(conn.client.clone(), &conn.namespace);
    let created = actions
        .create(&PostParams::default(), &action)
        .await
        .map_err(|e| match code(&e) {
            Some(404) => PluginError::NoActionKind,
            Some(422 | 400) => PluginError::Invalid(api_message(&e)),
            _ => explain(e, "create", "canaryactions.serin.dev", &conn.namespace),
        })?;
    let created_name = created.metadata.name.clone().unwrap_or_default();
    println!(
        "{} {}/{} (revision {}) requested by {}: canaryaction/{created_name}",
        req.kind.as_str(),
        conn.namespace,
        req.canary,
        short(action.spec.revision.as_deref()),
        who.name
    );
    let Some(timeout) = req.wait else {
        return Ok(Exit::Ok);
    };
    let outcome = tokio::time::timeout(
        timeout,
        await_condition(actions, &created_name, |a: Option<&CanaryAction>| {
            a.is_none_or(|a| a.status.as_ref().is_some_and(|s| s.outcome.is_some()))
        }),
    )
    .await;
    match outcome {
        Err(_) => {
            println!(
                "no answer from serin within {}: is serin running and watching namespace {}? \
                 The action stays; serin applies it when it comes (kubectl get canaryaction -n {} {created_name})",
                super::view::age(timeout),
                conn.namespace,
                conn.namespace
            );
            Ok(Exit::NoAnswer)
        }
        Ok(Err(e)) => Err(PluginError::Api {
            doing: format!("waiting for serin's answer to canaryaction/{created_name}"),
            source: kube::Error::Service(Box::new(e)),
        }),
        Ok(Ok(None)) => {
            println!(
                "serin applied it and removed the action (kubectl serin status {})",
                req.canary
            );
            Ok(Exit::Ok)
        }
        Ok(Ok(Some(a))) => Ok(report(&a.status.unwrap_or_default())),
    }
}

/// Prints serin's outcome; the exit code follows it.
fn report(status: &CanaryActionStatus) -> Exit {
    let message = status.message.clone().unwrap_or_default();
    match status.outcome {
        Some(ActionOutcome::Applied) => {
            println!("applied: {message}");
            Exit::Ok
        }
        _ => {
            println!("refused: {message}");
            Exit::Refused
        }
    }
}

fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

/// The CanaryAction for `req` on `canary`, meant for the revision under analysis (none
/// for pause and resume, which hold whatever the revision).
pub fn build(req: &Request, canary: &Canary, requested_by: &str) -> CanaryAction {
    let name = canary.metadata.name.clone().unwrap_or_default();
    let status = canary.status.clone().unwrap_or_default();
    let revision = match req.kind {
        ActionKind::Pause | ActionKind::Resume => None,
        // An approval names the revision of the gate the person saw.
        ActionKind::Approve => status
            .awaiting
            .map(|a| a.revision)
            .or(status.last_applied_spec),
        _ => status.last_applied_spec,
    };
    // The server appends 5 characters to generateName; a name stays within 253.
    let short_name: String = name.chars().take(200).collect();
    let prefix = format!("{short_name}-{}-", req.kind.as_str());
    CanaryAction {
        metadata: ObjectMeta {
            generate_name: Some(prefix),
            namespace: canary.metadata.namespace.clone(),
            labels: Some([("serin.dev/canary".to_string(), name.clone())].into()),
            ..Default::default()
        },
        spec: CanaryActionSpec {
            canary: name,
            action: req.kind,
            revision,
            reason: req.reason.clone(),
            requested_by: requested_by.to_string(),
            skip_analysis: (req.kind == ActionKind::Promote).then_some(true),
        },
        status: None,
    }
}

/// Whether `kind` has anything to do on `canary`; the reason in words when not.
pub fn precheck(kind: ActionKind, canary: &Canary) -> Result<(), String> {
    let status = canary.status.clone().unwrap_or_default();
    let phase = status.phase();
    let rev = short(status.last_applied_spec.as_deref());
    match kind {
        ActionKind::Approve => {
            let waiting = status.awaiting.is_some()
                || matches!(phase, Phase::Waiting | Phase::WaitingPromotion)
                || !closed_gates(&status).is_empty();
            if waiting {
                Ok(())
            } else {
                Err(format!(
                    "no gate is waiting (phase {phase}, revision {rev})"
                ))
            }
        }
        ActionKind::Pause if status.paused.is_some() => {
            let by = status.paused.map(|p| p.by).unwrap_or_default();
            Err(format!("already paused by {by}"))
        }
        ActionKind::Resume if status.paused.is_none() => Err("it is not paused".into()),
        ActionKind::Pause | ActionKind::Resume => Ok(()),
        ActionKind::Abort if analysing(phase) => Ok(()),
        ActionKind::Promote if matches!(phase, Phase::Progressing | Phase::WaitingPromotion) => {
            Ok(())
        }
        ActionKind::Abort | ActionKind::Promote => {
            Err(format!("no revision is under analysis (phase {phase})"))
        }
        ActionKind::Retry => {
            if phase == Phase::Failed {
                Ok(())
            } else {
                Err(format!(
                    "revision {rev} did not fail (phase {phase}); retry re-runs a failed revision"
                ))
            }
        }
    }
}

/// Who is asking, as the API server knows it (`kubectl auth whoami`); the kubeconfig's
/// user name when the server does not serve SelfSubjectReview (before Kubernetes 1.28).
pub async fn whoami(conn: &Conn) -> Result<Requester, PluginError> {
    let api: Api<SelfSubjectReview> = Api::all(conn.client.clone());
    let review = SelfSubjectReview {
        metadata: ObjectMeta::default(),
        status: None::<SelfSubjectReviewStatus>,
    };
    match api.create(&PostParams::default(), &review).await {
        Ok(r) => {
            let name = r
                .status
                .and_then(|s| s.user_info)
                .and_then(|u| u.username)
                .filter(|n| !n.is_empty());
            match name {
                Some(name) => Ok(Requester {
                    name,
                    vouched: true,
                }),
                None => fallback(conn),
            }
        }
        Err(e) if matches!(code(&e), Some(404 | 405)) => fallback(conn),
        Err(e) => Err(explain(
            e,
            "create",
            "selfsubjectreviews.authentication.k8s.io",
            "(cluster-wide)",
        )),
    }
}

fn fallback(conn: &Conn) -> Result<Requester, PluginError> {
    match &conn.kubeconfig_user {
        Some(name) if !name.is_empty() => Ok(Requester {
            name: name.clone(),
            vouched: false,
        }),
        _ => Err(PluginError::Connect(
            "the API server cannot say who you are (no SelfSubjectReview) and the kubeconfig names no user".into(),
        )),
    }
}
