//! The Prometheus text exposition, the same way for every component's `/metrics`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus::{Encoder, Registry, TextEncoder};

/// The text exposition of every metric in `registry`.
pub fn render(registry: &Registry) -> Result<String, prometheus::Error> {
    let mut buffer = Vec::new();
    TextEncoder::new().encode(&registry.gather(), &mut buffer)?;
    String::from_utf8(buffer).map_err(|e| prometheus::Error::Msg(e.to_string()))
}

/// `/metrics`: the exposition with its content type, or a 500 saying why it failed.
pub fn response(registry: &Registry) -> Response {
    match render(registry) {
        Ok(body) => {
            let content_type = HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
            ([(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, format!("encoding metrics failed: {error}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_registered_series_with_the_exposition_content_type() {
        let registry = Registry::new();
        let counter = prometheus::IntCounter::new("netgpt_test_total", "A test counter.").expect("valid");
        registry.register(Box::new(counter.clone())).expect("unique");
        counter.inc();
        let text = render(&registry).expect("encodes");
        assert!(text.contains("# TYPE netgpt_test_total counter\nnetgpt_test_total 1\n"), "{text}");
        let response = response(&registry);
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap_or_default()
                .starts_with("text/plain; version=0.0.4")
        );
    }
}
