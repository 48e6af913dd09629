//! Leak hunting through the real desensitizer sidecar: every place of an OpenAI request
//! where personal data can hide (object keys, numbers, schemas, tool definitions, `stop`,
//! `prediction`, `user`, `metadata`, values split across content parts, Unicode
//! disguises, the legacy completions API), sent over real HTTP on 127.0.0.1 to a sidecar
//! started in-process, in front of an upstream that records the exact bytes it receives.
//!
//! Every test checks the recorded bytes with [`assert_absent`] (the value, and its
//! letters/digits folded to ASCII with all separators stripped, must not be there), and
//! also with [`assert_arrived`] that the non-personal parts of the same request did reach
//! the upstream unchanged, so an empty or mangled upstream body cannot pass. Requests the
//! sidecar cannot inspect must be refused with a 4xx OpenAI-style error and never reach
//! the upstream. Rule detectors only (no learned model).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use netgpt_crds::workflow::{DesensitizationPolicy, DesensitizeAction};
use netgpt_desensitizer::proxy::{SidecarSettings, start};
use netgpt_testenv::recording::{Recorder, answer_text, recording_upstream};
use serde_json::{Value, json};

/// A recording upstream and, in front of it, the real sidecar (default policy:
/// pseudonymize every entity type, restore in answers; rule detectors only).
async fn harness() -> (SocketAddr, Recorder) {
    let (upstream, recorder) = recording_upstream().await;
    let mut settings = SidecarSettings::new(format!("http://{upstream}"), DesensitizationPolicy::default());
    settings.listen = "127.0.0.1:0".parse().expect("addr");
    assert!(settings.pii_model.is_none(), "rule detectors only");
    (start(settings).await.expect("sidecar starts").addr, recorder)
}

