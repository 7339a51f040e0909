//! Errors in words a person can act on: which Canary is missing, why there is nothing
//! to do, and for a refusal by RBAC which verb on which resource to ask for.

/// What went wrong, said so that the next step is clear.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error(
        "no Canary {name:?} in namespace {namespace:?} (kubectl serin get -n {namespace} lists them)"
    )]
    NoCanary { name: String, namespace: String },
    #[error("nothing to {action} on {namespace}/{name}: {why}")]
    Nothing {
        action: &'static str,
        name: String,
        namespace: String,
        why: String,
    },
    #[error(
        "not allowed: {message}\nask for `{verb}` on `{resource}` in namespace {namespace} ({role})"
    )]
    Forbidden {
        verb: &'static str,
        resource: &'static str,
        namespace: String,
        role: &'static str,
        message: String,
    },
    #[error(
        "the API server does not serve CanaryActions (serin.dev/v1beta1): install serin's CRDs from this version (crds/serin.yaml, or the chart)"
    )]
    NoActionKind,
    #[error("the API server refused the action: {0}")]
    Invalid(String),
    #[error("{doing}: {source}")]
    Api {
        doing: String,
        #[source]
        source: kube::Error,
    },
}

/// The role of the chart that grants `verb` on `resource`.
fn role_for(verb: &str) -> &'static str {
    match verb {
        "create" => "the chart's serin-operator role",
        _ => "the chart's serin-viewer role",
    }
}

/// The HTTP code of an API error, if the server answered.
pub fn code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// Turns an API error while doing `verb` on `resource` in `namespace` into words.
pub fn explain(
    e: kube::Error,
    verb: &'static str,
    resource: &'static str,
    namespace: &str,
) -> PluginError {
    match &e {
        kube::Error::Api(s) if s.code == 403 => PluginError::Forbidden {
            verb,
            resource,
            namespace: namespace.to_string(),
            role: role_for(verb),
            message: s.message.clone(),
        },
        kube::Error::Api(s) if s.code == 401 => PluginError::Connect(format!(
            "the API server does not accept these credentials ({}): log in again or check --context",
            s.message
        )),
        _ => PluginError::Api {
            doing: format!("{verb} {resource} in namespace {namespace}"),
            source: e,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, message: &str) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            message: message.into(),
            ..Default::default()
        }))
    }

    #[test]
    fn a_403_names_the_verb_the_resource_and_the_role() {
        let e = explain(
            api(
                403,
                "canaryactions.serin.dev is forbidden: User \"bob\" cannot create resource \"canaryactions\" in API group \"serin.dev\" in the namespace \"shop\"",
            ),
            "create",
            "canaryactions.serin.dev",
            "shop",
        );
        assert_eq!(
            e.to_string(),
            "not allowed: canaryactions.serin.dev is forbidden: User \"bob\" cannot create resource \"canaryactions\" in API group \"serin.dev\" in the namespace \"shop\"\n\
             ask for `create` on `canaryactions.serin.dev` in namespace shop (the chart's serin-operator role)"
        );
    }

    #[test]
    fn a_missing_canary_says_where_it_looked() {
        let e = PluginError::NoCanary {
            name: "podinfo".into(),
            namespace: "shop".into(),
        };
        assert_eq!(
            e.to_string(),
            "no Canary \"podinfo\" in namespace \"shop\" (kubectl serin get -n shop lists them)"
        );
    }
}
