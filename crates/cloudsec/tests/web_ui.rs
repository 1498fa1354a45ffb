//! `cloudsec up` and the web UI: it builds the export when it is missing or
//! stale (with whatever `npm` is on the PATH), serves it under a CSP that
//! allows its inline scripts by hash, and without npm still starts the API
//! and says why the UI is missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::command;

/// Starts `up` in `cwd` with `path` as PATH; returns the process, the
/// "Web UI…" line and the URL.
fn up_in(cwd: &Path, data: &Path, path: &str) -> (Child, String, String) {
    let mut child = command(&["up", "--data-dir", data.to_str().unwrap(), "--port", "0"])
        .current_dir(cwd)
        .env("PATH", path)
        .env("CLOUDSEC_AUTH__PASSWORD__REJECT_COMMON", "false")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut ui = String::new();
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if line.starts_with("Web UI") {
                ui = line.clone();
            }
            if let Some(url) = line.strip_prefix("CloudSec is ready at ") {
                let _ = tx.send((ui.clone(), url.to_owned()));
            }
        }
    });
    let (ui, url) = rx.recv_timeout(Duration::from_secs(30)).expect("ready");
    (child, ui, url)
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A stand-in for npm that "builds" an export with one inline script, and
/// counts its runs.
fn fake_npm(bin: &Path) {
    let script = r#"#!/bin/sh
echo "$@" >> ../npm-runs
env | grep -q '^CLOUDSEC_' && echo leaked-env >> ../npm-runs
if [ "$1" = run ]; then
  mkdir -p out
  printf '<!doctype html><title>Conduit</title><div id=app></div><script>boot(1)</script>' > out/index.html
fi
"#;
    std::fs::create_dir_all(bin).unwrap();
    let npm = bin.join("npm");
    std::fs::write(&npm, script).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&npm, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[tokio::test]
async fn up_builds_a_stale_export_and_serves_it_under_a_hashed_csp() {
    let root = tempfile::tempdir().unwrap();
    let frontend = root.path().join("frontend");
    std::fs::create_dir_all(frontend.join("src")).unwrap();
    std::fs::write(
        frontend.join("package.json"),
        r#"{"name": "cloudsec-frontend"}"#,
    )
    .unwrap();
    std::fs::write(frontend.join("package-lock.json"), "{}").unwrap();
    std::fs::write(frontend.join("src/page.tsx"), "export {}").unwrap();
    let bin = root.path().join("bin");
    fake_npm(&bin);
    let path = format!("{}:/usr/bin:/bin", bin.display());

    // First start: no export, no node_modules → npm ci, then the build.
    let (child, ui, url) = up_in(root.path(), &root.path().join("data1"), &path);
    assert!(ui.starts_with("Web UI at "), "{ui}");
    let page = reqwest::get(format!("{url}/article/deep-link"))
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    // sha256("boot(1)"), base64.
    assert!(
        csp.contains("script-src 'self' 'sha256-2DybWYCpP5bHxOJSoSgyyMeFgTOXm5f6FasJ7cSODcA='"),
        "{csp}"
    );
    assert!(page.text().await.unwrap().contains("id=app"));
    stop(child);
    let runs = std::fs::read_to_string(root.path().join("npm-runs")).unwrap();
    assert_eq!(
        runs.lines().collect::<Vec<_>>(),
        ["ci --ignore-scripts --no-audit --no-fund", "run build"]
    );

    // Second start with nothing changed: no build.
    std::fs::create_dir_all(frontend.join("node_modules")).unwrap();
    std::fs::write(frontend.join("node_modules/.package-lock.json"), "{}").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(frontend.join("out/index.html"), "<script>boot(1)</script>").unwrap();
    let (child, _, _) = up_in(root.path(), &root.path().join("data2"), &path);
    stop(child);
    assert_eq!(
        std::fs::read_to_string(root.path().join("npm-runs"))
            .unwrap()
            .lines()
            .count(),
        2
    );

    // A source newer than the export: rebuilt, without reinstalling.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(frontend.join("src/page.tsx"), "export const changed = 1").unwrap();
    let (child, _, _) = up_in(root.path(), &root.path().join("data3"), &path);
    stop(child);
    let runs = std::fs::read_to_string(root.path().join("npm-runs")).unwrap();
    assert_eq!(runs.lines().last(), Some("run build"));
    assert_eq!(runs.lines().count(), 3);
}

#[tokio::test]
async fn without_npm_the_api_starts_and_says_why_the_ui_is_missing() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("frontend")).unwrap();
    std::fs::write(
        root.path().join("frontend/package.json"),
        r#"{"name": "cloudsec-frontend"}"#,
    )
    .unwrap();
    let empty = root.path().join("no-tools");
    std::fs::create_dir_all(&empty).unwrap();
    let (child, ui, url) = up_in(
        root.path(),
        &root.path().join("data"),
        empty.to_str().unwrap(),
    );
    assert!(
        ui.contains("Web UI: not available: npm was not found on the PATH"),
        "{ui}"
    );
    let tags = reqwest::get(format!("{url}/api/tags")).await.unwrap();
    assert_eq!(tags.status(), 200);
    let page = reqwest::get(format!("{url}/")).await.unwrap();
    assert_eq!(page.status(), 404);
    stop(child);

    // Started elsewhere than the repository's root, or beside another
    // project's frontend: nothing is built, and it says where it looked.
    let (child, ui, _) = up_in(&empty, &root.path().join("data2"), "/usr/bin:/bin");
    assert!(
        ui.contains("no ./frontend/package.json of CloudSec's web UI"),
        "{ui}"
    );
    stop(child);
    let other = root.path().join("other");
    std::fs::create_dir_all(other.join("frontend")).unwrap();
    std::fs::write(
        other.join("frontend/package.json"),
        r#"{"name": "someone-else"}"#,
    )
    .unwrap();
    let (child, ui, _) = up_in(&other, &root.path().join("data3"), "/usr/bin:/bin");
    assert!(
        ui.contains("no ./frontend/package.json of CloudSec's web UI"),
        "{ui}"
    );
    stop(child);
}