async fn post_json(addr: SocketAddr, path: &str, body: &Value) -> (u16, String) {
    let response =
        reqwest::Client::new().post(format!("http://{addr}{path}")).json(body).send().await.expect("sidecar answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// Sends `body` and expects it forwarded: returns the bytes the upstream recorded for it.
async fn forwarded(addr: SocketAddr, recorder: &Recorder, path: &str, body: &Value) -> String {
    let before = recorder.count();
    let (status, answer) = post_json(addr, path, body).await;
    assert_eq!(status, 200, "request was not forwarded: {answer}\nrequest: {body}");
    assert_eq!(recorder.count(), before + 1, "forwarded exactly once");
    recorder.last()
}

// ---------------------------------------------------------------------------------------
// Leak checks.
// ---------------------------------------------------------------------------------------

/// One character of the comparison skeleton: decimal digits of any script and full-width
/// forms folded to ASCII, letters lowercased, everything else (spaces of every kind,
/// zero-width and format characters, dashes, dots, `@`, brackets, quotes, JSON escapes)
/// dropped.
fn fold_char(c: char) -> Option<char> {
    // The zero of each run of ten decimal digits outside ASCII tested here and around.
    const ZEROS: &[u32] = &[
        0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66, 0x0DE6, 0x0E50,
        0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0xFF10, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1FBF0,
    ];
    let code = c as u32;
    if let Some(&zero) = ZEROS.iter().find(|&&z| (z..z + 10).contains(&code)) {
        return Some(char::from(b'0' + (code - zero) as u8));
    }
    // Full-width ASCII (U+FF01..U+FF5E) to ASCII.
    let c = if (0xFF01..=0xFF5E).contains(&code) { char::from_u32(code - 0xFEE0).unwrap_or(c) } else { c };
    c.is_ascii_alphanumeric().then(|| c.to_ascii_lowercase())
}

fn skeleton(s: &str) -> String {
    s.chars().filter_map(fold_char).collect()
}

/// Every key, string and number of a JSON document (strings that are JSON themselves,
/// like tool-call arguments, decoded too), one per line: what JSON escapes might hide
/// from a byte search.
fn decoded_text(raw: &str) -> String {
    fn collect(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) => {
                out.push(s.clone());
                if let Ok(inner @ (Value::Object(_) | Value::Array(_))) = serde_json::from_str::<Value>(s) {
                    collect(&inner, out);
                }
            }
            Value::Number(n) => out.push(n.to_string()),
            Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
            Value::Object(map) => {
                for (k, v) in map {
                    out.push(k.clone());
                    collect(v, out);
                }
            }
            Value::Bool(_) | Value::Null => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(value) = serde_json::from_str::<Value>(raw) {
        collect(&value, &mut out);
    }
    out.join("\n")
}

/// Fails when any of `needle_variants` reached the upstream: verbatim in the bytes, in the
/// JSON-decoded strings/keys/numbers, or — with digits of any script and full-width forms
/// folded to ASCII, letters lowercased and every separator, space and zero-width
/// character stripped on both sides — in the skeleton of either (so "4111 1111 1111 1111"
/// is also caught as "4111111111111111", "４１１１-１１１１…", "4111\u{a0}1111…").
fn assert_absent(recorded: &str, needle_variants: &[&str]) {
    assert!(!recorded.is_empty(), "nothing was recorded: a leak check needs a forwarded request");
    let decoded = decoded_text(recorded);
    let skeletons = [skeleton(recorded), skeleton(&decoded)];
    for needle in needle_variants {
        assert!(
            !recorded.contains(needle) && !decoded.contains(needle),
            "LEAK: {needle:?} reached the upstream verbatim:\n{recorded}"
        );
        let folded = skeleton(needle);
        // Short skeletons would match unrelated text; the tests pass long values.
        if folded.len() >= 6 {
            for view in &skeletons {
                assert!(
                    !view.contains(&folded),
                    "LEAK: {needle:?} reached the upstream in disguise (skeleton {folded:?}):\n{recorded}"
                );
            }
        }
    }
}

/// Positive control: these non-personal parts of the request reached the upstream
/// unchanged (in the raw bytes or, for text with JSON escapes, in the decoded strings).
fn assert_arrived(recorded: &str, expected: &[&str]) {
    let decoded = decoded_text(recorded);
    for text in expected {
        assert!(
            recorded.contains(text) || decoded.contains(text),
            "control text {text:?} did not reach the upstream unchanged:\n{recorded}"
        );
    }
}

/// A placeholder of the given label (`EMAIL`, `PHONE`, `CREDIT_CARD`) was sent.
fn assert_placeholder(recorded: &str, label: &str) {
    assert!(recorded.contains(&format!("[{label}_")), "no [{label}_n] placeholder was sent:\n{recorded}");
}

// ---------------------------------------------------------------------------------------
// JSON keys and numbers.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn pii_in_json_keys_never_arrives() {
    let (addr, recorder) = harness().await;
    let request = json!({
        "model": "cloud",
        "messages": [{"role": "user", "content": "look up the order please"}],
        "tools": [{"type": "function", "function": {
            "name": "lookup_order",
            "description": "find an order by its id",
            "parameters": {
                "type": "object",
                "properties": {
                    "john.doe@example.com": {"type": "string"},
                    "order_id": {"type": "string", "description": "the order number"}
                },
                "required": ["order_id"]
            }
        }}],
        "metadata": {"13812345678": "vip customer", "channel": "web"}
    });
    let sent = forwarded(addr, &recorder, "/v1/chat/completions", &request).await;
    assert_absent(&sent, &["john.doe@example.com", "13812345678"]);
    assert_placeholder(&sent, "EMAIL");
    assert_placeholder(&sent, "PHONE");
    assert_arrived(
        &sent,
        &[
            "look up the order please",
            "\"lookup_order\"",
            "\"find an order by its id\"",
            "\"order_id\"",
            "\"the order number\"",
            "\"vip customer\"",
            "\"channel\":\"web\"",
        ],
    );
    // The schema is still a schema: the personal property name became a placeholder key.
    let sent: Value = serde_json::from_str(&sent).expect("forwarded JSON");
    let properties = sent["tools"][0]["function"]["parameters"]["properties"].as_object().expect("properties");
    assert_eq!(properties.len(), 2, "{properties:?}");
    assert!(properties.keys().any(|k| k.starts_with("[EMAIL_")), "{properties:?}");
    assert!(sent["metadata"].as_object().expect("metadata").keys().any(|k| k.starts_with("[PHONE_")));
}

#[tokio::test]
async fn numbers_in_tool_call_arguments_never_arrive() {
    let (addr, recorder) = harness().await;
    let request = json!({
        "model": "cloud",
        "messages": [
            {"role": "user", "content": "please ship the parcel"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_ship", "type": "function", "function": {
                "name": "ship_parcel",
                "arguments": "{\"phone\": 13812345678, \"card\": 4111111111111111, \"quantity\": 3}"
            }}]},
            {"role": "tool", "tool_call_id": "call_ship", "content": "shipped"}
        ]
    });
    let sent = forwarded(addr, &recorder, "/v1/chat/completions", &request).await;
    assert_absent(&sent, &["13812345678", "4111111111111111"]);
    assert_placeholder(&sent, "PHONE");
    assert_placeholder(&sent, "CREDIT_CARD");
    assert_arrived(&sent, &["please ship the parcel", "\"ship_parcel\"", "\"call_ship\"", "\"shipped\""]);
    // The arguments are still JSON; the non-personal number is still a number.
    let sent: Value = serde_json::from_str(&sent).expect("forwarded JSON");
    let arguments = sent["messages"][1]["tool_calls"][0]["function"]["arguments"].as_str().expect("arguments string");
    let arguments: Value = serde_json::from_str(arguments).expect("arguments stay JSON");
    assert_eq!(arguments["quantity"], 3, "{arguments}");
    assert!(arguments["phone"].as_str().is_some_and(|s| s.starts_with("[PHONE_")), "{arguments}");
    assert!(arguments["card"].as_str().is_some_and(|s| s.starts_with("[CREDIT_CARD_")), "{arguments}");
}

