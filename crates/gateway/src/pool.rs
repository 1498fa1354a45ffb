//! Keep-alive HTTP/1.1 connections to the upstream endpoints, one pool per
//! thread. Each event loop forwards over connections it opened and drives
//! itself: nothing is shared between loops, so checking a connection out and
//! back in takes no lock, and a finished exchange needs no extra task (a
//! general-purpose client spawns one per request to notice when the
//! connection is free again). A connection goes back to the pool when its
//! response body has been read to the end; one dropped half-way is closed.

use std::cell::RefCell;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use http::uri::Authority;
use http::{HeaderValue, Request, Response, header};
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Idle connections kept per endpoint and thread; more are closed when freed.
const MAX_IDLE: usize = 256;
/// A connection idle this long is closed (when the pool is next used for
/// its endpoint) rather than kept open against the upstream forever.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Idle connections of one endpoint, oldest first, each with when it was freed.
type Idle = Vec<(SendRequest<Body>, Instant)>;

thread_local! {
    /// Indexed by [`Upstream::slot`]: no hashing of an address per checkout
    /// and check-in (docs/performance.md, "Idle upstream connections by slot").
    static IDLE: RefCell<Vec<Idle>> = const { RefCell::new(Vec::new()) };
}

/// Where a pool sends: an endpoint's address, and the slot its idle
/// connections are kept in on every thread.
pub struct Upstream {
    slot: usize,
    authority: Authority,
}

static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

impl Upstream {
    /// A new slot: made once per configured endpoint, at start.
    pub fn new(authority: Authority) -> Self {
        Self {
            slot: NEXT_SLOT.fetch_add(1, Ordering::Relaxed),
            authority,
        }
    }

    #[cfg(test)]
    pub fn authority(&self) -> &Authority {
        &self.authority
    }
}

/// Why an exchange failed: the endpoint could not be reached at all (a
/// refused or timed-out connection marks it down at once), or the exchange
/// on an open connection broke.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("connect: {0}")]
    Connect(String),
    #[error(transparent)]
    Exchange(#[from] hyper::Error),
}

impl Error {
    pub fn is_connect(&self) -> bool {
        matches!(self, Self::Connect(_))
    }
}

/// Sends `request` (origin-form URI) to `upstream` over a pooled connection,
/// or a new one. The `Host` header is the client's, or the upstream's
/// authority when the client sent none.
pub async fn send(
    upstream: &Upstream,
    mut request: Request<Body>,
) -> Result<Response<Body>, Error> {
    if !request.headers().contains_key(header::HOST)
        && let Ok(host) = HeaderValue::from_str(upstream.authority.as_str())
    {
        request.headers_mut().insert(header::HOST, host);
    }
    // A pooled connection the server has just closed gives the request back
    // unsent: it then goes over a new connection.
    while let Some(mut sender) = checkout(upstream.slot) {
        if sender.ready().await.is_err() {
            continue;
        }
        match sender.try_send_request(request).await {
            Ok(response) => return Ok(pooled(upstream.slot, sender, response)),
            Err(mut failed) => match failed.take_message() {
                Some(unsent) => request = unsent,
                None => return Err(Error::Exchange(failed.into_error())),
            },
        }
    }
    let mut sender = connect(&upstream.authority).await?;
    let response = sender.send_request(request).await?;
    Ok(pooled(upstream.slot, sender, response))
}

/// The most recently freed open connection: the warmest, and the least
/// likely to have been closed by the server meanwhile.
fn checkout(slot: usize) -> Option<SendRequest<Body>> {
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        let senders = idle.get_mut(slot)?;
        expire(senders, Instant::now());
        while let Some((sender, _)) = senders.pop() {
            if !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    })
}

fn checkin(slot: usize, sender: SendRequest<Body>) {
    if sender.is_closed() {
        return;
    }
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        if idle.len() <= slot {
            idle.resize_with(slot + 1, Vec::new);
        }
        let senders = &mut idle[slot];
        let now = Instant::now();
        expire(senders, now);
        if senders.len() < MAX_IDLE {
            senders.push((sender, now));
        }
    });
}

/// Drops (and so closes) the connections idle for longer than [`IDLE_TIMEOUT`].
fn expire<T>(idle: &mut Vec<(T, Instant)>, now: Instant) {
    let stale = idle
        .iter()
        .take_while(|(_, since)| now.duration_since(*since) > IDLE_TIMEOUT)
        .count();
    idle.drain(..stale);
}

async fn connect(authority: &Authority) -> Result<SendRequest<Body>, Error> {
    // `[::1]` in an authority, `::1` to resolve.
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let address = (host, authority.port_u16().unwrap_or(80));
    let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(address))
        .await
    {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => return Err(Error::Connect(e.to_string())),
        Err(_) => return Err(Error::Connect("timed out".to_owned())),
    };
    let _ = tcp.set_nodelay(true);
    // As the server side (`platform::http::server`): each request from one buffer.
    let (sender, connection) = http1::Builder::new()
        .writev(false)
        .handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| Error::Connect(e.to_string()))?;
    // Driven on this thread's runtime, like every connection of this pool.
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}

/// The response, its body handing the connection back when read to the end.
fn pooled(slot: usize, sender: SendRequest<Body>, response: Response<Incoming>) -> Response<Body> {
    let (parts, body) = response.into_parts();
    let mut body = PooledBody {
        body,
        lease: Some((slot, sender)),
    };
    if body.body.is_end_stream() {
        body.release();
    }
    Response::from_parts(parts, Body::new(body))
}

struct PooledBody {
    body: Incoming,
    /// The connection and its pool's slot, until the body is complete.
    lease: Option<(usize, SendRequest<Body>)>,
}

