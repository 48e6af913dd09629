//! The `intentInference` step: the edge model fills the workflow's intent schema from the
//! prompt under constrained decoding (`response_format: json_schema`, so the result always
//! validates), as the paper's network-intent example turns "10 Gbps from Access 1 to
//! Cloud 2 with protection" into bandwidth, endpoints and protection. Shared by the
//! gateway and the `intent_eval` example, so what is measured is what runs.

use std::time::Duration;

use netgpt_crds::IntentSpec;
use serde_json::{Value, json};

/// Tokens an intent may take: a filled schema of a dozen fields is well under this.
pub const INTENT_TOKENS: u64 = 256;

/// The chat request that asks `model` for the intent in `text`.
pub fn intent_request(model: &str, intent: &IntentSpec, text: &str) -> Value {
    let mut system = String::from(
        "Extract the user's request as a JSON object that follows the schema. Use only what the \
         request says; where it says nothing about a field, use the schema's default or leave the \
         field out if it is optional.",
    );
    if let Some(instructions) = &intent.instructions {
        system.push('\n');
        system.push_str(instructions);
    }
    system.push_str("\nSchema: ");
    system.push_str(&intent.schema.to_string());
    json!({
        "model": model,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": text}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "intent", "strict": true, "schema": intent.schema}},
        "temperature": 0.0,
        "max_tokens": INTENT_TOKENS,
        "logprobs": true,
    })
}

/// Reads the model's answer as the intent.
pub fn parse_intent(text: &str, finish_reason: &str) -> Result<Value, String> {
    if finish_reason == "length" {
        return Err(format!("the intent did not fit in {INTENT_TOKENS} tokens"));
    }
    serde_json::from_str(text).map_err(|e| format!("the intent is not JSON: {e}"))
}

/// Posts an inferred intent to its webhook (the network controller); `Err` says why not.
pub async fn post_webhook(http: &reqwest::Client, url: &str, payload: &Value) -> Result<(), String> {
    let response = http
        .post(url)
        .json(payload)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| format!("webhook unreachable: {e}"))?;
    if response.status().is_success() { Ok(()) } else { Err(format!("webhook answered {}", response.status())) }
}
