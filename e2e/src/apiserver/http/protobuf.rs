//! Decoding of the protobuf request bodies kubectl's typed clients send (`kubectl create
//! namespace|configmap|secret|deployment|service|quota|serviceaccount`, `kubectl
//! autoscale`; kubectl does not retry with JSON after a 415), into the JSON the rest of
//! the server handles. Only the fields those commands write are known; others are skipped.
//! Zero values are dropped, as the Go structs' JSON encoding would omit them.

use serde_json::{Map, Value, json};

use crate::apiserver::error::{ApiError, ApiResult};

const MAGIC: &[u8] = b"k8s\0";

#[derive(Clone, Copy)]
enum T {
    Str,
    Int,
    /// An int kept even when zero (pointer fields such as `replicas`).
    IntKeep,
    Bool,
    Msg(&'static [F]),
    MapStr,
    MapBytes,
    MapQuantity,
    /// A `resource.Quantity` message (its field 1), a string in JSON.
    Quantity,
    Time,
    IntOrString,
}

/// (field number, JSON name, type, repeated)
type F = (u32, &'static str, T, bool);

const OWNER_REF: &[F] = &[
    (1, "kind", T::Str, false),
    (3, "name", T::Str, false),
    (4, "uid", T::Str, false),
    (5, "apiVersion", T::Str, false),
    (6, "controller", T::Bool, false),
    (7, "blockOwnerDeletion", T::Bool, false),
];
const META: &[F] = &[
    (1, "name", T::Str, false),
    (2, "generateName", T::Str, false),
    (3, "namespace", T::Str, false),
    (5, "uid", T::Str, false),
    (6, "resourceVersion", T::Str, false),
    (8, "creationTimestamp", T::Time, false),
    (11, "labels", T::MapStr, false),
    (12, "annotations", T::MapStr, false),
    (13, "ownerReferences", T::Msg(OWNER_REF), true),
    (14, "finalizers", T::Str, true),
];
const SELF_SUBJECT_REVIEW: &[F] = &[(1, "metadata", T::Msg(META), false)];
const NS_SPEC: &[F] = &[(1, "finalizers", T::Str, true)];
const NAMESPACE: &[F] = &[
    (1, "metadata", T::Msg(META), false),
    (2, "spec", T::Msg(NS_SPEC), false),
];
const CONFIGMAP: &[F] = &[
    (1, "metadata", T::Msg(META), false),
    (2, "data", T::MapStr, false),
    (3, "binaryData", T::MapBytes, false),
    (4, "immutable", T::Bool, false),
];
const SECRET: &[F] = &[
    (1, "metadata", T::Msg(META), false),
    (2, "data", T::MapBytes, false),
    (3, "type", T::Str, false),
    (4, "stringData", T::MapStr, false),
    (5, "immutable", T::Bool, false),
];
const SELECTOR_REQ: &[F] = &[
    (1, "key", T::Str, false),
    (2, "operator", T::Str, false),
    (3, "values", T::Str, true),
];
const LABEL_SELECTOR: &[F] = &[
    (1, "matchLabels", T::MapStr, false),
    (2, "matchExpressions", T::Msg(SELECTOR_REQ), true),
];
const CONTAINER_PORT: &[F] = &[
    (1, "name", T::Str, false),
    (2, "hostPort", T::Int, false),
    (3, "containerPort", T::Int, false),
    (4, "protocol", T::Str, false),
];
const ENV_VAR: &[F] = &[(1, "name", T::Str, false), (2, "value", T::Str, false)];
const RESOURCES: &[F] = &[
    (1, "limits", T::MapQuantity, false),
    (2, "requests", T::MapQuantity, false),
];
const CONTAINER: &[F] = &[
    (1, "name", T::Str, false),
    (2, "image", T::Str, false),
    (3, "command", T::Str, true),
    (4, "args", T::Str, true),
    (5, "workingDir", T::Str, false),
    (6, "ports", T::Msg(CONTAINER_PORT), true),
    (7, "env", T::Msg(ENV_VAR), true),
    (8, "resources", T::Msg(RESOURCES), false),
    (13, "terminationMessagePath", T::Str, false),
    (14, "imagePullPolicy", T::Str, false),
    (20, "terminationMessagePolicy", T::Str, false),
];
const POD_SPEC: &[F] = &[
    (2, "containers", T::Msg(CONTAINER), true),
    (3, "restartPolicy", T::Str, false),
    (4, "terminationGracePeriodSeconds", T::IntKeep, false),
    (6, "dnsPolicy", T::Str, false),
    (8, "serviceAccountName", T::Str, false),
    (19, "schedulerName", T::Str, false),
    (20, "initContainers", T::Msg(CONTAINER), true),
];
const POD_TEMPLATE: &[F] = &[
    (1, "metadata", T::Msg(META), false),
    (2, "spec", T::Msg(POD_SPEC), false),
];
const STRATEGY: &[F] = &[(1, "type", T::Str, false)];
const DEPLOYMENT_SPEC: &[F] = &[
    (1, "replicas", T::IntKeep, false),
    (2, "selector", T::Msg(LABEL_SELECTOR), false),
    (3, "template", T::Msg(POD_TEMPLATE), false),
    (4, "strategy", T::Msg(STRATEGY), false),
    (5, "minReadySeconds", T::Int, false),
    (6, "revisionHistoryLimit", T::IntKeep, false),
    (9, "progressDeadlineSeconds", T::IntKeep, false),
];
const DEPLOYMENT: &[F] = &[
    (1, "metadata", T::Msg(META), false),
    (2, "spec", T::Msg(DEPLOYMENT_SPEC), false),
];
const SERVICE_PORT: &[F] = &[
    (1, "name", T::Str, false),
    (2, "protocol", T::Str, false),
    (3, "port", T::Int, false),
    (4, "targetPort", T::IntOrString, false),
    (5, "nodePort", T::Int, false),
];
const SERVICE_SPEC: &[F] = &[
    (1, "ports", T::Msg(SERVICE_PORT), true),
    (2, "selector", T::MapStr, false),
    (3, "clusterIP", T::Str, false),
    (4, "type", T::Str, false),
    (5, "externalIPs", T::Str, true),
    (7, "sessionAffinity", T::Str, false),
    (10, "externalName", T::Str, false),
];
const SERVICE: &[F] = &[
    (1, "metadata", T::Msg(META), false),
    (2, "spec", T::Msg(SERVICE_SPEC), false),
];
const CROSS_REF: &[F] = &[
    (1, "kind", T::Str, false),
    (2, "name", T::Str, false),
    (3, "apiVersion", T::Str, false),
];
const METRIC_TARGET: &[F] = &[
    (1, "type", T::Str, false),
    (2, "value", T::Quantity, false),
    (3, "averageValue", T::Quantity, false),
    (4, "averageUtilization", T::Int, false),
];
const RESOURCE_METRIC: &[F] = &[
    (1, "name", T::Str, false),
    (2, "target", T::Msg(METRIC_TARGET), false),
];
const METRIC_SPEC: &[F] = &[
    (1, "type", T::Str, false),
    (4, "resource", T::Msg(RESOURCE_METRIC), false),
];
const HPA_SPEC: &[F] = &[
    (1, "scaleTargetRef", T::Msg(CROSS_REF), false),
    (2, "minReplicas", T::IntKeep, false),
    (3, "maxReplicas", T::Int, false),
    (4, "metrics", T::Msg(METRIC_SPEC), true),
];
const HPA: &[F] = &[
    (1, "metadata", T::Msg(META), false),
    (2, "spec", T::Msg(HPA_SPEC), false),
];
const QUOTA_SPEC: &[F] = &[
    (1, "hard", T::MapQuantity, false),
    (2, "scopes", T::Str, true),
];
const RESOURCE_QUOTA: &[F] = &[
    (1, "metadata", T::Msg(META), false),
    (2, "spec", T::Msg(QUOTA_SPEC), false),
];
const LOCAL_REF: &[F] = &[(1, "name", T::Str, false)];
const SERVICE_ACCOUNT: &[F] = &[
    (1, "metadata", T::Msg(META), false),
    (3, "imagePullSecrets", T::Msg(LOCAL_REF), true),
    (4, "automountServiceAccountToken", T::Bool, false),
];

/// A field's value: Ok(varint) or Err(length-delimited bytes).
type Wire<'a> = Result<u64, &'a [u8]>;

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn bad(what: &str) -> ApiError {
    ApiError::bad_request(format!("invalid protobuf body: {what}"))
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> ApiResult<u64> {
        let mut out = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| bad("truncated varint"))?;
            self.pos += 1;
            out |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err(bad("varint too long"))
    }

    fn bytes(&mut self) -> ApiResult<&'a [u8]> {
        let len = usize::try_from(self.varint()?).map_err(|_| bad("length"))?;
        let end = self
            .pos
            .checked_add(len)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| bad("truncated field"))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// The next field: its number and value.
    fn field(&mut self) -> ApiResult<Option<(u32, Wire<'a>)>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let num = u32::try_from(key >> 3).map_err(|_| bad("field number"))?;
        let value = match key & 7 {
            0 => Ok(self.varint()?),
            2 => Err(self.bytes()?),
            1 => {
                self.pos += 8;
                Ok(0)
            }
            5 => {
                self.pos += 4;
                Ok(0)
            }
            _ => return Err(bad("unsupported wire type")),
        };
        Ok(Some((num, value)))
    }
}

