//! JSON request bodies for the RealWorld-shaped APIs: a body that is not
//! JSON, has a field of the wrong type or is too large is refused with the
//! field named (`{"errors":{"title":["is invalid: …"]}}`), never a bare 400.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::de::DeserializeOwned;

use crate::http::problem::RealWorldErrors;

/// `axum::Json`, with refusals in the RealWorld error shape.
pub struct JsonBody<T>(pub T);

/// Why a body was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyProblem {
    /// 413: over the service's body limit.
    TooLarge,
    /// 422: `field` is what the client must fix.
    Invalid { field: String, message: String },
}

impl IntoResponse for BodyProblem {
    fn into_response(self) -> Response {
        match self {
            Self::TooLarge => RealWorldErrors::one("body", "is too large")
                .into_response_with(StatusCode::PAYLOAD_TOO_LARGE),
            Self::Invalid { field, message } => RealWorldErrors::one(field, message)
                .into_response_with(StatusCode::UNPROCESSABLE_ENTITY),
        }
    }
}

impl BodyProblem {
    fn from_rejection(rejection: &JsonRejection) -> Self {
        let text = rejection.body_text();
        tracing::debug!(reason = %text, "request body refused");
        match rejection {
            JsonRejection::BytesRejection(_) => Self::TooLarge,
            JsonRejection::JsonDataError(_) => {
                // "…target type: article.title: invalid type: integer `5`, expected a string at line 1 column 19"
                let detail = text
                    .split_once("target type: ")
                    .map_or(text.as_str(), |(_, d)| d);
                let (field, problem) = match detail.split_once(": ") {
                    Some((path, problem)) if !path.contains(' ') => {
                        (path.rsplit('.').next().unwrap_or(path), problem)
                    }
                    _ => ("body", detail),
                };
                let problem = problem.split(" at line ").next().unwrap_or(problem);
                Self::Invalid {
                    field: field.to_owned(),
                    message: format!("is invalid: {problem}"),
                }
            }
            _ => Self::Invalid {
                field: "body".to_owned(),
                message: "is not a valid JSON request body".to_owned(),
            },
        }
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = BodyProblem;

    async fn from_request(req: Request, state: &S) -> Result<Self, BodyProblem> {
        axum::Json::<T>::from_request(req, state)
            .await
            .map(|axum::Json(value)| Self(value))
            .map_err(|rejection| BodyProblem::from_rejection(&rejection))
    }
}

/// For `Option<Option<T>>` fields: absent → `None`, `null` → `Some(None)`,
/// so an update can tell "leave it" from "clear it".
pub fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}
