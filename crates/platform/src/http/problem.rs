//! Error bodies. Platform endpoints answer RFC 7807 problem JSON; the RealWorld
//! API answers its own `{"errors":{"<field>":["<message>"]}}` shape. Both carry
//! only what the client may see: internal causes are logged by the caller.

use std::collections::BTreeMap;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{CONTENT_TYPE, HeaderValue};
use serde::Serialize;

/// RFC 7807 problem details.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request id, for answers a client may need to quote to support
    /// (it is also in the `x-request-id` header and the access log).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<Option<String>>) -> Self {
        Self {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            request_id: None,
        }
    }

    pub fn with_request_id(mut self, id: Option<&str>) -> Self {
        self.request_id = id.map(str::to_owned);
        self
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, Json(self)).into_response();
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

/// RealWorld's error body: field name → messages.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RealWorldErrors {
    pub errors: BTreeMap<String, Vec<String>>,
}

impl RealWorldErrors {
    pub fn one(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            errors: BTreeMap::from([(field.into(), vec![message.into()])]),
        }
    }

    pub fn into_response_with(self, status: StatusCode) -> Response {
        (status, Json(self)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_serializes_rfc7807_fields() {
        let p = Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Some("upstream down".to_owned()),
        );
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "about:blank");
        assert_eq!(v["status"], 503);
        assert_eq!(v["title"], "Service Unavailable");
        assert_eq!(v["detail"], "upstream down");
    }

    #[test]
    fn realworld_errors_shape() {
        let v = serde_json::to_value(RealWorldErrors::one("email", "can't be blank")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"errors": {"email": ["can't be blank"]}})
        );
    }
}
