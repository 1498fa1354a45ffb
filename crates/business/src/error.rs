//! The business service's one error type. Clients see RealWorld's
//! `{"errors":{...}}` body; internal causes go to the log with the request's
//! span, never to the client.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use platform::problem::RealWorldErrors;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(e.into())
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            Self::Internal(e) => {
                tracing::error!(error = ?e, "request failed");
                RealWorldErrors::one("body", "internal error")
                    .into_response_with(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
