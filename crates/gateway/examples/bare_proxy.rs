//! Experiment: the floor of a hyper proxy (no features).
#![allow(clippy::unwrap_used, clippy::expect_used)]
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

fn main() {
    let mode = std::env::var("MODE").unwrap_or_default();
    if mode == "tpc" {
        let threads: Vec<_> = (0..2)
            .map(|_| {
                std::thread::spawn(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap()
                        .block_on(run(true))
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run(false));
    }
}

async fn run(reuse: bool) {
    let listen: std::net::SocketAddr = std::env::args().nth(1).unwrap().parse().unwrap();
    let upstream: String = std::env::args().nth(2).unwrap();
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<
        HttpConnector,
        http_body_util::combinators::BoxBody<bytes::Bytes, hyper::Error>,
    > = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build(connector);
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseport(reuse).unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(listen).unwrap();
    let listener = socket.listen(1024).unwrap();
    loop {
        let (tcp, _) = listener.accept().await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let client = client.clone();
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                let client = client.clone();
                let upstream = upstream.clone();
                async move {
                    let (mut parts, body) = req.into_parts();
                    parts.uri = format!("{upstream}{}", parts.uri.path_and_query().unwrap())
                        .parse()
                        .unwrap();
                    let req = http::Request::from_parts(parts, body.boxed());
                    let res = client.request(req).await.unwrap();
                    Ok::<_, hyper::Error>(res)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), svc)
                .await;
        });
    }
}
