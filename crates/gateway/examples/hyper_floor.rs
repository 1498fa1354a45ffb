//! The floor under the gateway's proxy benchmark: a reverse proxy with
//! nothing but hyper — one single-threaded event loop per CPU (SO_REUSEPORT
//! listeners), one pooled upstream client per loop, no routing, checks, logs
//! or metrics. `bench/gateway-vs-nginx.sh` runs it with `BENCH_FLOOR=1` to
//! show how much of the gap to nginx is hyper's and how much the gateway's.
//!
//! usage: hyper_floor LISTEN_ADDR UPSTREAM_BASE_URL

use std::net::SocketAddr;

use http::{Response, StatusCode, Uri};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

type Body = BoxBody<Bytes, hyper::Error>;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: hyper_floor LISTEN_ADDR UPSTREAM_BASE_URL");
    };
    let listen: SocketAddr = listen.parse()?;
    let upstream = upstream.trim_end_matches('/').to_owned();
    let loops = std::thread::available_parallelism().map_or(1, usize::from);
    let threads: Vec<_> = (0..loops)
        .map(|_| {
            let upstream = upstream.clone();
            std::thread::spawn(move || -> anyhow::Result<()> {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?
                    .block_on(serve(listen, upstream))
            })
        })
        .collect();
    for thread in threads {
        thread
            .join()
            .map_err(|_| anyhow::anyhow!("event loop panicked"))??;
    }
    Ok(())
}

async fn serve(listen: SocketAddr, upstream: String) -> anyhow::Result<()> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseport(true)?;
    socket.bind(listen)?;
    let listener = socket.listen(1024)?;
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build(connector);
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let client = client.clone();
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                forward(client.clone(), upstream.clone(), request)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}

async fn forward(
    client: Client<HttpConnector, Body>,
    upstream: String,
    request: http::Request<Incoming>,
) -> Result<Response<Body>, hyper::Error> {
    let (mut parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let Ok(uri) = format!("{upstream}{path}").parse::<Uri>() else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    parts.uri = uri;
    match client
        .request(http::Request::from_parts(parts, body.boxed()))
        .await
    {
        Ok(response) => Ok(response.map(BodyExt::boxed)),
        Err(_) => Ok(status(StatusCode::BAD_GATEWAY)),
    }
}

fn status(code: StatusCode) -> Response<Body> {
    let mut response = Response::new(
        http_body_util::Empty::new()
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = code;
    response
}
