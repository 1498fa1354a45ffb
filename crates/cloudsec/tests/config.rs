//! Bad configuration fails before anything listens, with exit code 2 and the key named.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpListener;
use std::time::Duration;

use common::{command, free_port};

/// Runs `cloudsec` to completion (bounded) and returns (code, stdout, stderr).
fn run(mut cmd: std::process::Command) -> (Option<i32>, String, String) {
    let child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(10));
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    });
    let out = child.wait_with_output().unwrap();
    drop(watchdog);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn unknown_env_key_exits_2_naming_it_before_listening() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = command(&[
        "up",
        "--data-dir",
        tmp.path().to_str().unwrap(),
        "--port",
        &port.to_string(),
    ]);
    cmd.env("CLOUDSEC_NO_SUCH__KEY", "1");
    let (code, stdout, stderr) = run(cmd);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("no_such"), "{stderr}");
    assert!(stderr.contains("CLOUDSEC_NO_SUCH__KEY"), "{stderr}");
    assert!(!stdout.contains("ready"));
    assert!(
        TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "port was taken"
    );
    assert!(
        std::fs::read_dir(tmp.path()).unwrap().next().is_none(),
        "data dir was written to"
    );
}

#[test]
fn bad_toml_value_exits_2_naming_key_and_file() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("cloudsec.toml");
    std::fs::write(&file, "[gateway]\nhealth_check_interval_ms = \"often\"\n").unwrap();
    let port = free_port();
    let cmd = command(&[
        "up",
        "--config",
        file.to_str().unwrap(),
        "--port",
        &port.to_string(),
    ]);
    let (code, stdout, stderr) = run(cmd);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("gateway.health_check_interval_ms"),
        "{stderr}"
    );
    assert!(stderr.contains("cloudsec.toml"), "{stderr}");
    assert!(!stdout.contains("ready"));
    assert!(
        TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "port was taken"
    );
}

#[test]
fn out_of_range_value_and_unknown_toml_key_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("c.toml");
    // Each file has one fault (the first also a second one); `config check` names it.
    for (toml, key) in [
        (
            "[server]\nshutdown_grace_secs = 0\n[business]\nstore = \"oracle\"\n",
            "business.store",
        ),
        (
            "[server]\nshutdown_grace_secs = 0\n",
            "server.shutdown_grace_secs",
        ),
        ("[gateway]\nprot = 80\n", "gateway.prot"),
        (
            "[gateway]\nworker_threads = 5000\n",
            "gateway.worker_threads",
        ),
        (
            "[gateway.waf]\nparanoia_level = 3\n",
            "gateway.waf.paranoia_level",
        ),
        // One article's path, not a route: it would never apply.
        (
            "[gateway.route_timeouts]\n\"/api/articles/my-article\" = 5\n",
            "gateway.route_timeouts",
        ),
    ] {
        std::fs::write(&file, toml).unwrap();
        let (code, _, stderr) = run(command(&[
            "config",
            "check",
            "--config",
            file.to_str().unwrap(),
        ]));
        assert_eq!(code, Some(2), "{toml}");
        assert!(stderr.contains(key), "{key}: {stderr}");
    }
}

#[test]
fn config_check_and_print_show_the_effective_configuration() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("c.toml");
    std::fs::write(&file, "[gateway]\nport = 9090\n").unwrap();
    let (code, stdout, _) = run(command(&[
        "config",
        "check",
        "--config",
        file.to_str().unwrap(),
    ]));
    assert_eq!(code, Some(0));
    assert!(stdout.contains("valid"));

    let mut cmd = command(&["config", "print", "--config", file.to_str().unwrap()]);
    cmd.env(
        "CLOUDSEC_GATEWAY__UPSTREAMS__AUTH",
        "http://10.0.0.1:8081,http://10.0.0.2:8081",
    );
    let (code, stdout, stderr) = run(cmd);
    assert_eq!(code, Some(0), "{stderr}");
    let printed: toml::Value = toml::from_str(&stdout).unwrap();
    assert_eq!(printed["gateway"]["port"].as_integer(), Some(9090));
    assert_eq!(
        printed["gateway"]["upstreams"]["auth"].as_str(),
        Some("http://10.0.0.1:8081,http://10.0.0.2:8081")
    );
    assert_eq!(printed["data_dir"].as_str(), Some(".cloudsec"));
}

#[test]
fn a_port_in_use_is_a_clear_startup_error() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (code, _, stderr) = run(command(&[
        "up",
        "--data-dir",
        tmp.path().to_str().unwrap(),
        "--port",
        &port,
    ]));
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
}

/// Behind a gateway on another host, the default (loopback) peers would make
/// every client look like the gateway: `serve auth` refuses to start so.
#[test]
fn auth_off_loopback_must_be_told_its_gateways() {
    let tmp = tempfile::tempdir().unwrap();
    let listen = format!("0.0.0.0:{}", free_port());
    let mut cmd = command(&["serve", "auth", "--data-dir", tmp.path().to_str().unwrap()]);
    cmd.env("CLOUDSEC_AUTH__LISTEN", &listen);
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("auth.trusted_peers"), "{stderr}");
}
