//! JSON bodies whose syntax errors and size overruns answer in the RealWorld
//! error shape, naming the problem.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::error::Error;

pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(JsonRejection::BytesRejection(_)) => Err(Error::TooLarge),
            Err(JsonRejection::JsonDataError(e)) => {
                // "…target type: article.title: invalid type: integer `5`, expected a string at …"
                let text = e.body_text();
                tracing::debug!(reason = %text, "request body refused");
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
                Err(Error::invalid(
                    field.to_owned(),
                    format!("is invalid: {problem}"),
                ))
            }
            Err(rejection) => {
                tracing::debug!(reason = %rejection.body_text(), "request body refused");
                Err(Error::invalid("body", "is not a valid JSON request body"))
            }
        }
    }
}

/// For `Option<Option<T>>` fields: absent → `None`, `null` → `Some(None)`.
pub fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}
