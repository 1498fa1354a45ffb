//! Serving a router on a listener: HTTP/1.1 and HTTP/2 (over TLS when a
//! rustls configuration is given, the protocol chosen by ALPN), timeouts
//! against slow and silent clients, caps on connections in total and per
//! client address, and graceful, bounded shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use futures_util::future::Either;
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tower::util::Oneshot;
use tower_http::timeout::TimeoutBody;

/// How connections are served.
#[derive(Clone)]
pub struct ServeOptions {
    /// TLS termination; plain HTTP when absent.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// A client must finish sending the request head (or the TLS
    /// handshake) within this time, or the connection is closed.
    pub header_read_timeout: Duration,
    /// Longest pause between two pieces of a request body; the request
    /// then fails with 408.
    pub body_read_timeout: Duration,
    /// Threads that serve the accepted connections, each running its own
    /// single-threaded event loop, connections handed out in turn. 0: the
    /// connections are served on the caller's runtime.
    pub threads: usize,
    /// Open connections at most; a connection beyond is closed at once.
    pub max_connections: usize,
    /// Open connections per client address (an IPv6 client: per /64) at
    /// most; 0: no such cap. Peers in `uncapped` (load balancers in
    /// front, which carry many clients) count only towards the total.
    pub max_connections_per_ip: usize,
    pub uncapped: Vec<ipnet::IpNet>,
    /// A connection on which no request starts for this long is closed
    /// (mind requests that take longer: one in flight alone does not count).
    pub idle_timeout: Option<Duration>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            tls: None,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            threads: 0,
            max_connections: 10_000,
            max_connections_per_ip: 0,
            uncapped: Vec::new(),
            idle_timeout: None,
        }
    }
}

/// What a listener serves: a service's axum `Router`, or any service of the
/// same shape (the gateway's).
pub trait App:
    tower::Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> App for S where
    S: tower::Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// Serves `app` until `shutdown` fires, then stops accepting and lets
