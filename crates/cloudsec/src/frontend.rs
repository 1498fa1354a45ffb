//! The web UI for `cloudsec up`: the Next.js export in `./frontend/out`,
//! built first when it is missing or older than its sources and npm is on
//! the PATH. Without npm the platform still starts, and says why the UI is
//! missing. Only this repository's frontend is built (its package name is
//! checked), npm gets no install scripts and none of the platform's
//! environment (its `CLOUDSEC_*` settings may hold secrets), and each step
//! has a time limit. `serve` builds and serves nothing unless
//! `gateway.static_dir` says so.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::SystemTime;

const SOURCE: &str = "frontend";
/// The `name` in this repository's `frontend/package.json`.
const PACKAGE: &str = "\"name\": \"cloudsec-frontend\"";
/// What npm may see of our environment: where to find tools, where home and
/// temp are, locale, proxies and npm's own settings.
const PASSED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "TERM",
    "NO_COLOR",
    "CI",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "NODE_EXTRA_CA_CERTS",
];
const STEP_LIMIT: std::time::Duration = std::time::Duration::from_secs(600);

/// Where the UI is, or why there is none.
pub enum Ui {
    Ready(PathBuf),
    Missing(String),
}

/// The export to serve, building it first when needed.
pub async fn prepare() -> Ui {
    let source = Path::new(SOURCE);
    let ours =
        std::fs::read_to_string(source.join("package.json")).is_ok_and(|p| p.contains(PACKAGE));
    if !ours {
        return Ui::Missing(format!(
            "no ./{SOURCE}/package.json of CloudSec's web UI in {} \
             (start from the repository's root, or set gateway.static_dir)",
            std::env::current_dir()
                .map_or_else(|_| "this directory".to_owned(), |d| d.display().to_string())
        ));
    }
    let out = source.join("out");
    let built = modified(&out.join("index.html"));
    if built.is_some() && built >= newest_source(source) {
        return Ui::Ready(out);
    }
    match build(source).await {
        Ok(()) => Ui::Ready(out),
        Err(why) if built.is_some() => {
            eprintln!(
                "cloudsec: the web UI's sources changed but it was not rebuilt ({why}); serving the last build"
            );
            Ui::Ready(out)
        }
        Err(why) => Ui::Missing(why),
    }
}

async fn build(source: &Path) -> Result<(), String> {
    let installed = modified(&source.join("node_modules/.package-lock.json"));
    let steps: &[&[&str]] =
        if installed.is_some() && installed >= modified(&source.join("package-lock.json")) {
            &[&["run", "build"]]
        } else {
            &[
                &["ci", "--ignore-scripts", "--no-audit", "--no-fund"],
                &["run", "build"],
            ]
        };
    eprintln!(
        "cloudsec: building the web UI in ./{SOURCE} (npm; the first time takes about a minute)"
    );
    for args in steps {
        let mut npm = tokio::process::Command::new("npm");
        npm.args(*args)
            .current_dir(source)
            .env_clear()
            .envs(
                PASSED_ENV
                    .iter()
                    .filter_map(|k| std::env::var_os(k).map(|v| (k, v))),
            )
            .envs(
                std::env::vars_os().filter(|(k, _)| k.to_string_lossy().starts_with("npm_config_")),
            )
            .env("NEXT_TELEMETRY_DISABLED", "1")
            .stdin(Stdio::null())
            // Our stdout is for the readiness lines; npm's chatter goes to stderr.
            .stdout(Stdio::from(std::io::stderr()))
            .kill_on_drop(true);
        let status = match tokio::time::timeout(STEP_LIMIT, npm.status()).await {
            Ok(status) => status,
            Err(_) => {
                return Err(format!(
                    "`npm {}` took over {} s",
                    args.join(" "),
                    STEP_LIMIT.as_secs()
                ));
            }
        };
        match status {
            Ok(status) if status.success() => {}
            Ok(status) => return Err(format!("`npm {}` failed ({status})", args.join(" "))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err("npm was not found on the PATH: install Node.js 20.19 or newer with npm, then start again".to_owned());
            }
            Err(e) => return Err(format!("`npm {}` could not start: {e}", args.join(" "))),
        }
    }
    Ok(())
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time among the files the export is built from.
fn newest_source(source: &Path) -> Option<SystemTime> {
    let mut newest = None;
    let mut pending: Vec<PathBuf> = [
        "src",
        "public",
        "package.json",
        "package-lock.json",
        "next.config.ts",
    ]
    .iter()
    .map(|p| source.join(p))
    .collect();
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                pending.extend(entries.flatten().map(|e| e.path()));
            }
        } else {
            newest = newest.max(modified(&path));
        }
    }
    newest
}
