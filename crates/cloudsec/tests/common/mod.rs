//! Starting the real `cloudsec` binary on free ports, as a user would, and
//! talking HTTP to it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_cloudsec");

/// A port that was free a moment ago, for a process started next. It is
/// picked below the kernel's ephemeral range: a port from that range (what
/// binding port 0 gives) can be handed to another process's port-0 listener
/// or outgoing connection before ours binds it, which made tests flaky.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    let ephemeral_low: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    let (low, high) = (10_000u16, ephemeral_low.max(10_001));
    for _ in 0..1000 {
        let random = RandomState::new().hash_one(std::time::Instant::now());
        let port = low + u16::try_from(random % u64::from(high - low)).unwrap();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port below {high}");
}

/// A `cloudsec` command with no inherited `CLOUDSEC_*` variables.
pub fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("CLOUDSEC_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// A running `cloudsec` process; killed on drop if still running.
pub struct Running {
    pub child: Child,
    pub url: String,
    /// The gateway's `/metrics` (its own listener), when this process has one.
    pub metrics_url: Option<String>,
    pub started: Instant,
    pub ready_after: Duration,
    stderr: Arc<Mutex<Vec<String>>>,
    pub data_dir: PathBuf,
}

impl Running {
    /// Runs `cloudsec up --data-dir DIR --port PORT` with `env`, and waits
    /// until the printed URL answers `/healthz`. Port 0 takes any free port:
    /// a port found free beforehand can be taken by another test's process
    /// before this one binds it.
    pub async fn up(data_dir: &Path, port: u16, env: &[(&str, &str)]) -> Self {
        let port = port.to_string();
        let dir = data_dir.to_str().unwrap();
        Self::spawn(&["up", "--data-dir", dir, "--port", &port], env, data_dir).await
    }

    pub async fn spawn(args: &[&str], env: &[(&str, &str)], data_dir: &Path) -> Self {
        let started = Instant::now();
        let mut cmd = command(args);
        cmd.envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = stderr.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let metrics_url = Arc::new(Mutex::new(None));
        let metrics_sink = metrics_url.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("Metrics at ") {
                    *metrics_sink.lock().unwrap() = Some(url.to_owned());
                }
                if let Some(url) = line.strip_prefix("CloudSec is ready at ") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        let url =
            match tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(20)))
                .await
                .unwrap()
            {
                Ok(url) => url,
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "cloudsec did not get ready; stderr:\n{}",
                        stderr.lock().unwrap().join("\n")
                    );
                }
            };
        let client = client_for(&url, data_dir);
        loop {
            if let Ok(r) = client.get(format!("{url}/healthz")).send().await
                && r.status() == 200
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "healthz never answered"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let metrics_url = metrics_url.lock().unwrap().clone();
        Self {
            child,
            url,
            metrics_url,
            ready_after: started.elapsed(),
            started,
            stderr,
            data_dir: data_dir.to_owned(),
        }
    }

    /// A client for this process: it trusts the gateway's self-signed
    /// certificate when serving HTTPS.
    pub fn client(&self) -> reqwest::ClientBuilder {
        client_builder(&self.url, &self.data_dir)
    }

    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit, at most `limit`.
    pub async fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "cloudsec did not exit within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client_builder(url: &str, data_dir: &Path) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder();
    if !url.starts_with("https://") {
        return builder;
    }
    let pem = std::fs::read(data_dir.join("gateway-cert.pem")).unwrap();
    builder
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .https_only(true)
}

fn client_for(url: &str, data_dir: &Path) -> reqwest::Client {
    client_builder(url, data_dir).build().unwrap()
}

/// Registers a user through `url` (the gateway) and returns its access token.
pub async fn register(client: &reqwest::Client, url: &str, name: &str) -> String {
    let body: serde_json::Value = client
        .post(format!("{url}/api/users"))
        .json(&serde_json::json!({"user": {"username": name, "email": format!("{name}@example.com"), "password": "a long enough passphrase"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["user"]["token"].as_str().unwrap().to_owned()
}

/// Serves `app` (a stand-in upstream or collector) on a loopback port in the
/// test's runtime; returns its base URL.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// `POST /api/articles` with `token`: an article titled `title`.
pub async fn create_article(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    title: &str,
) -> reqwest::Response {
    client
        .post(format!("{url}/api/articles"))
        .header("Authorization", format!("Token {token}"))
        .json(&serde_json::json!({"article": {"title": title, "description": "d", "body": "b"}}))
        .send()
        .await
        .unwrap()
}

/// `GET url` as JSON.
pub async fn get_json(client: &reqwest::Client, url: &str) -> serde_json::Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}
