//! Starting services: all of them in one process (`up`) or one (`serve`), and
//! stopping them in order on SIGTERM/SIGINT: the gateway drains first, then the
//! services behind it, so no request in flight loses its upstream.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use platform::http::server;
use platform::telemetry::Telemetry;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::cli::Service;
use crate::settings::Settings;

pub enum Mode {
    Up,
    Serve(Service),
}

pub fn run(settings: Settings, mode: Mode) -> ExitCode {
    let service_name = match mode {
        Mode::Up => "cloudsec",
        Mode::Serve(Service::Gateway) => "cloudsec-gateway",
        Mode::Serve(Service::Auth) => "cloudsec-auth",
        Mode::Serve(Service::Business) => "cloudsec-business",
    };
    // Before the runtime: the OTLP exporter's HTTP client must not be built on an async thread.
    let telemetry = match Telemetry::init(service_name, &settings.telemetry) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cloudsec: telemetry: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .and_then(|rt| {
            let result = rt.block_on(async {
                match mode {
                    Mode::Up => up(settings).await,
                    Mode::Serve(service) => serve(service, settings).await,
                }
            });
            rt.shutdown_timeout(Duration::from_secs(1));
            result
        });
    telemetry.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "cloudsec failed");
            eprintln!("cloudsec: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A bound listener and the app to serve on it.
struct Bound<A> {
    name: &'static str,
    listener: TcpListener,
    app: A,
    options: server::ServeOptions,
}

async fn listen(name: &'static str, addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("{name}: cannot listen on {addr}"))
}

async fn bind<A>(
    name: &'static str,
    addr: SocketAddr,
    app: A,
    options: server::ServeOptions,
) -> anyhow::Result<Bound<A>> {
    Ok(Bound {
        name,
        listener: listen(name, addr).await?,
        app,
        options,
    })
}

/// The gateway's TLS configuration (generating the self-signed pair on first use).
fn gateway_tls(settings: &Settings) -> anyhow::Result<Option<Arc<rustls::ServerConfig>>> {
    if !settings.gateway.tls.enabled() {
        return Ok(None);
    }
    gateway::tls::server_config(
        &settings.gateway.tls,
        &settings.secrets_store()?,
        &settings.data_dir,
    )
}

fn scheme(tls: &Option<Arc<rustls::ServerConfig>>) -> &'static str {
    if tls.is_some() { "https" } else { "http" }
}

/// The business service accepts the tokens the auth service issues.
fn token_expectations(settings: &Settings) -> business::TokenExpectations {
    business::TokenExpectations {
        issuer: settings.auth.issuer.clone(),
        audience: settings.auth.audience.clone(),
    }
}