// ---------------------------------------------------------------------------------------
// Schemas and tool definitions.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn response_format_json_schema_is_scanned() {
    let (addr, recorder) = harness().await;
    let request = json!({
        "model": "cloud",
        "messages": [{"role": "user", "content": "fill in the contact card"}],
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "contact_card",
            "description": "a card for mary.major@example.org and her team",
            "strict": true,
            "schema": {
                "type": "object",
                "properties": {
                    "email": {
                        "type": "string",
                        "description": "write to ops.lead@example.net when unsure",
                        "enum": ["kim.lee@example.org", "helpdesk"],
                        "default": "+86 139 1234 5678"
                    },
                    "card": {
                        "type": "string",
                        "examples": ["4111 1111 1111 1111", 13812345678_u64, "mary.major@example.org"]
                    }
                },
                "required": ["email"]
            }
        }}
    });
    let sent = forwarded(addr, &recorder, "/v1/chat/completions", &request).await;
    assert_absent(
        &sent,
        &[
            "mary.major@example.org",
            "ops.lead@example.net",
            "kim.lee@example.org",
            "+86 139 1234 5678",
            "13912345678",
            "4111 1111 1111 1111",
            "13812345678",
        ],
    );
    assert_placeholder(&sent, "EMAIL");
    assert_placeholder(&sent, "PHONE");
    assert_placeholder(&sent, "CREDIT_CARD");
    assert_arrived(
        &sent,
        &[
            "fill in the contact card",
            "\"contact_card\"",
            "a card for ",
            " and her team",
            "write to ",
            " when unsure",
            "\"helpdesk\"",
            "\"strict\":true",
        ],
    );
}

#[tokio::test]
async fn tool_and_legacy_function_definitions_are_scanned() {
    let (addr, recorder) = harness().await;
    let parameters = json!({
        "type": "object",
        "properties": {
            "recipient": {
                "type": "string",
                "description": "defaults to the owner",
                "enum": ["ann.owner@example.com", "team"],
                "default": "+44 20 7946 0958",
                "examples": ["5555 5555 5555 4444", "+1 (212) 555-0148"]
            },
            "count": {"type": "integer", "default": 4111111111111111_u64}
        }
    });
    let request = json!({
        "model": "cloud",
        "messages": [{"role": "user", "content": "notify the owner"}],
        "tools": [{"type": "function", "function": {
            "name": "13812345678",
            "description": "texts the owner at 13912345678 or bob.writer@example.com",
            "parameters": parameters
        }}],
        "tool_choice": {"type": "function", "function": {"name": "13812345678"}},
        "functions": [{
            "name": "escalate_to_carl.west@example.com",
            "description": "escalates; bills card 4012 8888 8888 1881",
            "parameters": parameters
        }],
        "function_call": {"name": "escalate_to_carl.west@example.com"}
    });
    let sent = forwarded(addr, &recorder, "/v1/chat/completions", &request).await;
    assert_absent(
        &sent,
        &[
            "13812345678",
            "13912345678",
            "bob.writer@example.com",
            "ann.owner@example.com",
            "+44 20 7946 0958",
            "5555 5555 5555 4444",
            "+1 (212) 555-0148",
            "4111111111111111",
            "carl.west@example.com",
            "4012 8888 8888 1881",
        ],
    );
    assert_arrived(
        &sent,
        &[
            "notify the owner",
            "texts the owner at ",
            "escalates; bills card ",
            "defaults to the owner",
            "\"team\"",
            "\"recipient\"",
            "\"count\"",
        ],
    );
}

// ---------------------------------------------------------------------------------------
// Other top-level parameters.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn stop_prediction_user_and_metadata_values_are_scanned() {
    let (addr, recorder) = harness().await;
    for stop in [json!("Regards, jo.smith@example.com"), json!(["END OF ANSWER", "card 4111 1111 1111 1111"])] {
        let request = json!({
            "model": "cloud",
            "messages": [{"role": "user", "content": "draft a short reply"}],
            "stop": stop,
            "prediction": {"type": "content", "content": "Call me on 13812345678 tomorrow, or mail pat.quinn@example.net"},
            "user": "lee.user@example.com",
            "metadata": {"contact": "+44 20 7946 0958", "tier": "gold"},
            "temperature": 0.25,
            "max_tokens": 77
        });
        let sent = forwarded(addr, &recorder, "/v1/chat/completions", &request).await;
        assert_absent(
            &sent,
            &[
                "jo.smith@example.com",
                "4111 1111 1111 1111",
                "13812345678",
                "pat.quinn@example.net",
                "lee.user@example.com",
                "+44 20 7946 0958",
            ],
        );
        assert_arrived(
            &sent,
            &[
                "draft a short reply",
                "\"type\":\"content\"",
                "Call me on ",
                " tomorrow, or mail ",
                "\"tier\":\"gold\"",
                "\"temperature\":0.25",
                "\"max_tokens\":77",
            ],
        );
        if stop.is_array() {
            assert_arrived(&sent, &["\"END OF ANSWER\""]);
        } else {
            assert_arrived(&sent, &["Regards, "]);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Values split across content parts.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn values_split_across_text_parts_never_arrive_in_part() {
    let (addr, recorder) = harness().await;
    let request = json!({
        "model": "cloud",
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "pay with 4111 1111 "},
                {"type": "text", "text": "1111 1111 thanks"}
            ]},
            {"role": "user", "content": [
                {"type": "input_text", "text": "write to jo.smith@exa"},
                {"type": "text", "text": "mple.com today"}
            ]}
        ]
    });
    let sent = forwarded(addr, &recorder, "/v1/chat/completions", &request).await;
    assert_absent(
        &sent,
        &[
            "4111 1111 1111 1111",
            // Neither half of the card.
            "4111 1111",
            "1111 1111",
            // Neither half of the address.
            "jo.smith@exa",
            "jo.smith",
            "mple.com",
            "jo.smith@example.com",
        ],
    );
    assert_placeholder(&sent, "CREDIT_CARD");
    assert_placeholder(&sent, "EMAIL");
    assert_arrived(&sent, &["pay with ", " thanks", "write to ", " today", "\"input_text\""]);
    let sent: Value = serde_json::from_str(&sent).expect("forwarded JSON");
    for message in sent["messages"].as_array().expect("messages") {
        assert_eq!(message["content"].as_array().map(Vec::len), Some(2), "parts are kept: {message}");
    }
}

