//! Request bodies of `POST /v1/chat/completions` and `POST /v1/completions`, handled as
//! the HTTP handlers do up to the model: `serde_json::from_slice` into the request type
//! (`parse_body`), the model-independent checks, prompt rendering with each chat
//! template, the token budget and the error response. The same bytes also go through the
//! desensitizer sidecar's request walk, which parses the bodies as JSON values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netgpt_inference::chat_template::ChatTemplate;
use netgpt_desensitizer::Desensitizer;
use netgpt_inference::http::{
    Generation, SinglePrompt, check_chat_request, check_completion_request, completion_budget,
};
use netgpt_inference::openai::{ChatCompletionRequest, CompletionRequest};

const SMOLLM2_TEMPLATE: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
const LLAMA3_TEMPLATE: &str = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

fn check_budget(generation: &Generation, prompt_tokens: usize) {
    for (context_length, max_new_tokens) in [(64, None), (8192, Some(512)), (usize::MAX, None), (1, Some(0))] {
        if let Ok(budget) = completion_budget(context_length, prompt_tokens, max_new_tokens, generation, "prompt") {
            assert!(prompt_tokens > 0 && prompt_tokens < context_length);
            assert!(budget <= context_length - prompt_tokens, "budget {budget} overruns the context");
            assert!(max_new_tokens.is_none_or(|limit| budget <= limit));
        }
    }
}

fn sampling_ok(generation: &Generation) {
    let s = &generation.sampling;
    assert!((0.0..=2.0).contains(&s.temperature));
    assert!(s.top_p > 0.0 && s.top_p <= 1.0);
    assert!(s.repetition_penalty > 0.0 && s.repetition_penalty.is_finite());
    assert!(generation.stop.len() <= 4);
    assert!(generation.max_tokens >= 1);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = serde_json::from_slice::<ChatCompletionRequest>(data) {
        match check_chat_request(&request) {
            Ok((generation, messages)) => {
                sampling_ok(&generation);
                assert_eq!(messages.len(), request.messages.len());
                for source in [None, Some(SMOLLM2_TEMPLATE), Some(LLAMA3_TEMPLATE)] {
                    let template = ChatTemplate::new(source, Some("<s>"), Some("</s>")).expect("compiles");
                    // Message text never reaches the template's own text.
                    if let Ok(prompt) = template.render(&messages) {
                        check_budget(&generation, prompt.len());
                    }
                }
            }
            Err(error) => {
                let _ = error.body_json();
            }
        }
    }
    if let Ok(request) = serde_json::from_slice::<CompletionRequest>(data) {
        match check_completion_request(&request) {
            Ok((generation, prompt)) => {
                sampling_ok(&generation);
                let tokens = match prompt {
                    SinglePrompt::Text(text) => text.len(),
                    SinglePrompt::Tokens(ids) => ids.len(),
                };
                check_budget(&generation, tokens);
            }
            Err(error) => {
                let _ = error.body_json();
            }
        }
    }
    if let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) {
        let desensitizer = Desensitizer::new(Default::default());
        let _ = desensitizer.desensitize_chat(&mut body.clone());
        let _ = desensitizer.desensitize_completion(&mut body.clone());
    }
});
