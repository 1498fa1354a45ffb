//! Protocol limits checked before anything else reads the request: URI
//! length (414), total header size (431), declared body size (413), and a
//! body that turns out larger than declared or allowed is cut off.

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::CONTENT_LENGTH;
use platform::problem::Problem;

use crate::config::Limits;

// The request goes on or a response comes back: both are HTTP messages of
// the same size, moved once per request; boxing one would only add an allocation.
#[allow(clippy::result_large_err)]
pub fn enforce(limits: &Limits, request: Request) -> Result<Request, Response> {
    let uri_len = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if uri_len > limits.uri_bytes {
        return Err(Problem::new(
            StatusCode::URI_TOO_LONG,
            Some(format!("URI longer than {} bytes", limits.uri_bytes)),
        )
        .into_response());
    }
    let header_bytes: usize = request
        .headers()
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
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.body_bytes as u64) {
        return Err(too_large(limits.body_bytes));
    }
    // A body without a declared length is counted as it streams. An empty
    // body stays as it is: wrapped, its length would be unknown and the
    // upstream request would go out chunked.
    if declared.is_some() || http_body::Body::is_end_stream(request.body()) {
        return Ok(request);
    }
    let (parts, body) = request.into_parts();
    let body = Body::new(http_body_util::Limited::new(body, limits.body_bytes));
    Ok(Request::from_parts(parts, body))
}

fn too_large(limit: usize) -> Response {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        Some(format!("body larger than {limit} bytes")),
    )
    .into_response()
}
