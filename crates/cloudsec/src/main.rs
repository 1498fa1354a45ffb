//! `cloudsec`: wires configuration, telemetry and the service crates. No
//! service logic lives here.

mod cli;
mod frontend;
mod run;
mod settings;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, ConfigAction, KeysAction};
use settings::{GatewayOverrides, Overrides, Settings};

/// Every request allocates in several tasks on several threads; glibc's
/// malloc serializes them on arena locks (measured: a third of the gateway's
/// CPU under load, docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code for invalid configuration (`EX_USAGE`-like, distinct from runtime failure).
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let port = match &cli.command {
        Command::Up { port } | Command::Serve { port, .. } => *port,
        Command::Config { .. } | Command::Keys { .. } => None,
    };
    let overrides = Overrides {
        data_dir: cli.data_dir.clone(),
        gateway: port.map(|port| GatewayOverrides { port }),
    };
    let settings = match Settings::load(cli.config.as_deref(), overrides) {
        Ok(settings) => settings,
        Err(errors) => {
            eprintln!("cloudsec: invalid configuration:\n{errors}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match cli.command {
        Command::Config {
            action: ConfigAction::Check,
        } => {
            println!("configuration is valid");
            ExitCode::SUCCESS
        }
        Command::Config {
            action: ConfigAction::Print,
        } => match settings.redacted_toml() {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("cloudsec: cannot render configuration: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Keys { action } => match keys(&settings, action) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("cloudsec: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Up { .. } => run::run(settings, run::Mode::Up),
        Command::Serve { service, .. } => run::run(settings, run::Mode::Serve(service)),
    }
}

fn keys(settings: &Settings, action: KeysAction) -> anyhow::Result<()> {
    let store = settings.secrets_store()?;
    match action {
        KeysAction::Rotate => {
            let kid = auth::keys::rotate(&store, auth::keys::retention(&settings.auth))?;
            println!("new signing key {kid}");
        }
        KeysAction::List => {
            for (kid, created_at) in auth::keys::list(&store)? {
                println!("{kid}\tcreated {created_at}");
            }
        }
    }
    Ok(())
}
