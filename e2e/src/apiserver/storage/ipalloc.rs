//! Service cluster IPs (from 10.96.0.0/12) and node ports (30000-32767), allocated when a
//! Service is created and released when it is removed.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use serde_json::{Value, json};

use crate::apiserver::error::{ApiError, ApiResult, Cause};

const NET: u32 = u32::from_be_bytes([10, 96, 0, 0]);
const MASK: u32 = !((1 << 20) - 1);
/// 10.96.0.1 is the `kubernetes` Service on real clusters, 10.96.0.10 DNS: start after them.
const FIRST: u32 = NET + 11;
const PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;

#[derive(Debug, Default)]
pub struct Allocator {
    ips: HashSet<u32>,
    next_ip: u32,
    ports: HashSet<u16>,
}

fn invalid(name: &str, field: &str, message: String) -> ApiError {
    ApiError::invalid(
        "",
        "Service",
        name,
        vec![Cause {
            reason: "FieldValueInvalid".into(),
            message,
            field: field.into(),
        }],
    )
}

impl Allocator {
    fn next_free_ip(&mut self) -> Option<u32> {
        let size = (1u32 << 20) - 12;
        (0..size)
            .map(|i| FIRST + (self.next_ip + i) % size)
            .find(|ip| !self.ips.contains(ip))
    }

    /// Fills `spec.clusterIP(s)` and node ports of a new Service (stored form).
    pub fn allocate(&mut self, svc: &mut Value, dry_run: bool) -> ApiResult<()> {
        let name = svc["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let spec = &mut svc["spec"];
        let kind = spec["type"].as_str().unwrap_or("ClusterIP").to_string();
        if kind == "ExternalName" {
            return Ok(());
        }
        let requested = spec["clusterIP"].as_str().unwrap_or_default().to_string();
        let ip = match requested.as_str() {
            "None" => None,
            "" => Some(
                self.next_free_ip()
                    .ok_or_else(|| ApiError::internal("no cluster IP left"))?,
            ),
            text => {
                let ip = text
                    .parse::<Ipv4Addr>()
                    .map(u32::from)
                    .ok()
                    .filter(|ip| ip & MASK == NET)
                    .ok_or_else(|| invalid(&name, "spec.clusterIPs", format!("spec.clusterIPs: Invalid value: []string{{\"{text}\"}}: failed to allocate IP {text}: the provided IP ({text}) is not in the valid range. The range of valid IPs is 10.96.0.0/12")))?;
                if self.ips.contains(&ip) {
                    return Err(invalid(
                        &name,
                        "spec.clusterIPs",
                        format!(
                            "spec.clusterIPs: Invalid value: []string{{\"{text}\"}}: failed to allocate IP {text}: provided IP is already allocated"
                        ),
                    ));
                }
                Some(ip)
            }
        };
        let text = ip.map_or_else(|| "None".to_string(), |ip| Ipv4Addr::from(ip).to_string());
        spec["clusterIP"] = json!(text);
        spec["clusterIPs"] = json!([text]);
        if matches!(kind.as_str(), "NodePort" | "LoadBalancer") {
            self.node_ports(spec, dry_run);
        }
        if !dry_run && let Some(ip) = ip {
            self.ips.insert(ip);
            self.next_ip = ip + 1 - FIRST;
        }
        Ok(())
    }

    fn node_ports(&mut self, spec: &mut Value, dry_run: bool) {
        let Some(ports) = spec["ports"].as_array_mut() else {
            return;
        };
        for port in ports {
            if port["nodePort"].as_u64().is_some() {
                continue;
            }
            if let Some(p) = PORTS.clone().find(|p| !self.ports.contains(p)) {
                port["nodePort"] = json!(p);
                if !dry_run {
                    self.ports.insert(p);
                }
            }
        }
    }

    /// Frees what a removed Service held.
    pub fn release(&mut self, svc: &Value) {
        if let Some(ip) = svc["spec"]["clusterIP"]
            .as_str()
            .and_then(|t| t.parse::<Ipv4Addr>().ok())
        {
            self.ips.remove(&u32::from(ip));
        }
        for port in svc["spec"]["ports"].as_array().into_iter().flatten() {
            if let Some(p) = port["nodePort"]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
            {
                self.ports.remove(&p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_distinct_ips_and_reuses_released() {
        let mut a = Allocator::default();
        let mut s1 = json!({"metadata": {"name": "a"}, "spec": {"type": "ClusterIP"}});
        let mut s2 = json!({"metadata": {"name": "b"}, "spec": {"type": "NodePort", "ports": [{"port": 80}]}});
        a.allocate(&mut s1, false).unwrap();
        a.allocate(&mut s2, false).unwrap();
        assert_eq!(s1["spec"]["clusterIP"], "10.96.0.11");
        assert_eq!(s2["spec"]["clusterIP"], "10.96.0.12");
        assert_eq!(s2["spec"]["ports"][0]["nodePort"], 30000);
        let mut dup = json!({"metadata": {"name": "c"}, "spec": {"clusterIP": "10.96.0.11"}});
        assert_eq!(a.allocate(&mut dup, false).unwrap_err().code, 422);
        a.release(&s1);
        let mut again = json!({"metadata": {"name": "d"}, "spec": {"clusterIP": "10.96.0.11"}});
        a.allocate(&mut again, false).unwrap();
        let mut headless = json!({"metadata": {"name": "e"}, "spec": {"clusterIP": "None"}});
        a.allocate(&mut headless, false).unwrap();
        assert_eq!(headless["spec"]["clusterIPs"], json!(["None"]));
    }
}
