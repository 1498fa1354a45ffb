//! The web UI for `cloudsec up`: the Next.js export in `./frontend/out`,
//! built first when it is missing or older than its sources and npm is on
//! the PATH. Production images ship the export and set `gateway.static_dir`;
//! nothing here runs for `serve`. Without npm the platform still starts, and
//! says why the UI is missing.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::SystemTime;

const SOURCE: &str = "frontend";

/// Where the UI is, or why there is none.
pub enum Ui {
    Ready(PathBuf),
    Missing(String),
}

/// The export to serve, building it first when needed.
pub async fn prepare() -> Ui {
    let source = Path::new(SOURCE);
    if !source.join("package.json").is_file() {
        return Ui::Missing(format!(
            "no ./{SOURCE}/package.json in {} (start from the repository's root, or set gateway.static_dir)",
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
            &[&["ci", "--no-audit", "--no-fund"], &["run", "build"]]
        };
    eprintln!(
        "cloudsec: building the web UI in ./{SOURCE} (npm; the first time takes about a minute)"
    );
    for args in steps {
        let status = tokio::process::Command::new("npm")
            .args(*args)
            .current_dir(source)
            .env("NEXT_TELEMETRY_DISABLED", "1")
            .stdin(Stdio::null())
            // Our stdout is for the readiness lines; npm's chatter goes to stderr.
            .stdout(Stdio::from(std::io::stderr()))
            .status()
            .await;
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