// ---------------------------------------------------------------------------------------
// Unicode disguises.
// ---------------------------------------------------------------------------------------

/// (name, text before, disguised value, text after, placeholder label, extra needles).
type DisguiseCase = (&'static str, &'static str, &'static str, &'static str, &'static str, &'static [&'static str]);

#[tokio::test]
async fn disguised_values_never_arrive() {
    let (addr, recorder) = harness().await;
    // (name, text before, disguised value, text after, placeholder label, extra needles)
    let cases: &[DisguiseCase] = &[
        (
            "full-width card",
            "卡号 ",
            "４１１１ １１１１ １１１１ １１１１",
            " 谢谢",
            "CREDIT_CARD",
            &["4111111111111111"],
        ),
        (
            "full-width card, ideographic spaces",
            "卡号 ",
            "４１１１　１１１１　１１１１　１１１１",
            " 谢谢",
            "CREDIT_CARD",
            &["4111111111111111"],
        ),
        ("full-width CN mobile", "手机 ", "１３８１２３４５６７８", " 谢谢", "PHONE", &["13812345678"]),
        (
            "zero-width space in e-mail",
            "mail ",
            "jo\u{200b}hn@example.com",
            " now",
            "EMAIL",
            &["john@example.com", "hn@example.com"],
        ),
        ("full-width at sign", "mail ", "john＠example.com", " now", "EMAIL", &["john@example.com"]),
        ("full-width at sign and dot", "mail ", "john＠example．com", " now", "EMAIL", &["john@example.com"]),
        (
            "NBSP-separated card",
            "card ",
            "4111\u{a0}1111\u{a0}1111\u{a0}1111",
            " now",
            "CREDIT_CARD",
            &["4111111111111111"],
        ),
        ("Arabic-Indic digits CN mobile", "رقمي ", "١٣٨١٢٣٤٥٦٧٨", " شكرا", "PHONE", &["13812345678"]),
        ("Extended Arabic-Indic digits CN mobile", "شماره ", "۱۳۸۱۲۳۴۵۶۷۸", " مرسی", "PHONE", &["13812345678"]),
        ("en-dash US phone", "call ", "415–555–0132", " tonight", "PHONE", &["4155550132", "415-555-0132"]),
        ("minus-sign US phone", "call ", "415−555−0132", " tonight", "PHONE", &["4155550132"]),
    ];
    let mut leaks = Vec::new();
    for (name, before, value, after, label, extra) in cases {
        let content = format!("{before}{value}{after}");
        let request = json!({"model": "cloud", "messages": [{"role": "user", "content": content}]});
        let sent = forwarded(addr, &recorder, "/v1/chat/completions", &request).await;
        let mut needles = vec![*value];
        needles.extend_from_slice(extra);
        // Collect every case before failing, so one run reports all disguises that leak.
        let check = std::panic::catch_unwind(|| {
            assert_absent(&sent, &needles);
            assert_placeholder(&sent, label);
            assert_arrived(&sent, &[*before, *after]);
        });
        if check.is_err() {
            leaks.push(format!("{name}: request content {content:?} → upstream got {sent}"));
        }
    }
    assert!(leaks.is_empty(), "disguised values leaked:\n{}", leaks.join("\n"));
}

// ---------------------------------------------------------------------------------------
// Shapes the sidecar cannot inspect: refused, never forwarded.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn uninspectable_shapes_are_refused_with_openai_errors_and_never_forwarded() {
    let (addr, recorder) = harness().await;
    let cases: &[(&str, &str, Value, &str)] = &[
        (
            "unknown top-level parameter",
            "/v1/chat/completions",
            json!({"model": "cloud", "messages": [{"role": "user", "content": "hello"}], "foo": "x"}),
            "foo",
        ),
        (
            "unknown top-level parameter carrying PII",
            "/v1/chat/completions",
            json!({"model": "cloud", "messages": [{"role": "user", "content": "hello"}], "extra_body": {"card": "4111 1111 1111 1111"}}),
            "extra_body",
        ),
        (
            "unknown message field",
            "/v1/chat/completions",
            json!({"model": "cloud", "messages": [{"role": "user", "content": "hello", "x_customer": "4111 1111 1111 1111"}]}),
            "messages[0].x_customer",
        ),
        (
            "image_url part",
            "/v1/chat/completions",
            json!({"model": "cloud", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "what is on this card?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
            ]}]}),
            "messages[0].content[1]",
        ),
        (
            "input_audio part",
            "/v1/chat/completions",
            json!({"model": "cloud", "messages": [{"role": "user", "content": [
                {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
            ]}]}),
            "messages[0].content[0]",
        ),
        (
            "unknown content-part field",
            "/v1/chat/completions",
            json!({"model": "cloud", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "hello", "cache_control": {"type": "ephemeral", "note": "jo.smith@example.com"}}
            ]}]}),
            "messages[0].content[0].cache_control",
        ),
        (
            "unknown tool-call field",
            "/v1/chat/completions",
            json!({"model": "cloud", "messages": [{"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}, "x_raw": "13812345678"}
            ]}]}),
            "messages[0].tool_calls[0].x_raw",
        ),
        ("token-id prompt", "/v1/completions", json!({"model": "cloud", "prompt": [1, 2, 3]}), "prompt"),
        ("batched token-id prompt", "/v1/completions", json!({"model": "cloud", "prompt": [[1, 2, 3]]}), "prompt"),
        (
            "unknown completions parameter",
            "/v1/completions",
            json!({"model": "cloud", "prompt": "hello", "foo": "x"}),
            "foo",
        ),
        (
            "chat-only parameter on completions",
            "/v1/completions",
            json!({"model": "cloud", "prompt": "hello", "metadata": {"contact": "13812345678"}}),
            "metadata",
        ),
    ];
    for (name, path, body, param) in cases {
        let (status, text) = post_json(addr, path, body).await;
        assert_eq!(status, 422, "{name}: {text}");
        let error: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: error JSON ({e}): {text}"));
        assert_eq!(error["error"]["type"], "invalid_request_error", "{name}: {text}");
        assert_eq!(error["error"]["param"], *param, "{name}: {text}");
        assert_eq!(error["error"]["code"], "unsupported_content", "{name}: {text}");
        assert!(error["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{name}: {text}");
        for value in ["4111", "13812345678", "jo.smith", "iVBORw0KGgo"] {
            assert!(!text.contains(value), "{name}: the error echoes request data: {text}");
        }
    }
    assert_eq!(recorder.count(), 0, "a refused request reached the upstream: {:?}", recorder.all());

    // Positive control: the same sidecar forwards the well-formed variant.
    let sent = forwarded(
        addr,
        &recorder,
        "/v1/chat/completions",
        &json!({"model": "cloud", "messages": [{"role": "user", "content": [{"type": "text", "text": "hello there"}]}]}),
    )
    .await;
    assert_arrived(&sent, &["hello there"]);
}

