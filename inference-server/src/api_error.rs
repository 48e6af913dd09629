//! Errors of the HTTP API, rendered as OpenAI's `{"error": {message, type, param, code}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use netgpt_runtime::ErrorShape;

use crate::lora::{AdminError, LoraError, RegistryError};

/// Seconds a client is told to wait after a 429.
const RETRY_AFTER_SECONDS: u32 = 1;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid JSON body: {0}")]
    InvalidJson(String),
    #[error("{message}")]
    InvalidParameter { param: &'static str, message: String },
    #[error("the model `{0}` does not exist")]
    ModelNotFound(String),
    #[error(
        "this model's maximum context length is {context_length} tokens; the request has {prompt_tokens} prompt tokens{detail}"
    )]
    ContextLengthExceeded { context_length: usize, prompt_tokens: usize, detail: String },
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the server is busy ({0}); retry later")]
    Overloaded(String),
    #[error("the model is still loading")]
    NotReady,
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("no route for {0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("generation failed: {0}")]
    Internal(String),
    #[error("{0}")]
    Adapter(#[from] RegistryError),
    #[error("{0}")]
    Admin(#[from] AdminError),
    /// `--api-key` is set and the request did not carry it.
    #[error("{0}")]
    ApiKey(AdminError),
}

impl ApiError {
    /// HTTP status of the error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidJson(_) | Self::InvalidParameter { .. } | Self::ContextLengthExceeded { .. } => {
                StatusCode::BAD_REQUEST
            }
            Self::ModelNotFound(_) | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Overloaded(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::NotReady | Self::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Adapter(error) => match error {
                RegistryError::NotReady => StatusCode::SERVICE_UNAVAILABLE,
                RegistryError::LoadingDisabled => StatusCode::FORBIDDEN,
                RegistryError::NotFound(_) => StatusCode::NOT_FOUND,
                RegistryError::BaseName(_)
                | RegistryError::Exists(_)
                | RegistryError::Managed(_)
                | RegistryError::TooMany { .. } => StatusCode::CONFLICT,
                RegistryError::TooLarge { .. } | RegistryError::Load { source: LoraError::TooLarge { .. }, .. } => {
                    StatusCode::PAYLOAD_TOO_LARGE
                }
                _ => StatusCode::BAD_REQUEST,
            },
            Self::ApiKey(_) => StatusCode::UNAUTHORIZED,
            Self::Admin(error) => match error {
                AdminError::MissingToken | AdminError::WrongToken => StatusCode::UNAUTHORIZED,
                AdminError::NotLoopback => StatusCode::FORBIDDEN,
                AdminError::EmptyToken => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::ModelNotFound(_) | Self::NotFound(_) => "not_found_error",
            Self::Overloaded(_) => "rate_limit_error",
            Self::NotReady | Self::ShuttingDown | Self::Adapter(RegistryError::NotReady) => "unavailable_error",
            Self::Internal(_) => "server_error",
            Self::Adapter(RegistryError::NotFound(_)) => "not_found_error",
            Self::Adapter(RegistryError::LoadingDisabled) | Self::Admin(AdminError::NotLoopback) => "permission_error",
            _ => "invalid_request_error",
        }
    }

    fn param(&self) -> Option<&'static str> {
        match self {
            Self::InvalidParameter { param, .. } => Some(param),
            Self::ModelNotFound(_) => Some("model"),
            Self::ContextLengthExceeded { .. } => Some("messages"),
            Self::Adapter(
                RegistryError::InvalidName(_)
                | RegistryError::BaseName(_)
                | RegistryError::Exists(_)
                | RegistryError::Managed(_),
            ) => Some("name"),
            Self::Adapter(RegistryError::OutsideRoot(_) | RegistryError::Load { .. }) => Some("path"),
            _ => None,
        }
    }

    fn code(&self) -> Option<&'static str> {
        Some(match self {
            Self::InvalidJson(_) => "invalid_json",
            Self::InvalidParameter { .. } => "invalid_value",
            Self::ModelNotFound(_) => "model_not_found",
            Self::ContextLengthExceeded { .. } => "context_length_exceeded",
            Self::PayloadTooLarge { .. } => "request_too_large",
            Self::Overloaded(_) => "queue_full",
            Self::NotReady => "model_loading",
            Self::ShuttingDown => "shutting_down",
            Self::NotFound(_) => "route_not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Internal(_) => "internal_error",
            Self::Adapter(error) => match error {
                RegistryError::NotReady => "model_loading",
                RegistryError::Unsupported(_) => "adapters_unsupported",
                RegistryError::InvalidName(_) => "invalid_value",
                RegistryError::BaseName(_) | RegistryError::Exists(_) => "adapter_exists",
                RegistryError::NotFound(_) => "adapter_not_found",
                RegistryError::Managed(_) => "adapter_managed_by_config",
                RegistryError::LoadingDisabled => "adapter_loading_disabled",
                RegistryError::OutsideRoot(_) => "adapter_path_forbidden",
                RegistryError::TooMany { .. } => "adapter_limit_reached",
                RegistryError::TooLarge { .. } => "adapter_too_large",
                RegistryError::Load { source: LoraError::TooLarge { .. }, .. } => "adapter_too_large",
                RegistryError::Load { .. } => "invalid_adapter",
            },
            Self::ApiKey(_) => "invalid_api_key",
            Self::Admin(error) => match error {
                AdminError::MissingToken => "missing_admin_token",
                AdminError::WrongToken => "invalid_admin_token",
                AdminError::NotLoopback => "admin_loopback_only",
                AdminError::EmptyToken => "internal_error",
            },
        })
    }

    /// Shorthand for a 400 naming the offending field.
    pub fn invalid(param: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidParameter { param, message: message.into() }
    }

    /// The error as clients see it (the body every NetGPT component answers with).
    pub fn shape(&self) -> ErrorShape {
        let retry = matches!(
            self,
            Self::Overloaded(_) | Self::NotReady | Self::ShuttingDown | Self::Adapter(RegistryError::NotReady)
        );
        ErrorShape {
            param: self.param().map(str::to_string),
            code: self.code(),
            retry_after_seconds: retry.then_some(RETRY_AFTER_SECONDS),
            ..ErrorShape::new(self.status(), self.kind(), self.to_string())
        }
    }

    /// The JSON body (also used inside an SSE stream when generation fails midway).
    pub fn body_json(&self) -> serde_json::Value {
        self.shape().body_json()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.shape().into_response()
    }
}
