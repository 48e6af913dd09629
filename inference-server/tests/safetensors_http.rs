//! Safetensors checkpoints (the tiny GPT-2 and LLaMA fixtures) served over the HTTP API.

mod common;

use std::path::PathBuf;

use common::{client, spawn_server, url};
use netgpt_inference::model::log_softmax;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Reference {
    prompt: String,
    logits: Vec<Vec<f32>>,
}

/// Serves the fixture `name` and checks the first greedy token's logprob against
/// transformers' logits.
async fn serves_completions_with_reference_logprobs(name: &str, context_length: u64) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    let reference: Reference =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference_logits.json")).expect("reference"))
            .expect("reference JSON");
    let served_name = name.to_string();
    let addr = spawn_server(|settings| {
        *settings = netgpt_inference::ServerSettings::for_model(dir.clone());
        settings.model_name = served_name;
    });

    let response = client()
        .post(url(addr, "/v1/completions"))
        .json(&json!({
            "model": name,
            "prompt": reference.prompt,
            "temperature": 0,
            "max_tokens": 5,
            "logprobs": 1,
        }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    // The first generated token is transformers' argmax after the prompt, with the
    // same log-probability.
    let last = reference.logits.last().expect("logits");
    let expected = log_softmax(last);
    let best = expected.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let actual = body["choices"][0]["logprobs"]["token_logprobs"][0].as_f64().expect("first logprob") as f32;
    assert!((actual - best).abs() < 1e-4, "{actual} vs {best}: {body}");

    let models: Value = client().get(url(addr, "/v1/models")).send().await.expect("models").json().await.expect("JSON");
    assert_eq!(models["data"][0]["id"], name);
    assert_eq!(models["data"][0]["max_model_len"], context_length);

    let chat = client()
        .post(url(addr, "/v1/chat/completions"))
        .json(&json!({"messages": [{"role": "user", "content": "hello"}], "max_tokens": 3}))
        .send()
        .await
        .expect("chat request");
    assert_eq!(chat.status(), 200);
}

#[tokio::test]
async fn tiny_gpt2_serves_completions_with_reference_logprobs() {
    serves_completions_with_reference_logprobs("tiny-gpt2", 64).await;
}

#[tokio::test]
async fn tiny_llama_safetensors_serves_completions_with_reference_logprobs() {
    serves_completions_with_reference_logprobs("tiny-llama", 64).await;
}