// ---------------------------------------------------------------------------------------
// The legacy completions API.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn legacy_completions_prompt_suffix_and_stop_are_scanned() {
    let (addr, recorder) = harness().await;
    let sent = forwarded(
        addr,
        &recorder,
        "/v1/completions",
        &json!({
            "model": "cloud",
            "prompt": "Customer jo.smith@example.com called from 13812345678 about the invoice",
            "suffix": "Reply to ops.lead@example.net before noon",
            "stop": "card 4111 1111 1111 1111",
            "max_tokens": 33
        }),
    )
    .await;
    assert_absent(&sent, &["jo.smith@example.com", "13812345678", "ops.lead@example.net", "4111 1111 1111 1111"]);
    assert_arrived(
        &sent,
        &["Customer ", " called from ", " about the invoice", "Reply to ", " before noon", "\"max_tokens\":33"],
    );

    let sent = forwarded(
        addr,
        &recorder,
        "/v1/completions",
        &json!({
            "model": "cloud",
            "prompt": ["first mail kim.lee@example.org please", "second call +44 20 7946 0958 please"],
            "stop": ["###", "pay 5555 5555 5555 4444"]
        }),
    )
    .await;
    assert_absent(&sent, &["kim.lee@example.org", "+44 20 7946 0958", "5555 5555 5555 4444"]);
    assert_arrived(&sent, &["first mail ", "second call ", " please", "\"###\""]);
    let sent: Value = serde_json::from_str(&sent).expect("forwarded JSON");
    assert_eq!(sent["prompt"].as_array().map(Vec::len), Some(2), "{sent}");
}

