//! The daemon's REST API from outside, as a script would use it: a free
//! loopback port, a token file, and a real HTTP client (ureq) that sees
//! every status, 4xx included.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub const TOKEN: &str = "test-token-0123456789abcdef";

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// The token file, mode 0600.
pub fn token_file(dir: &Path) -> PathBuf {
    let path = dir.join("api-token");
    std::fs::write(&path, format!("{TOKEN}\n")).expect("write token");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

/// An `[api]` table for `port`.
pub fn table(port: u16, token: &Path, metrics_open: bool) -> String {
    format!(
        "\n[api]\nlisten = \"127.0.0.1:{port}\"\ntoken_file = {:?}\nmetrics_without_token = {metrics_open}\n",
        token.display().to_string()
    )
}

pub struct Client {
    base: String,
    agent: ureq::Agent,
}

/// An answer: status and body text.
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl Client {
    pub fn new(port: u16) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(180)))
            .build()
            .into();
        Client {
            base: format!("http://127.0.0.1:{port}"),
            agent,
        }
    }

    /// Waits until the API answers at all.
    pub fn wait_up(&self) {
        let start = std::time::Instant::now();
        while self
            .agent
            .get(format!("{}/metrics", self.base))
            .call()
            .is_err()
        {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(30),
                "the API never answered"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    fn done(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
        let mut r = r.expect("HTTP request");
        Answer {
            status: r.status().as_u16(),
            body: r.body_mut().read_to_string().expect("body"),
        }
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        Self::done(req.call())
    }

    pub fn delete(&self, path: &str, token: Option<&str>) -> Answer {
        let mut req = self.agent.delete(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        Self::done(req.call())
    }

    pub fn post(&self, path: &str, token: Option<&str>, body: &str) -> Answer {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/json");
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        Self::done(req.send(body))
    }
}

/// One sample of a scrape, parsed by a real Prometheus text parser.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("a Prometheus exposition");
    scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(k).is_some_and(|got| got == *v))
        })
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}