fn text(b: &[u8]) -> ApiResult<String> {
    String::from_utf8(b.to_vec()).map_err(|_| bad("invalid UTF-8"))
}

fn map_entry(b: &[u8]) -> ApiResult<(String, &[u8])> {
    let mut r = Reader { buf: b, pos: 0 };
    let (mut key, mut value): (String, &[u8]) = (String::new(), &[]);
    while let Some((num, v)) = r.field()? {
        match (num, v) {
            (1, Err(b)) => key = text(b)?,
            (2, Err(b)) => value = b,
            _ => {}
        }
    }
    Ok((key, value))
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                char::from(A[((n >> (18 - 6 * i)) & 63) as usize])
            } else {
                '='
            });
        }
    }
    out
}

fn scalar(t: T, v: Wire<'_>) -> ApiResult<Option<Value>> {
    Ok(match (t, v) {
        (T::Str, Err(b)) => Some(json!(text(b)?)).filter(|s| s != ""),
        (T::Int, Ok(n)) => Some(json!(n as i64)).filter(|n| n != 0),
        (T::IntKeep, Ok(n)) => Some(json!(n as i64)),
        (T::Bool, Ok(n)) => (n != 0).then_some(json!(true)),
        (T::Msg(fields), Err(b)) => {
            Some(message(fields, b)?).filter(|m| m.as_object().is_some_and(|m| !m.is_empty()))
        }
        (T::Quantity, Err(b)) => message(&[(1, "string", T::Str, false)], b)?
            .get("string")
            .cloned(),
        (T::Time, Err(b)) => {
            let mut r = Reader { buf: b, pos: 0 };
            let mut seconds = 0i64;
            while let Some((num, v)) = r.field()? {
                if let (1, Ok(s)) = (num, v) {
                    seconds = s as i64;
                }
            }
            (seconds != 0)
                .then(|| chrono::DateTime::from_timestamp(seconds, 0))
                .flatten()
                .map(|t| json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
        }
        (T::IntOrString, Err(b)) => {
            let mut r = Reader { buf: b, pos: 0 };
            let (mut kind, mut int, mut s) = (0u64, 0i64, String::new());
            while let Some((num, v)) = r.field()? {
                match (num, v) {
                    (1, Ok(k)) => kind = k,
                    (2, Ok(i)) => int = i as i64,
                    (3, Err(b)) => s = text(b)?,
                    _ => {}
                }
            }
            Some(if kind == 1 { json!(s) } else { json!(int) }).filter(|v| v != 0)
        }
        _ => None,
    })
}

fn message(fields: &[F], buf: &[u8]) -> ApiResult<Value> {
    let mut out = Map::new();
    let mut r = Reader { buf, pos: 0 };
    while let Some((num, v)) = r.field()? {
        let Some(&(_, name, t, repeated)) = fields.iter().find(|f| f.0 == num) else {
            continue;
        };
        match (t, v) {
            (T::MapStr | T::MapBytes | T::MapQuantity, Err(b)) => {
                let (key, value) = map_entry(b)?;
                let value = match t {
                    T::MapStr => json!(text(value)?),
                    T::MapBytes => json!(base64(value)),
                    _ => message(&[(1, "string", T::Str, false)], value)?["string"].clone(),
                };
                let entry = out.entry(name).or_insert_with(|| json!({}));
                entry[key] = value;
            }
            _ => {
                let Some(value) = scalar(t, v)? else { continue };
                if repeated {
                    let list = out.entry(name).or_insert_with(|| json!([]));
                    if let Some(list) = list.as_array_mut() {
                        list.push(value);
                    }
                } else {
                    out.insert(name.to_string(), value);
                }
            }
        }
    }
    Ok(Value::Object(out))
}

/// Decodes a `application/vnd.kubernetes.protobuf` body of a known kind into JSON.
pub fn decode(body: &[u8]) -> ApiResult<Value> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("missing k8s magic"))?;
    let mut r = Reader {
        buf: envelope,
        pos: 0,
    };
    let (mut api_version, mut kind, mut raw): (String, String, &[u8]) =
        (String::new(), String::new(), &[]);
    while let Some((num, v)) = r.field()? {
        match (num, v) {
            (1, Err(type_meta)) => {
                let mut t = Reader {
                    buf: type_meta,
                    pos: 0,
                };
                while let Some((n, v)) = t.field()? {
                    match (n, v) {
                        (1, Err(b)) => api_version = text(b)?,
                        (2, Err(b)) => kind = text(b)?,
                        _ => {}
                    }
                }
            }
            (2, Err(b)) => raw = b,
            _ => {}
        }
    }
    let fields = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => NAMESPACE,
        ("v1", "ConfigMap") => CONFIGMAP,
        ("v1", "Secret") => SECRET,
        ("v1", "Service") => SERVICE,
        ("v1", "ResourceQuota") => RESOURCE_QUOTA,
        ("v1", "ServiceAccount") => SERVICE_ACCOUNT,
        ("autoscaling/v2", "HorizontalPodAutoscaler") => HPA,
        ("apps/v1", "Deployment") => DEPLOYMENT,
        // `kubectl auth whoami`: only the metadata, the review has no spec.
        ("authentication.k8s.io/v1", "SelfSubjectReview") => SELF_SUBJECT_REVIEW,
        _ => {
            return Err(ApiError::unsupported_media_type(&format!(
                "application/vnd.kubernetes.protobuf ({api_version} {kind}; send JSON)"
            )));
        }
    };
    let mut obj = message(fields, raw)?;
    obj["apiVersion"] = json!(api_version);
    obj["kind"] = json!(kind);
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_kubectl_create_namespace() {
        // Captured from `kubectl create namespace foo -v=8`.
        let body: &[u8] = &[
            0x6b, 0x38, 0x73, 0x00, 0x0a, 0x0f, 0x0a, 0x02, 0x76, 0x31, 0x12, 0x09, 0x4e, 0x61,
            0x6d, 0x65, 0x73, 0x70, 0x61, 0x63, 0x65, 0x12, 0x1b, 0x0a, 0x13, 0x0a, 0x03, 0x66,
            0x6f, 0x6f, 0x12, 0x00, 0x1a, 0x00, 0x22, 0x00, 0x2a, 0x00, 0x32, 0x00, 0x38, 0x00,
            0x42, 0x00, 0x12, 0x00, 0x1a, 0x02, 0x0a, 0x00, 0x1a, 0x00, 0x22, 0x00,
        ];
        assert_eq!(
            decode(body).unwrap(),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "foo"}})
        );
    }

    #[test]
    fn decodes_kubectl_create_deployment() {
        // Captured from `kubectl create deployment cap2 --image=nginx:1.2 --port=8080 --replicas=2 -v=9`.
        const HEX: &str = "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412c1010a210a046361703212001a0022002a003200380042005a0b0a03617070120463617032128d010802120d0a0b0a036170701204636170321a720a1d0a0012001a0022002a003200380042005a0b0a03617070120463617032125112330a056e67696e7812096e67696e783a312e322a00320b0a00100018903f22002a0042006a007200800100880100900100a201001a00320042004a0052005800600068008201008a01009a0100c2010022020a00280038001a0c0800100018002000280038001a002200";
        let body: Vec<u8> = (0..HEX.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&HEX[i..i + 2], 16).unwrap())
            .collect();
        let dep = decode(&body).unwrap();
        assert_eq!(
            dep["metadata"],
            json!({"name": "cap2", "labels": {"app": "cap2"}})
        );
        assert_eq!(dep["spec"]["replicas"], 2);
        assert_eq!(
            dep["spec"]["selector"],
            json!({"matchLabels": {"app": "cap2"}})
        );
        let container = &dep["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            *container,
            json!({"name": "nginx", "image": "nginx:1.2", "ports": [{"containerPort": 8080}]})
        );
    }
}
