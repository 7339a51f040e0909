//! Simulated clients for session affinity: each keeps the cookies its
//! responses set, as a browser would, and sends them with every later
//! request, so a client the weighted route sent to the canary (whose answer
//! set the affinity cookie) matches the cookie route from then on.
//!
//! Time here is the generator's own clock (seconds of traffic sent), so
//! `Max-Age` expiry is deterministic in tests. `Expires`, `Domain` and
//! `Path` attributes are ignored: every cookie goes to every path of the
//! host that set it, until its `Max-Age` passes (none: it lives as long as
//! the client).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use serde::Serialize;

/// How many outcomes each client remembers for `GET /clients`.
pub const HISTORY: usize = 20;

#[derive(Clone, Debug, PartialEq)]
struct Cookie {
    value: String,
    /// Clock value after which the cookie is gone.
    expires_at: Option<f64>,
}

/// The cookies of one client for one host.
#[derive(Clone, Debug, Default)]
pub struct Jar {
    cookies: BTreeMap<String, Cookie>,
}

impl Jar {
    /// Applies one `Set-Cookie` value received at `now`. `Max-Age` of zero
    /// or less removes the cookie (RFC 6265 §5.2.2), which is how Flagger
    /// expires the affinity cookie after a run.
    pub fn store(&mut self, set_cookie: &str, now: f64) {
        let mut parts = set_cookie.split(';').map(str::trim);
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
            return;
        };
        let name = name.trim();
        if name.is_empty() {
            return;
        }
        let max_age = parts
            .filter_map(|attr| attr.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("max-age"))
            .and_then(|(_, v)| v.trim().parse::<i64>().ok());
        match max_age {
            Some(age) if age <= 0 => {
                self.cookies.remove(name);
            }
            _ => {
                let cookie = Cookie {
                    value: value.trim().to_owned(),
                    expires_at: max_age.map(|age| now + age as f64),
                };
                self.cookies.insert(name.to_owned(), cookie);
            }
        }
    }

    /// The `cookie` request header at `now`, dropping expired cookies
    /// first; none when the jar is empty.
    pub fn header(&mut self, now: f64) -> Option<String> {
        self.cookies
            .retain(|_, c| c.expires_at.is_none_or(|at| now < at));
        if self.cookies.is_empty() {
            return None;
        }
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .map(|(name, c)| format!("{name}={}", c.value))
            .collect();
        Some(pairs.join("; "))
    }

    fn view(&self) -> BTreeMap<String, String> {
        self.cookies
            .iter()
            .map(|(k, c)| (k.clone(), c.value.clone()))
            .collect()
    }
}

/// Who answered one request of a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// The serving Deployment; empty when the mesh answered itself (503
    /// without a healthy upstream, 404 without a route).
    pub workload: String,
    pub code: u16,
}

#[derive(Clone, Debug, Default)]
pub struct SimClient {
    pub jar: Jar,
    requests: u64,
    last: VecDeque<Outcome>,
}

impl SimClient {
    pub fn record(&mut self, outcome: Outcome) {
        self.requests += 1;
        if self.last.len() == HISTORY {
            self.last.pop_front();
        }
        self.last.push_back(outcome);
    }
}

/// The clients of one VirtualService host, taking turns.
#[derive(Debug, Default)]
struct HostClients {
    clients: Vec<SimClient>,
    next: usize,
}

/// Every host's clients. Each host gets `size` clients of its own: a client
/// population is per host, as cookies are.
#[derive(Debug, Default)]
pub struct Population {
    size: usize,
    hosts: HashMap<String, HostClients>,
}

impl Population {
    pub fn size(&self) -> usize {
        self.size
    }

    /// Changes the number of clients per host; removed clients forget
    /// their cookies, added ones start without any.
    pub fn resize(&mut self, size: usize) {
        self.size = size;
        for host in self.hosts.values_mut() {
            host.clients.truncate(size);
            host.next %= size.max(1);
        }
        if size == 0 {
            self.hosts.clear();
        }
    }

