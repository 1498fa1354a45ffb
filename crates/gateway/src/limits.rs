//! Protocol limits checked before anything else reads the request: URI
//! length (414), total header size (431), declared body size (413), and a
//! body that turns out larger than declared or allowed is cut off. A request
//! refused before its body was read has that body drained in the background
//! ([`linger`]), so the refusal reaches the client.

use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use http::StatusCode;
use http::header::{CONNECTION, CONTENT_LENGTH};
use http::request::Parts;
use http_body_util::BodyExt;
use platform::http::problem::Problem;

use crate::config::Limits;

/// Checks the head against the limits; a body of unknown length is wrapped
/// to be counted as it streams. On a refusal the caller drains the unread
/// body ([`linger`]).
// The refusal is the answer itself, moved once on the refusal path; boxing
// it would only add an allocation.
#[allow(clippy::result_large_err)]
pub fn enforce(limits: &Limits, head: &Parts, body: &mut Body) -> Result<(), Response> {
    let uri_len = head.uri.path_and_query().map_or(0, |p| p.as_str().len());
    if uri_len > limits.uri_bytes {
        return Err(Problem::new(
            StatusCode::URI_TOO_LONG,
            Some(format!("URI longer than {} bytes", limits.uri_bytes)),
        )
        .into_response());
    }
    let header_bytes: usize = head
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if header_bytes > limits.header_bytes {
        return Err(Problem::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Some(format!("headers larger than {} bytes", limits.header_bytes)),
        )
        .into_response());
    }
    let declared = head
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.body_bytes as u64) {
        let mut refusal = too_large(limits.body_bytes);
        // The client should not send its next request on this connection
        // while the rest of this body is still arriving.
        refusal
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        return Err(refusal);
    }
    // A body without a declared length is counted as it streams. An empty
    // body stays as it is: wrapped, its length would be unknown and the
    // upstream request would go out chunked.
    if declared.is_some() || http_body::Body::is_end_stream(body) {
        return Ok(());
    }
    let streaming = std::mem::take(body);
    *body = Body::new(http_body_util::Limited::new(streaming, limits.body_bytes));
    Ok(())
}

fn too_large(limit: usize) -> Response {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        Some(format!("body larger than {limit} bytes")),
    )
    .into_response()
}

/// How long a refused request's unread body is still read and thrown away.
const LINGER: Duration = Duration::from_secs(5);

/// Reads and discards a refused request's body for up to [`LINGER`] while
/// the refusal is sent. Dropping it instead makes the server close a socket
/// with unread data in it; the kernel then answers with a reset, and a
/// client still sending its body sees "connection reset" instead of the
/// 413 or 429 (nginx's `lingering_close` exists for the same reason).
pub fn linger(body: Body) {
    if http_body::Body::is_end_stream(&body) {
        return;
    }
    tokio::spawn(async move {
        let mut body = body;
        let _ = tokio::time::timeout(LINGER, async {
            while let Some(Ok(_)) = body.frame().await {}
        })
        .await;
    });
}
