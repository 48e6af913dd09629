//! Errors of the sidecar, rendered as OpenAI's `{"error": {message, type, param, code}}`.
//! Messages never quote request text: they name fields and types only.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use netgpt_runtime::ErrorShape;

/// Why a request was not forwarded (or its answer not returned).
#[derive(Debug, thiserror::Error)]
pub enum DesensitizeError {
    #[error("request body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("invalid request: {message}")]
    InvalidRequest { param: String, message: String },
    /// Content the desensitizer cannot inspect (images, audio, token ids): fail closed.
    #[error("{param} cannot be desensitized ({what}); the request was not forwarded")]
    Unsupported { param: String, what: String },
    #[error("the cloud model is unreachable: {0}")]
    UpstreamUnavailable(String),
    #[error("the cloud model did not answer within {0:?}")]
    UpstreamTimeout(std::time::Duration),
    #[error("the cloud model's answer failed midway: {0}")]
    UpstreamBroken(String),
    #[error("no route for {0}")]
    NotFound(String),
    /// More candidate entities than one request may carry (bounded work per request).
    #[error("the request holds more than {limit} candidate entities in one text; it was not forwarded")]
    TooManyEntities { limit: usize },
    /// More text than the learned detector may read for one request (its cost is per
    /// token): refused rather than forwarded half-inspected.
    #[error("the request holds more text than the learned PII detector reads per request; it was not forwarded")]
    TooLongForLearnedDetection,
    /// Every detection slot is busy and the queue is full: shed load instead of queueing
    /// without bound.
    #[error("the desensitizer is overloaded; retry later")]
    Overloaded,
    /// Detection itself failed (a bug): fail closed, nothing is forwarded.
    #[error("desensitization failed; the request was not forwarded")]
    DetectionFailed,
}

impl DesensitizeError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidJson(_) | Self::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unsupported { .. } | Self::TooManyEntities { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Self::PayloadTooLarge { .. } | Self::TooLongForLearnedDetection => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UpstreamUnavailable(_) | Self::UpstreamBroken(_) => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::DetectionFailed => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The bounded-cardinality reason used in `netgpt_desensitizer_blocked_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidJson(_) => "invalid_json",
            Self::PayloadTooLarge { .. } => "too_large",
            Self::InvalidRequest { .. } => "invalid_request",
            Self::Unsupported { .. } => "unsupported_content",
            Self::TooManyEntities { .. } => "too_many_entities",
            Self::TooLongForLearnedDetection => "too_long_for_learned_detection",
            Self::Overloaded => "overloaded",
            Self::UpstreamUnavailable(_) => "upstream_unavailable",
            Self::UpstreamTimeout(_) => "upstream_timeout",
            Self::UpstreamBroken(_) => "upstream_broken",
            Self::NotFound(_) => "not_found",
            Self::DetectionFailed => "detection_failed",
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::UpstreamUnavailable(_) | Self::UpstreamTimeout(_) | Self::UpstreamBroken(_) => "upstream_error",
            Self::NotFound(_) => "not_found_error",
            Self::DetectionFailed | Self::Overloaded => "server_error",
            _ => "invalid_request_error",
        }
    }

    fn param(&self) -> Option<&str> {
        match self {
            Self::InvalidRequest { param, .. } | Self::Unsupported { param, .. } => Some(param),
            _ => None,
        }
    }

    pub(crate) fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidRequest { param: param.into(), message: message.into() }
    }

    /// The error as clients see it (the body every NetGPT component answers with).
    pub fn shape(&self) -> ErrorShape {
        ErrorShape {
            param: self.param().map(str::to_string),
            code: Some(self.reason()),
            retry_after_seconds: matches!(self, Self::Overloaded).then_some(1),
            ..ErrorShape::new(self.status(), self.kind(), self.to_string())
        }
    }

    /// The OpenAI-style JSON body.
    pub fn body_json(&self) -> serde_json::Value {
        self.shape().body_json()
    }
}

impl IntoResponse for DesensitizeError {
    fn into_response(self) -> Response {
        self.shape().into_response()
    }
}
