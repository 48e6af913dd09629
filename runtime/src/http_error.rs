//! The error body every NetGPT HTTP component answers with, OpenAI's
//! `{"error": {"message", "type", "param", "code"}}`, so clients (the `openai` SDKs
//! included) read the server's, the gateway's and the desensitizer's errors alike.
//! Each component keeps its own error enum (its variants are its contract) and renders
//! it through [`ErrorShape`].

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// One error as clients see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorShape {
    pub status: StatusCode,
    pub message: String,
    /// OpenAI's `type`: `invalid_request_error`, `not_found_error`, `server_error` …
    pub kind: &'static str,
    /// The request field at fault, if one is.
    pub param: Option<String>,
    /// A stable machine-readable reason.
    pub code: Option<&'static str>,
    /// Seconds a client should wait before retrying (429/503).
    pub retry_after_seconds: Option<u32>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

impl ErrorShape {
    /// An error with no param, code or retry hint.
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), kind, param: None, code: None, retry_after_seconds: None }
    }

    /// The JSON body (also sent inside an SSE stream when an answer fails midway).
    pub fn body_json(&self) -> serde_json::Value {
        let body = Body {
            error: Detail { message: &self.message, kind: self.kind, param: self.param.as_deref(), code: self.code },
        };
        serde_json::to_value(body).unwrap_or(serde_json::Value::Null)
    }
}

impl IntoResponse for ErrorShape {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body_json())).into_response();
        if let Some(seconds) = self.retry_after_seconds {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6750: a 401 names the scheme the client should use.
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_openai_fields_and_headers_follow_the_status() {
        let shape = ErrorShape {
            code: Some("queue_full"),
            retry_after_seconds: Some(1),
            ..ErrorShape::new(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", "busy")
        };
        assert_eq!(
            shape.body_json(),
            serde_json::json!({"error": {"message": "busy", "type": "rate_limit_error", "param": null, "code": "queue_full"}})
        );
        let response = shape.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let unauthorized = ErrorShape::new(StatusCode::UNAUTHORIZED, "invalid_request_error", "token").into_response();
        assert_eq!(unauthorized.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }
}