    /// The client sending the next request to `host`, in round robin.
    pub fn next_client(&mut self, host: &str) -> Option<&mut SimClient> {
        if self.size == 0 {
            return None;
        }
        if !self.hosts.contains_key(host) {
            self.hosts.insert(host.to_owned(), HostClients::default());
        }
        let clients = self.hosts.get_mut(host)?;
        if clients.clients.len() < self.size {
            clients.clients.resize_with(self.size, SimClient::default);
        }
        let i = clients.next % self.size;
        clients.next = (i + 1) % self.size;
        clients.clients.get_mut(i)
    }

    /// Drops the clients of hosts no VirtualService serves any more.
    pub fn retain_hosts(&mut self, present: &HashSet<&str>) {
        self.hosts.retain(|host, _| present.contains(host.as_str()));
    }

    /// What `GET /clients` shows.
    pub fn view(&self) -> PopulationView {
        let mut hosts: Vec<HostView> = self
            .hosts
            .iter()
            .map(|(host, h)| HostView {
                host: host.clone(),
                clients: h
                    .clients
                    .iter()
                    .enumerate()
                    .map(|(id, c)| ClientView {
                        id,
                        requests: c.requests,
                        cookies: c.jar.view(),
                        last: c.last.iter().cloned().collect(),
                    })
                    .collect(),
            })
            .collect();
        hosts.sort_by(|a, b| a.host.cmp(&b.host));
        PopulationView {
            clients_per_host: self.size,
            hosts,
        }
    }
}

/// The JSON of `GET /clients`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PopulationView {
    pub clients_per_host: usize,
    pub hosts: Vec<HostView>,
}

#[derive(Debug, Serialize)]
pub struct HostView {
    /// `namespace/virtualservice/host`.
    pub host: String,
    pub clients: Vec<ClientView>,
}

#[derive(Debug, Serialize)]
pub struct ClientView {
    pub id: usize,
    pub requests: u64,
    /// Cookies held now (expired ones go when the client next sends).
    pub cookies: BTreeMap<String, String>,
    /// Outcomes of the last requests, oldest first.
    pub last: Vec<Outcome>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_live_for_their_max_age_and_expire_with_zero_or_less() {
        let mut jar = Jar::default();
        jar.store("flagger-cookie=abc; Max-Age=10", 0.0);
        jar.store("session=1", 0.0);
        assert_eq!(
            jar.header(9.9).as_deref(),
            Some("flagger-cookie=abc; session=1")
        );
        assert_eq!(jar.header(10.0).as_deref(), Some("session=1"));
        jar.store("flagger-cookie=abc; Max-Age=10", 20.0);
        jar.store("flagger-cookie=abc; Max-Age=-1", 21.0);
        assert_eq!(jar.header(21.0).as_deref(), Some("session=1"));
        jar.store("session=1; Max-Age=0", 22.0);
        assert_eq!(jar.header(22.0), None);
    }

    #[test]
    fn malformed_set_cookie_is_ignored() {
        let mut jar = Jar::default();
        for bad in ["", "novalue", "=x", " ; Max-Age=3"] {
            jar.store(bad, 0.0);
        }
        assert_eq!(jar.header(0.0), None);
        jar.store("a=b; Max-Age=soon", 0.0);
        assert_eq!(jar.header(1e9).as_deref(), Some("a=b"));
    }

    #[test]
    fn clients_take_turns_and_keep_their_history_bounded() {
        let mut population = Population::default();
        assert!(population.next_client("h").is_none());
        population.resize(3);
        for i in 0..(3 * (HISTORY + 5)) {
            let client = population.next_client("h").expect("client");
            client.record(Outcome {
                workload: format!("w{}", i % 3),
                code: 200,
            });
        }
        let view = population.view();
        let clients = &view.hosts[0].clients;
        assert_eq!(clients.len(), 3);
        assert!(clients.iter().all(|c| c.requests == (HISTORY + 5) as u64));
        assert!(clients.iter().all(|c| c.last.len() == HISTORY));
        assert!(clients[1].last.iter().all(|o| o.workload == "w1"));
        population.resize(1);
        assert_eq!(population.view().hosts[0].clients.len(), 1);
        population.retain_hosts(&HashSet::new());
        assert!(population.view().hosts.is_empty());
    }
}
