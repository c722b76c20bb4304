//! Reading requests: bodies, path parameters and times, each refused with a message that
//! names what is wrong.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use rota_model::AppKey;

use crate::context::Context;
use crate::error::{ApiError, ErrorCode};

/// A JSON body of type `T`; an empty body reads as `{}`.
pub(crate) struct JsonBody<T>(pub T);

/// The raw bytes of a body, within the size limit.
pub(crate) async fn read_body(req: Request, ctx: &Context) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, ctx).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorCode::BodyTooLarge,
                format!(
                    "the request body is larger than {} bytes",
                    ctx.config.max_body
                ),
            )
        } else {
            ApiError::new(
                ErrorCode::InvalidRequest,
                format!("cannot read the request body: {rejection}"),
            )
        }
    })
}

impl<T: DeserializeOwned> FromRequest<Context> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, ctx: &Context) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, ctx).await?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let message = if path == "." {
                format!("the body is not valid JSON for this request: {inner}")
            } else {
                format!("field `{path}`: {inner}")
            };
            ApiError::new(ErrorCode::BadJson, message)
        })?;
        Ok(JsonBody(value))
    }
}

/// Parses a `name:queue` path segment.
pub(crate) fn parse_app_key(text: &str) -> Result<AppKey, ApiError> {
    text.parse()
        .map_err(|e: rota_model::IdError| ApiError::new(ErrorCode::InvalidRequest, e.to_string()))
}

/// Parses a user time in the server's zone.
pub(crate) fn parse_time(
    ctx: &Context,
    field: &str,
    text: &str,
) -> Result<jiff::Timestamp, ApiError> {
    rota_model::timefmt::parse_time(text, &ctx.config.time_zone)
        .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, format!("`{field}`: {e}")))
}

/// A query string of type `T`, refused as JSON errors.
pub(crate) struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| QueryParams(q.0))
            .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, e.body_text()))
    }
}