impl PooledBody {
    fn release(&mut self) {
        if let Some((slot, sender)) = self.lease.take() {
            checkin(slot, sender);
        }
    }
}

impl http_body::Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.release(),
            Poll::Ready(Some(Ok(_))) if self.body.is_end_stream() => self.release(),
            // A broken body: the connection is not reused.
            Poll::Ready(Some(Err(_))) => self.lease = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http_body_util::BodyExt;

    use super::*;

    /// An upstream that counts the connections it accepts and answers every
    /// request with `body`; with `close_after_one`, it closes each
    /// connection after its first response.
    async fn upstream(body: &'static str, close_after_one: bool) -> (Upstream, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = listener.local_addr().unwrap().to_string().parse().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                let service = hyper::service::service_fn(move |_req| async move {
                    Ok::<_, std::convert::Infallible>(Response::new(http_body_util::Full::new(
                        Bytes::from_static(body.as_bytes()),
                    )))
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .keep_alive(!close_after_one)
                        .serve_connection(TokioIo::new(tcp), service),
                );
            }
        });
        (Upstream::new(authority), accepted)
    }

    async fn get(upstream: &Upstream) -> Response<Body> {
        let request = Request::get("/x").body(Body::empty()).unwrap();
        send(upstream, request).await.unwrap()
    }

    /// A GET whose response is read to the end.
    async fn read(upstream: &Upstream) -> Bytes {
        let body = get(upstream).await.into_body().collect().await.unwrap();
        body.to_bytes()
    }

    #[tokio::test]
    async fn a_connection_is_reused_once_its_response_is_read() {
        let (authority, accepted) = upstream("hello", false).await;
        for _ in 0..5 {
            assert_eq!(read(&authority).await, "hello");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn each_endpoint_keeps_its_own_connections() {
        let (a, accepted_a) = upstream("from a", false).await;
        let (b, accepted_b) = upstream("from b", false).await;
        for _ in 0..3 {
            assert_eq!(read(&a).await, "from a");
            assert_eq!(read(&b).await, "from b");
        }
        assert_eq!(accepted_a.load(Ordering::SeqCst), 1);
        assert_eq!(accepted_b.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_response_dropped_unread_takes_its_connection_with_it() {
        let big: &'static str = "x".repeat(1 << 20).leak();
        let (authority, accepted) = upstream(big, false).await;
        drop(get(&authority).await);
        assert_eq!(read(&authority).await.len(), 1 << 20);
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_is_replaced() {
        let (authority, accepted) = upstream("again", true).await;
        for _ in 0..3 {
            assert_eq!(read(&authority).await, "again");
            tokio::task::yield_now().await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    /// `chunks` as a body, a few milliseconds apart.
    fn trickle(chunks: Vec<Bytes>) -> impl http_body::Body<Data = Bytes, Error = hyper::Error> {
        let frames = futures_util::stream::unfold(chunks.into_iter(), |mut chunks| async move {
            let chunk = chunks.next()?;
            tokio::time::sleep(Duration::from_millis(2)).await;
            Some((Ok(Frame::data(chunk)), chunks))
        });
        http_body_util::StreamBody::new(frames)
    }

    /// An upstream that echoes each request's body, in a response whose
    /// body comes in `pieces` a few milliseconds apart.
    async fn echo_in_pieces(pieces: usize) -> Upstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = listener.local_addr().unwrap().to_string().parse().unwrap();
        let echo = move |request: Request<Incoming>| async move {
            let body = request.into_body().collect().await?.to_bytes();
            let size = body.len().div_ceil(pieces).max(1);
            let chunks = body.chunks(size).map(Bytes::copy_from_slice).collect();
            Ok::<_, hyper::Error>(Response::new(trickle(chunks)))
        };
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), hyper::service::service_fn(echo)),
                );
            }
        });
        Upstream::new(authority)
    }

    /// Bodies that come in pieces, the request's from another task (on
    /// another thread, here) and the response's from the upstream, go
    /// through whole: each piece wakes whoever waits for it, and nothing is
    /// lost or stuck.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bodies_in_pieces_go_through_in_both_directions() {
        let upstream = echo_in_pieces(7).await;
        for round in 0..5 {
            let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
            let body = futures_util::stream::unfold(rx, |mut rx| async move {
                let chunk = rx.recv().await?;
                Some((Ok::<_, std::convert::Infallible>(Frame::data(chunk)), rx))
            });
            let request = Request::post("/echo")
                .body(Body::new(http_body_util::StreamBody::new(body)))
                .unwrap();
            let sent: String = (0..20)
                .map(|i| format!("round {round} piece {i};"))
                .collect();
            let feed = sent.clone();
            tokio::spawn(async move {
                for piece in feed.split_inclusive(';') {
                    tx.send(Bytes::copy_from_slice(piece.as_bytes()))
                        .await
                        .unwrap();
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            });
            let response = tokio::time::timeout(Duration::from_secs(10), async {
                let response = send(&upstream, request).await.unwrap();
                response.into_body().collect().await.unwrap().to_bytes()
            })
            .await
            .expect("the exchange finished");
            assert_eq!(response, sent.as_bytes());
        }
    }

    #[test]
    fn connections_idle_too_long_are_dropped_oldest_first() {
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        let mut idle = vec![(1, at(0)), (2, at(30)), (3, at(70))];
        expire(&mut idle, at(80));
        assert_eq!(idle, [(2, at(30)), (3, at(70))]);
        expire(&mut idle, at(200));
        assert!(idle.is_empty());
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let authority = listener.local_addr().unwrap().to_string().parse().unwrap();
        drop(listener);
        let request = Request::get("/").body(Body::empty()).unwrap();
        let error = send(&Upstream::new(authority), request).await.unwrap_err();
        assert!(error.is_connect(), "{error}");
    }
}