/// Spawns each bound server with its own shutdown token.
fn spawn_all<A: server::App>(
    set: &mut JoinSet<(&'static str, std::io::Result<()>)>,
    servers: Vec<Bound<A>>,
    shutdown: &CancellationToken,
    grace: Duration,
) {
    for Bound {
        name,
        listener,
        app,
        options,
    } in servers
    {
        let token = shutdown.clone();
        set.spawn(async move {
            (
                name,
                server::serve(listener, app, token, grace, options).await,
            )
        });
    }
}

/// The gateway's `/metrics`, on a listener of its own (`gateway.metrics_listen`).
async fn metrics_listener(settings: &Settings) -> anyhow::Result<Bound<axum::Router>> {
    let bound = bind(
        "metrics",
        settings.gateway.metrics_listen,
        platform::http::health::metrics_router(),
        server::ServeOptions::default(),
    )
    .await
    .context("gateway.metrics_listen")?;
    println!("Metrics at http://{}/metrics", bound.listener.local_addr()?);
    Ok(bound)
}

fn announce(url: &str) {
    println!("CloudSec is ready at {url}");
    let _ = std::io::stdout().flush();
    tracing::info!(url, "ready");
}

async fn up(mut settings: Settings) -> anyhow::Result<()> {
    prepare_data_dir(&settings)?;
    let ui = match &settings.gateway.static_dir {
        Some(dir) => crate::frontend::Ui::Ready(dir.clone()),
        None => crate::frontend::prepare().await,
    };
    if let crate::frontend::Ui::Ready(dir) = &ui {
        settings.gateway.static_dir = Some(dir.clone());
    }
    // The gateway's address first: the auth service publishes it in its discovery document.
    let edge_addr = SocketAddr::new(settings.gateway.bind, settings.gateway.port);
    let edge_listener = listen(gateway::SERVICE, edge_addr).await?;
    let edge_tls = gateway_tls(&settings)?;
    let url = format!("{}://{}", scheme(&edge_tls), edge_listener.local_addr()?);
    if settings.auth.public_url.is_none() {
        settings.auth.public_url = url::Url::parse(&url).ok();
    }

    // Then the services' loopback listeners, so each knows where the other is.
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let auth_listener = listen(auth::SERVICE, loopback).await?;
    let business_listener = listen(business::SERVICE, loopback).await?;
    let auth_url = gateway::loopback_url(auth_listener.local_addr()?.port());
    let business_url = gateway::loopback_url(business_listener.local_addr()?.port());
    if settings.business.auth_url == business::Config::default().auth_url {
        settings.business.auth_url = auth_url.clone();
    }

    let services_stop = CancellationToken::new();
    let gateway_stop = CancellationToken::new();
    let context = settings.context(services_stop.clone()).await?;
    // Auth first: it creates the keys and secrets the business service reads.
    let auth_state = auth::State::from_config(&settings.auth, &context).await?;
    let business_state =
        business::State::from_config(&settings.business, &token_expectations(&settings), &context)
            .await?;
    let auth = Bound {
        name: auth::SERVICE,
        listener: auth_listener,
        app: auth::router(auth_state),
        options: server::ServeOptions::default(),
    };
    let business = Bound {
        name: business::SERVICE,
        listener: business_listener,
        app: business::router(business_state),
        options: server::ServeOptions::default(),
    };

    let upstreams = &mut settings.gateway.upstreams;
    upstreams
        .auth
        .get_or_insert(gateway::UpstreamList(vec![auth_url]));
    upstreams
        .business
        .get_or_insert(gateway::UpstreamList(vec![business_url]));
    let gateway_state = gateway::State::from_config(
        &settings.gateway,
        &token_expectations(&settings),
        context.deny.clone(),
        context.redis.clone(),
        gateway_stop.clone(),
    )?;
    let edge = Bound {
        name: gateway::SERVICE,
        listener: edge_listener,
        app: gateway::app(gateway_state),
        options: gateway::serve_options(&settings.gateway, edge_tls),
    };
    let metrics = metrics_listener(&settings).await?;
    let mut termination = server::Termination::install().context("installing signal handlers")?;

    let grace = Duration::from_secs(settings.server.shutdown_grace_secs);
    let mut services = JoinSet::new();
    spawn_all(
        &mut services,
        vec![auth, business, metrics],
        &services_stop,
        grace,
    );
    let mut edges = JoinSet::new();
    spawn_all(&mut edges, vec![edge], &gateway_stop, grace);
    match &ui {
        crate::frontend::Ui::Ready(dir) => println!("Web UI at {url}/ (from {})", dir.display()),
        crate::frontend::Ui::Missing(why) => {
            println!("Web UI: not available: {why}. The API is up.")
        }
    }
    announce(&url);

    let early_exit = tokio::select! {
        () = termination.recv() => None,
        Some(done) = edges.join_next() => Some(done),
        Some(done) = services.join_next() => Some(done),
    };
    tracing::info!("shutting down: draining the gateway, then the services");
    gateway_stop.cancel();
    let mut outcome = check_exit(early_exit);
    while let Some(done) = edges.join_next().await {
        outcome = outcome.and(check_exit(Some(done)));
    }
    services_stop.cancel();
    while let Some(done) = services.join_next().await {
        outcome = outcome.and(check_exit(Some(done)));
    }
    outcome
}

fn prepare_data_dir(settings: &Settings) -> anyhow::Result<()> {
    platform::storage::data_dir::prepare(&settings.data_dir)
        .with_context(|| format!("data_dir: cannot create {}", settings.data_dir.display()))
}

type Exit = Result<(&'static str, std::io::Result<()>), tokio::task::JoinError>;

/// Turns a finished server task into an error when it failed.
fn check_exit(done: Option<Exit>) -> anyhow::Result<()> {
    match done {
        None | Some(Ok((_, Ok(())))) => Ok(()),
        Some(Ok((name, Err(e)))) => Err(anyhow::anyhow!("{name}: server error: {e}")),
        Some(Err(e)) => Err(anyhow::anyhow!("server task failed: {e}")),
    }
}

async fn serve(service: Service, settings: Settings) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    if settings.redis.url.is_none() && service != Service::Auth {
        tracing::warn!(
            "redis.url is not set: logouts and revocations reach this process only through the tokens' expiry; \
             set redis.url when services run as separate processes"
        );
    }
    match service {
        Service::Gateway => {
            let redis = platform::storage::redis::Redis::connect(&settings.redis).await?;
            let deny = platform::tokens::revocation::DenyList::new(redis.clone());
            let state = gateway::State::from_config(
                &settings.gateway,
                &token_expectations(&settings),
                deny,
                redis,
                stop.clone(),
            )?;
            let addr = SocketAddr::new(settings.gateway.bind, settings.gateway.port);
            let options = gateway::serve_options(&settings.gateway, gateway_tls(&settings)?);
            let bound = bind(gateway::SERVICE, addr, gateway::app(state), options).await?;
            let metrics = metrics_listener(&settings).await?;
            let metrics_stop = stop.child_token();
            let mut metrics_task = JoinSet::new();
            let grace = Duration::from_secs(settings.server.shutdown_grace_secs);
            spawn_all(&mut metrics_task, vec![metrics], &metrics_stop, grace);
            run_bound(bound, stop, &settings).await
        }
        Service::Auth => {
            prepare_data_dir(&settings)?;
            let context = settings.context(stop.clone()).await?;
            let state = auth::State::from_config(&settings.auth, &context).await?;
            let bound = bind(
                auth::SERVICE,
                settings.auth.listen,
                auth::router(state),
                server::ServeOptions::default(),
            )
            .await?;
            run_bound(bound, stop, &settings).await
        }
        Service::Business => {
            prepare_data_dir(&settings)?;
            let context = settings.context(stop.clone()).await?;
            let state = business::State::from_config(
                &settings.business,
                &token_expectations(&settings),
                &context,
            )
            .await?;
            let bound = bind(
                business::SERVICE,
                settings.business.listen,
                business::router(state),
                server::ServeOptions::default(),
            )
            .await?;
            run_bound(bound, stop, &settings).await
        }
    }
}

/// Serves one bound service until a signal (or its end), then drains it.
async fn run_bound<A: server::App>(
    bound: Bound<A>,
    stop: CancellationToken,
    settings: &Settings,
) -> anyhow::Result<()> {
    let url = format!(
        "{}://{}",
        scheme(&bound.options.tls),
        bound.listener.local_addr()?
    );
    let mut termination = server::Termination::install().context("installing signal handlers")?;
    let grace = Duration::from_secs(settings.server.shutdown_grace_secs);
    let mut servers = JoinSet::new();
    spawn_all(&mut servers, vec![bound], &stop, grace);
    announce(&url);
    let early_exit = tokio::select! {
        () = termination.recv() => None,
        Some(done) = servers.join_next() => Some(done),
    };
    stop.cancel();
    let mut outcome = check_exit(early_exit);
    while let Some(done) = servers.join_next().await {
        outcome = outcome.and(check_exit(Some(done)));
    }
    outcome
}
