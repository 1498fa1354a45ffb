//! The business service's one error type. Clients see RealWorld's
//! `{"errors":{"<field>":["<message>"]}}` body; internal causes go to the log
//! with the request's span, never to the client.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use platform::http::problem::RealWorldErrors;
use platform::tokens::Refusal;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 401 or 503: the access token was refused or could not be checked.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// 422 with the field named.
    #[error("{field} {message}")]
    Invalid { field: String, message: String },
    /// 404: `{"errors":{"<what>":["not found"]}}`.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 403: only the owner may do this.
    #[error("{0} forbidden")]
    Forbidden(&'static str),
    /// 409: the article changed between read and write.
    #[error("{0} modified concurrently")]
    Conflict(&'static str),
    /// 503: a dependency (auth) is unavailable and nothing cached can stand in.
    #[error("{0} unavailable")]
    Unavailable(&'static str),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(e.into())
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound("article"),
            StoreError::Conflict => Self::Conflict("article"),
            StoreError::Duplicate => Self::Internal(anyhow::anyhow!("unexpected duplicate key")),
            StoreError::Other(e) => Self::Internal(e),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, field, message) = match &self {
            Self::Refused(refusal) => return refusal.clone().into_response(),
            Self::Invalid { field, message } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                field.as_str(),
                message.clone(),
            ),
            Self::NotFound(what) => (StatusCode::NOT_FOUND, *what, "not found".to_owned()),
            Self::Forbidden(what) => (StatusCode::FORBIDDEN, *what, "forbidden".to_owned()),
            Self::Conflict(what) => (
                StatusCode::CONFLICT,
                *what,
                "was modified concurrently; reload and retry".to_owned(),
            ),
            Self::Unavailable(what) => (
                StatusCode::SERVICE_UNAVAILABLE,
                *what,
                "temporarily unavailable".to_owned(),
            ),
            Self::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "body",
                    "internal error".to_owned(),
                )
            }
        };
        RealWorldErrors::one(field, message).into_response_with(status)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