// ---------------------------------------------------------------------------------------
// Restore.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn pseudonyms_are_restored_in_plain_and_streamed_answers() {
    let (addr, recorder) = harness().await;
    let text = "Please write to jo.smith@example.com or call 13812345678; card 4111 1111 1111 1111, ok?";
    for stream in [false, true] {
        for path in ["/v1/chat/completions", "/v1/completions"] {
            let request = if path == "/v1/completions" {
                json!({"model": "cloud", "stream": stream, "prompt": text})
            } else {
                json!({"model": "cloud", "stream": stream, "messages": [{"role": "user", "content": [
                    {"type": "text", "text": "Please write to jo.smith@exa"},
                    {"type": "text", "text": "mple.com or call 13812345678; card 4111 1111 1111 1111, ok?"}
                ]}]})
            };
            let before = recorder.count();
            let (status, body) = post_json(addr, path, &request).await;
            assert_eq!(status, 200, "{path} stream={stream}: {body}");
            assert_eq!(recorder.count(), before + 1);
            let sent = recorder.last();
            assert_absent(&sent, &["jo.smith@example.com", "13812345678", "4111 1111 1111 1111"]);
            assert_arrived(&sent, &["Please write to ", " or call ", "; card ", ", ok?"]);
            // The upstream echoed the placeholders back; the client gets the originals.
            // The upstream echoes each text part on its own line.
            let expected =
                if path == "/v1/completions" { text.to_string() } else { text.replacen(".com ", ".com\n ", 1) };
            assert_eq!(answer_text(&body), expected, "{path} stream={stream}: {body}");
            if stream {
                assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
                assert!(!body.contains("[EMAIL_") && !body.contains("[PHONE_"), "{body}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Size: bounded work, refused when too large.
// ---------------------------------------------------------------------------------------

/// A guard against the old quadratic span resolution, not a benchmark: 1 MiB of short
/// distinct e-mail addresses is desensitized, forwarded and restored well within a bound
/// that is generous for a debug build on a busy 2-core machine.
#[tokio::test]
async fn one_mebibyte_of_emails_is_forwarded_in_bounded_time() {
    let (addr, recorder) = harness().await;
    let mut content = String::with_capacity((1 << 20) + 64);
    let mut n = 0usize;
    while content.len() < 1 << 20 {
        content.push_str(&format!("u{n:05}@ex.io "));
        n += 1;
    }
    assert!(n < netgpt_desensitizer::detect::MAX_CANDIDATES, "{n} addresses stay under the cap");
    let request = json!({"model": "cloud", "messages": [{"role": "user", "content": content}]});
    let started = Instant::now();
    let (status, body) = post_json(addr, "/v1/chat/completions", &request).await;
    let elapsed = started.elapsed();
    assert_eq!(status, 200, "{}", &body[..body.len().min(500)]);
    assert!(elapsed < Duration::from_secs(30), "1 MiB of e-mails took {elapsed:?}");
    let sent = recorder.last();
    assert!(!sent.contains("@ex.io"), "an address reached the upstream");
    assert_eq!(sent.matches("[EMAIL_").count(), n, "every address was replaced");
    assert!(sent.contains(&format!("[EMAIL_{n}]")), "one placeholder per distinct address");
    assert_eq!(answer_text(&body), content, "originals restored in the answer");
    println!("{n} e-mails ({} bytes) desensitized, forwarded and restored in {elapsed:?}", content.len());
}

#[tokio::test]
async fn over_the_candidate_cap_or_the_body_limit_is_refused_and_never_forwarded() {
    let (addr, recorder) = harness().await;
    let cap = netgpt_desensitizer::detect::MAX_CANDIDATES;
    // More candidate entities in one text than the cap.
    let content = "a@b.co ".repeat(cap + 10_000);
    let (status, body) = post_json(
        addr,
        "/v1/chat/completions",
        &json!({"model": "cloud", "messages": [{"role": "user", "content": content}]}),
    )
    .await;
    assert!(status == 422 || status == 413, "{status}: {body}");
    let error: Value = serde_json::from_str(&body).expect("error JSON");
    assert_eq!(error["error"]["code"], "too_many_entities", "{body}");
    assert!(!body.contains("a@b.co"), "{body}");

    // A body over the default limit (8 MiB), no personal data needed.
    let filler = "x ".repeat(9 * 1024 * 1024 / 2);
    let raw = serde_json::to_vec(&json!({"model": "cloud", "messages": [{"role": "user", "content": filler}]}))
        .expect("serialize");
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .expect("the sidecar answers an oversized body");
    let status = response.status().as_u16();
    let body = response.text().await.expect("body");
    assert_eq!(status, 413, "{body}");
    let error: Value = serde_json::from_str(&body).expect("error JSON");
    assert_eq!(error["error"]["code"], "too_large", "{body}");
    assert_eq!(recorder.count(), 0, "a refused body reached the upstream");

    // Positive control: the same sidecar still forwards a normal request.
    let sent = forwarded(
        addr,
        &recorder,
        "/v1/chat/completions",
        &json!({"model": "cloud", "messages": [{"role": "user", "content": "still here, mail a@b.co"}]}),
    )
    .await;
    assert_absent(&sent, &["a@b.co"]);
    assert_arrived(&sent, &["still here, mail "]);
}

// ---------------------------------------------------------------------------------------
// The leak helper itself.
// ---------------------------------------------------------------------------------------

#[test]
fn the_leak_check_sees_through_disguises() {
    let caught =
        |recorded: &str, needle: &str| std::panic::catch_unwind(|| assert_absent(recorded, &[needle])).is_err();
    let body = |s: &str| json!({"messages": [{"role": "user", "content": s}]}).to_string();
    assert!(caught(&body("card ４１１１ １１１１ １１１１ １１１１"), "4111 1111 1111 1111"));
    assert!(caught(&body("card 4111\u{a0}1111-1111.1111"), "4111111111111111"));
    assert!(caught(&body("tel ١٣٨١٢٣٤٥٦٧٨"), "13812345678"));
    assert!(caught(&body("mail jo\u{200b}hn＠example.com"), "john@example.com"));
    assert!(caught(&json!({"a": 13812345678_u64}).to_string(), "138 1234 5678"));
    assert!(caught(&json!({"args": "{\"x\":\"jo\\u0040x.com\"}"}).to_string(), "jo@x.com"));
    assert!(!caught(&body("card [CREDIT_CARD_1], mail [EMAIL_1]"), "4111 1111 1111 1111"));
    assert!(caught("", "anything"), "an empty recording never passes");
}

// ---------------------------------------------------------------------------------------
// Further disguises and splits, beyond the listed shapes.
// ---------------------------------------------------------------------------------------

/// Sends every case, then fails listing each one that leaked (so one run reports all).
async fn check_cases(addr: SocketAddr, recorder: &Recorder, cases: &[(&str, Value, &[&str])]) {
    let mut leaks = Vec::new();
    for (name, request, needles) in cases {
        let sent = forwarded(addr, recorder, "/v1/chat/completions", request).await;
        let check = std::panic::catch_unwind(|| {
            assert_absent(&sent, needles);
            assert_arrived(&sent, &["ship it now"]);
        });
        if check.is_err() {
            leaks.push(format!("LEAK {name}:\n  request:  {request}\n  upstream: {sent}"));
        }
    }
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}

fn user_content(content: Value) -> Value {
    json!({"model": "cloud", "messages": [{"role": "user", "content": content}]})
}

fn with_tool_call_arguments(arguments: &str) -> Value {
    json!({"model": "cloud", "messages": [
        {"role": "user", "content": "ship it now"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
            "function": {"name": "ship", "arguments": arguments}}]}
    ]})
}

#[tokio::test]
async fn more_disguises_and_splits_never_arrive() {
    let (addr, recorder) = harness().await;
    let cases: Vec<(&str, Value, &[&str])> = vec![
        ("card as an arguments key", with_tool_call_arguments("{\"4111111111111111\": true}"), &["4111111111111111"]),
        ("negative number phone", with_tool_call_arguments("{\"phone\": -13812345678}"), &["13812345678"]),
        (
            "full-width letters e-mail",
            user_content(json!("mail ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ ship it now")),
            &["john@example.com"],
        ),
        (
            "mathematical bold digits card",
            user_content(json!("card 𝟒𝟏𝟏𝟏 𝟏𝟏𝟏𝟏 𝟏𝟏𝟏𝟏 𝟏𝟏𝟏𝟏 ship it now")),
            &["4111111111111111"],
        ),
        (
            "zero-width spaces inside a card",
            user_content(json!("card 4111\u{200b}1111\u{200b}1111\u{200b}1111 ship it now")),
            &["4111111111111111"],
        ),
        (
            "zero-width spaces inside a phone",
            user_content(json!("tel 138\u{200b}1234\u{200b}5678 ship it now")),
            &["13812345678"],
        ),
        (
            "soft hyphens inside a phone",
            user_content(json!("tel 138\u{ad}1234\u{ad}5678 ship it now")),
            &["13812345678"],
        ),
        (
            "e-mail split at the @",
            user_content(
                json!([{"type": "text", "text": "mail jo.smith"}, {"type": "text", "text": "@example.com ship it now"}]),
            ),
            &["jo.smith@example.com", "jo.smith"],
        ),
        (
            "phone split across parts",
            user_content(
                json!([{"type": "text", "text": "tel 138 1234 "}, {"type": "text", "text": "5678 ship it now"}]),
            ),
            &["13812345678", "138 1234"],
        ),
        (
            "card split across three parts",
            user_content(
                json!([{"type": "text", "text": "card 4111 "}, {"type": "text", "text": "1111 1111 "}, {"type": "text", "text": "1111 ship it now"}]),
            ),
            &["4111111111111111", "11111111"],
        ),
    ];
    check_cases(addr, &recorder, &cases).await;
}

/// request.rs promises that every number is scanned and that a number found to be
/// personal data becomes its placeholder. A JSON number written with a fraction or an
/// exponent (`4111111111111111.0`, `1.3812345678e10`) is the same value.
#[tokio::test]
async fn numbers_written_as_floats_never_arrive() {
    let (addr, recorder) = harness().await;
    let cases: Vec<(&str, Value, &[&str])> = vec![
        (
            "float card in tool-call arguments",
            with_tool_call_arguments("{\"card\": 4111111111111111.0}"),
            &["4111111111111111"],
        ),
        (
            "exponent phone in tool-call arguments",
            with_tool_call_arguments("{\"phone\": 1.3812345678e10}"),
            &["13812345678"],
        ),
        (
            "float phone as a response_format schema default",
            json!({"model": "cloud", "messages": [{"role": "user", "content": "ship it now"}],
                "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "number", "default": 13812345678.0}}}}),
            &["13812345678"],
        ),
    ];
    check_cases(addr, &recorder, &cases).await;
}

/// A Luhn-valid 4-4-4-4 card grouped by dots instead of spaces or dashes.
#[tokio::test]
async fn dot_separated_card_never_arrives() {
    let (addr, recorder) = harness().await;
    let cases: Vec<(&str, Value, &[&str])> = vec![(
        "dot-separated card",
        user_content(json!("card 4111.1111.1111.1111 ship it now")),
        &["4111111111111111"],
    )];
    check_cases(addr, &recorder, &cases).await;
}

/// A tool name is an identifier: `_` glues words there, and a phone number inside one is
/// still personal data (the desensitizer reads identifiers a second time with `_` as a space).
#[tokio::test]
async fn underscore_glued_phone_in_a_tool_name_never_arrives() {
    let (addr, recorder) = harness().await;
    let cases: Vec<(&str, Value, &[&str])> = vec![(
        "underscore-glued phone in a tool name",
        json!({"model": "cloud", "messages": [{"role": "user", "content": "ship it now"}],
            "tools": [{"type": "function", "function": {"name": "sms_13812345678", "parameters": {"type": "object"}}}]}),
        &["13812345678"],
    )];
    check_cases(addr, &recorder, &cases).await;
}

/// Found in review: shapes where a value used to travel unread or an entry got lost.
#[tokio::test]
async fn review_findings_never_leak_or_lose_data() {
    let (addr, recorder) = harness().await;
    check_cases(
        addr,
        &recorder,
        &[
            // A duplicate key: the parser keeps the last, the original text held both.
            (
                "duplicate key in tool-call arguments",
                with_tool_call_arguments("{\"phone\":\"13812345678\",\"phone\":\"x\"}"),
                &["13812345678"],
            ),
            // Markdown emphasis and `_`-joined identifiers in message text and names.
            (
                "underscore-wrapped phone in content",
                json!({"model": "cloud", "messages": [{"role": "user", "content": "ship it now, call _13812345678_"}]}),
                &["13812345678"],
            ),
            (
                "underscore-glued phone in a message name",
                json!({"model": "cloud", "messages": [{"role": "user", "name": "li_13812345678", "content": "ship it now"}]}),
                &["13812345678"],
            ),
            // Keycap emoji and underlined digits.
            (
                "keycap digits",
                user_content(json!("ship it now, call 1️⃣3️⃣8️⃣1️⃣2️⃣3️⃣4️⃣5️⃣6️⃣7️⃣8️⃣")),
                &["13812345678"],
            ),
            (
                "underlined digits",
                user_content(json!("ship it now, call 1\u{332}3\u{332}8\u{332}1\u{332}2\u{332}3\u{332}4\u{332}5\u{332}6\u{332}7\u{332}8\u{332}")),
                &["13812345678"],
            ),
        ],
    )
    .await;

    // The model name is forwarded as written, so personal data in it is refused.
    let before = recorder.count();
    let (status, body) = post_json(
        addr,
        "/v1/chat/completions",
        &json!({"model": "13812345678", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\"param\":\"model\""), "{body}");
    assert_eq!(recorder.count(), before, "nothing forwarded");
}

/// Two keys that read the same once replaced are refused, not merged (with `redact`,
/// both phone numbers become `[PHONE]`).
#[tokio::test]
async fn keys_that_collide_once_replaced_are_refused() {
    let (upstream, recorder) = recording_upstream().await;
    let policy = DesensitizationPolicy { action: DesensitizeAction::Redact, ..Default::default() };
    let mut settings = SidecarSettings::new(format!("http://{upstream}"), policy);
    settings.listen = "127.0.0.1:0".parse().expect("addr");
    let addr = start(settings).await.expect("sidecar starts").addr;
    let request = json!({"model": "cloud", "messages": [{"role": "user", "content": "hi"}],
        "metadata": {"13812345678": "a", "13912345678": "b"}});
    let (status, body) = post_json(addr, "/v1/chat/completions", &request).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(recorder.count(), 0, "nothing forwarded");
    let distinct = json!({"model": "cloud", "messages": [{"role": "user", "content": "hi"}], "metadata": {"13812345678": "a", "note": "b"}});
    let sent = forwarded(addr, &recorder, "/v1/chat/completions", &distinct).await;
    assert_absent(&sent, &["13812345678"]);
    assert_arrived(&sent, &["\"note\""]);
}
