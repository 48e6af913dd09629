//! A small OpenAI chat-completions client (the teacher, and the models under evaluation),
//! plus a local server on the default model for when no endpoint is given.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::TrainError;

/// One OpenAI-compatible endpoint and the model asked there.
#[derive(Debug, Clone)]
pub struct ChatClient {
    http: reqwest::Client,
    /// Base URL up to and including `/v1`.
    pub base_url: String,
    pub api_key: Option<String>,
}

impl ChatClient {
    pub fn new(base_url: &str, api_key: Option<String>) -> Result<Self, TrainError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| TrainError::Config(format!("HTTP client: {e}")))?;
        Ok(Self { http, base_url: base_url.trim_end_matches('/').to_string(), api_key })
    }

    /// The assistant's text for `messages` (sampling parameters in `extra`).
    pub async fn chat(&self, model: &str, messages: &[Value], extra: Value) -> Result<String, TrainError> {
        let mut body = json!({"model": model, "messages": messages});
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        let mut request = self.http.post(format!("{}/chat/completions", self.base_url)).json(&body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| TrainError::Teacher(format!("{}: {e}", self.base_url)))?;
        let status = response.status();
        let value: Value = response.json().await.map_err(|e| TrainError::Teacher(format!("{}: {e}", self.base_url)))?;
        if !status.is_success() {
            return Err(TrainError::Teacher(format!(
                "{}: HTTP {status}: {}",
                self.base_url, value["error"]["message"]
            )));
        }
        value["choices"][0]["message"]["content"].as_str().map(str::to_string).ok_or_else(|| {
            TrainError::Teacher(format!("{}: no choices[0].message.content in the answer", self.base_url))
        })
    }
}

/// A model server started in this process (the default model, optionally with adapters).
pub struct LocalServer {
    pub server: netgpt_inference::RunningServer,
    pub model_name: String,
}

impl LocalServer {
    /// Serves `model` (default: the cached SmolLM2) with `adapters` on a loopback port.
    pub async fn start(
        model: Option<PathBuf>,
        adapters: Vec<(String, PathBuf)>,
        concurrency: usize,
    ) -> Result<Self, TrainError> {
        let model = crate::base_model_path(model.as_deref())?;
        let mut settings = netgpt_inference::ServerSettings::for_model(model);
        settings.adapters = adapters;
        settings.max_running = concurrency.max(1);
        settings.max_queued = 1024;
        let model_name = settings.model_name.clone();
        let mut server = netgpt_inference::start(settings).await.map_err(|e| TrainError::Base(e.to_string()))?;
        server.wait_loaded().await.map_err(|e| TrainError::Base(e.to_string()))?;
        Ok(Self { server, model_name })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.server.addr)
    }
}