/// in-flight requests finish for at most `grace` (HTTP/1.1 connections close
/// after their current request, HTTP/2 ones get a GOAWAY). Returns once
/// drained, or when the grace period is over (remaining connections dropped).
pub async fn serve(
    listener: TcpListener,
    app: impl App,
    shutdown: CancellationToken,
    grace: Duration,
    options: ServeOptions,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(crate::http::coarse_timer::HyperTimer)
        // Each message from one buffer, sent in one call: the head and a small
        // body copied together cost less than hyper's queue of buffers
        // gathered for `writev` (docs/benchmarks.md).
        .writev(false)
        .header_read_timeout(options.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .max_concurrent_streams(256);
    let acceptor = options.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let mut loops = EventLoops::start(options.threads)?;
    let graceful = GracefulShutdown::new();
    let admission = Admission::new(&options);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: back off, keep serving.
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let Some(admitted) = admission.admit(peer.ip()) else {
            // Dropped: closed before a byte is read.
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let connection = Connection {
            _admitted: admitted,
            builder: builder.clone(),
            app: app.clone(),
            peer,
            body_read_timeout: options.body_read_timeout,
            handshake_timeout: options.header_read_timeout,
            idle_timeout: options.idle_timeout,
            tls: acceptor.clone(),
            watcher: graceful.watcher(),
        };
        match loops.next() {
            None => {
                tokio::spawn(connection.accept(tcp));
            }
            // The socket moves to the other loop's reactor.
            Some(event_loop) => match tcp.into_std() {
                Ok(tcp) => {
                    event_loop.spawn(async move {
                        match TcpStream::from_std(tcp) {
                            Ok(tcp) => connection.accept(tcp).await,
                            Err(e) => {
                                tracing::warn!(%peer, error = %e, "connection not registered")
                            }
                        }
                    });
                }
                Err(e) => tracing::warn!(%peer, error = %e, "connection not handed over"),
            },
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!(%addr, grace_secs = grace.as_secs(), "shutdown grace period over; dropping remaining connections");
        }
    }
    loops.stop().await;
    Ok(())
}

/// Single-threaded event loops on their own threads. One multi-threaded
/// runtime serving a proxy's connections kept about one core busy, whatever
/// its worker count: the worker that polls for I/O runs the ready
/// connections itself. Each loop here has its own reactor and its share of
/// the connections (docs/benchmarks.md).
struct EventLoops {
    handles: Vec<tokio::runtime::Handle>,
    threads: Vec<std::thread::JoinHandle<()>>,
    stop: CancellationToken,
    next: usize,
}

impl EventLoops {
    fn start(count: usize) -> std::io::Result<Self> {
        let stop = CancellationToken::new();
        let mut loops = Self {
            handles: Vec::with_capacity(count),
            threads: Vec::with_capacity(count),
            stop: stop.clone(),
            next: 0,
        };
        for i in 0..count {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .on_thread_park(crate::telemetry::log_writer::flush_thread_logs)
                .build()?;
            loops.handles.push(runtime.handle().clone());
            let stop = stop.clone();
            let thread = std::thread::Builder::new()
                .name(format!("http-loop-{i}"))
                .spawn(move || {
                    crate::telemetry::log_writer::batch_thread_logs();
                    crate::http::coarse_timer::enable_on_this_thread();
                    runtime.block_on(async {
                        tokio::select! {
                            () = stop.cancelled() => {}
                            () = crate::http::coarse_timer::sweep() => {}
                        }
                    });
                });
            // On an early return the loops already started stop on drop.
            loops.threads.push(thread?);
        }
        Ok(loops)
    }

    /// The loop for the next connection, in turn; none when connections
    /// are served on the caller's runtime.
    fn next(&mut self) -> Option<&tokio::runtime::Handle> {
        if self.handles.is_empty() {
            return None;
        }
        self.next = (self.next + 1) % self.handles.len();
        self.handles.get(self.next)
    }

    /// Stops the loops; connections still open on them are dropped.
    async fn stop(mut self) {
        self.stop.cancel();
        let threads = std::mem::take(&mut self.threads);
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
    }
}

impl Drop for EventLoops {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Who may open one more connection. Counting happens on the accepting
/// task; the release, when a connection ends, on whichever loop served it.
#[derive(Clone)]
struct Admission {
    inner: Arc<AdmissionInner>,
}

struct AdmissionInner {
    max_total: usize,
    max_per_ip: usize,
    uncapped: Vec<ipnet::IpNet>,
    open: std::sync::Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    per_ip: std::collections::HashMap<std::net::IpAddr, usize>,
}

/// An admitted connection's place; given back when dropped.
struct Admitted {
    admission: Admission,
    /// The client address it counts under, when capped per address.
    ip: Option<std::net::IpAddr>,
}

impl Admission {
    fn new(options: &ServeOptions) -> Self {
        Self {
            inner: Arc::new(AdmissionInner {
                max_total: options.max_connections.max(1),
                max_per_ip: options.max_connections_per_ip,
                uncapped: options.uncapped.clone(),
                open: std::sync::Mutex::new(Open::default()),
            }),
        }
    }

    fn admit(&self, peer: std::net::IpAddr) -> Option<Admitted> {
        let inner = &self.inner;
        // An IPv4 balancer on a dual-stack listener arrives as ::ffff:a.b.c.d.
        let peer = peer.to_canonical();
        let ip = (inner.max_per_ip > 0 && !inner.uncapped.iter().any(|n| n.contains(&peer)))
            .then(|| crate::http::client_ip::bucket(peer));
        let mut open = inner.open.lock().ok()?;
        if open.total >= inner.max_total {
            metrics::counter!("connections_refused_total", "cap" => "total").increment(1);
            return None;
        }
        if let Some(ip) = ip {
            let count = open.per_ip.entry(ip).or_default();
            if *count >= inner.max_per_ip {
                metrics::counter!("connections_refused_total", "cap" => "per_ip").increment(1);
                return None;
            }
            *count += 1;
        }
        open.total += 1;
        Some(Admitted {
            admission: self.clone(),
            ip,
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let Ok(mut open) = self.admission.inner.open.lock() else {
            return;
        };
        open.total = open.total.saturating_sub(1);
        if let Some(ip) = self.ip
            && let std::collections::hash_map::Entry::Occupied(mut count) = open.per_ip.entry(ip)
        {
            *count.get_mut() -= 1;
            if *count.get() == 0 {
                count.remove();
            }
        }
    }
}

/// One accepted connection and what serving it needs.
struct Connection<A> {
    /// Holds the connection's place until it ends.
    _admitted: Admitted,
    builder: auto::Builder<TokioExecutor>,
    app: A,
    peer: SocketAddr,
    body_read_timeout: Duration,
    handshake_timeout: Duration,
    idle_timeout: Option<Duration>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    watcher: Watcher,
}

impl<A: App> Connection<A> {
    /// Serves the connection, after the TLS handshake when TLS is on. The
    /// first request must arrive within the handshake timeout of the accept,
    /// whatever the protocol: hyper's header timeout starts only once it
    /// knows the protocol, and telling HTTP/1 from HTTP/2 waits for bytes
    /// that a silent client never sends (an HTTP/2 preface and nothing more
    /// was held for 50 s, a silent socket forever).
    async fn accept(self, tcp: TcpStream) {
        let peer = self.peer;
        let deadline = tokio::time::Instant::now() + self.handshake_timeout;
        match self.tls.clone() {
            None => self.run(TokioIo::new(tcp), deadline).await,
            Some(acceptor) => match tokio::time::timeout_at(deadline, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => self.run(TokioIo::new(tls), deadline).await,
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            },
        }
    }

    async fn run<I>(self, io: TokioIo<I>, first_request_by: tokio::time::Instant)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let peer = self.peer;
        let requests = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let service = PerConnection {
            app: self.app,
            peer,
            body_read_timeout: self.body_read_timeout,
            requests: requests.clone(),
        };
        let connection = self
            .builder
            .serve_connection_with_upgrades(io, service)
            .into_owned();
        let served = self.watcher.watch(connection);
        tokio::pin!(served);
        // Closed when no request has started by the deadline: the first one
        // within the handshake timeout, then one within each idle period
        // (HTTP/2 keeps an idle connection open forever otherwise; an idle
        // HTTP/1 one hyper closes after its header timeout).
        let mut deadline = match self.idle_timeout {
            Some(idle) => first_request_by.min(tokio::time::Instant::now() + idle),
            None => first_request_by,
        };
        let mut seen = 0;
        let outcome = loop {
            tokio::select! {
                outcome = &mut served => break outcome,
                () = tokio::time::sleep_until(deadline) => {
                    let started = requests.load(std::sync::atomic::Ordering::Relaxed);
                    if started == seen {
                        let why = if seen == 0 { "silent" } else { "idle" };
                        tracing::debug!(%peer, why, "no request in time: connection closed");
                        metrics::counter!("connections_closed_total", "why" => why).increment(1);
                        return;
                    }
                    let Some(idle) = self.idle_timeout else {
                        break served.await;
                    };
                    seen = started;
                    deadline = tokio::time::Instant::now() + idle;
                }
            }
        };
        if let Err(e) = outcome {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}

/// The app as hyper sees it on one connection: each request gets the peer's
/// address, and a body still to come gets the read timeout. A ready app
/// (ours always are) is called straight away: hyper-util's generic adapter
/// clones it into a `Oneshot` that polls it ready first, and so copies the
/// request's future once more per request (docs/benchmarks.md).
struct PerConnection<A> {
    app: A,
    peer: SocketAddr,
    body_read_timeout: Duration,
    /// Requests started on this connection (none: a silent one).
    requests: Arc<std::sync::atomic::AtomicU64>,
}

impl<A: App> hyper::service::Service<http::Request<Incoming>> for PerConnection<A> {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<A::Future, Oneshot<A, Request>>;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (mut head, body) = request.into_parts();
        head.extensions.insert(ConnectInfo(self.peer));
        // Only a body still to come gets the timeout: the wrapper would
        // hide that a bodiless request has none (it does not pass on
        // `is_end_stream`), and every GET would then be read as a body.
        let body = if body.is_end_stream() {
            axum::body::Body::new(body)
        } else {
            axum::body::Body::new(TimeoutBody::new(self.body_read_timeout, body))
        };
        let request = http::Request::from_parts(head, body);
        let mut app = self.app.clone();
        match app.poll_ready(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(())) => Either::Left(app.call(request)),
            Poll::Pending => Either::Right(app.oneshot(request)),
        }
    }
}

/// SIGTERM and SIGINT (Ctrl-C), listened for from the moment of
/// installation: install before announcing readiness, so a signal sent right
/// after the announcement is not lost to the default (killing) disposition.
pub struct Termination {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Termination {
    pub fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Resolves on the first SIGTERM or SIGINT.
    pub async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}
