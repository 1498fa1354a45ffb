//! The auth service's one error type. The RealWorld routes answer
//! `{"errors":{...}}`, the OAuth-shaped token routes RFC 6749 errors, the
//! other platform routes RFC 7807 problems. Internal causes are logged with
//! the request's span, never returned.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{HeaderValue, RETRY_AFTER};
use platform::http::problem::{Problem, RealWorldErrors};
use platform::tokens::Refusal;
use serde_json::json;

use crate::db::WriteError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 422 with the field named.
    #[error("{field} {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// 409: a unique field is already used.
    #[error("{0} has already been taken")]
    Taken(&'static str),
    /// 401: wrong email or password (never says which).
    #[error("invalid credentials")]
    Credentials,
    /// 401 or 503: the access token was refused or could not be checked.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// 429: locked out for now.
    #[error("too many attempts")]
    TooManyAttempts { retry_after_secs: u64 },
    /// RFC 6749 §5.2 error on the token endpoints.
    #[error("oauth error {error}")]
    OAuth {
        status: StatusCode,
        error: &'static str,
        description: &'static str,
    },
    /// RFC 7807 problem on platform endpoints.
    #[error("{}", .0.title)]
    Problem(Problem),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }

    pub fn invalid_grant(description: &'static str) -> Self {
        Self::OAuth {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_grant",
            description,
        }
    }

    pub fn invalid_request(description: &'static str) -> Self {
        Self::OAuth {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            description,
        }
    }

    pub fn not_found() -> Self {
        Self::Problem(Problem::new(StatusCode::NOT_FOUND, None))
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(e.into())
    }
}

impl From<WriteError> for Error {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Taken(field) => Self::Taken(field),
            WriteError::Other(e) => e.into(),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            Self::Invalid { field, message } => RealWorldErrors::one(field, message)
                .into_response_with(StatusCode::UNPROCESSABLE_ENTITY),
            Self::Taken(field) => RealWorldErrors::one(field, "has already been taken")
                .into_response_with(StatusCode::CONFLICT),
            Self::Credentials => RealWorldErrors::one("credentials", "invalid")
                .into_response_with(StatusCode::UNAUTHORIZED),
            Self::Refused(refusal) => refusal.into_response(),
            Self::TooManyAttempts { retry_after_secs } => {
                let mut response =
                    RealWorldErrors::one("credentials", "too many attempts; try again later")
                        .into_response_with(StatusCode::TOO_MANY_REQUESTS);
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
                response
            }
            Self::OAuth {
                status,
                error,
                description,
            } => (
                status,
                Json(json!({"error": error, "error_description": description})),
            )
                .into_response(),
            Self::Problem(problem) => problem.into_response(),
            Self::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "request failed");
                RealWorldErrors::one("body", "internal error")
                    .into_response_with(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
