//! The desensitizer sidecar over real HTTP on 127.0.0.1, in front of a recording upstream
//! that stands in for the cloud model: it keeps the raw bytes of every request and answers
//! like an OpenAI server that repeats back what it received (placeholders included),
//! streamed in two-character pieces so that every placeholder is split across chunks.

use std::net::SocketAddr;

use axum::Router;
use axum::routing::post;
use netgpt_crds::workflow::{DesensitizationPolicy, DesensitizeAction};
use netgpt_desensitizer::proxy::{SidecarSettings, start};
use netgpt_desensitizer::{Detector, eval};
use netgpt_testenv::recording::{answer_text, recording_upstream, texts_of};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

async fn sidecar(upstream: SocketAddr, policy: DesensitizationPolicy) -> SocketAddr {
    let mut settings = SidecarSettings::new(format!("http://{upstream}"), policy);
    settings.listen = "127.0.0.1:0".parse().expect("addr");
    start(settings).await.expect("sidecar starts").addr
}

async fn post_json(addr: SocketAddr, path: &str, body: &Value) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .header("x-request-id", "req-42")
        .json(body)
        .send()
        .await
        .expect("sidecar answers");
    let status = response.status().as_u16();
    assert_eq!(response.headers().get("x-request-id").and_then(|v| v.to_str().ok()), Some("req-42"));
    (status, response.text().await.expect("body"))
}

/// One sentence per supported entity type, with the value that must not leak.
const CASES: &[(&str, &str, &str)] = &[
    ("email", "Please reply to {} today.", "li.wei@example.com"),
    ("phone (+86)", "我的手机是 {}，请回电。", "+86 139 1234 5678"),
    ("phone (CN mobile)", "电话{}", "13812345678"),
    ("phone (US)", "Call me at {} after six.", "(415) 555-0132"),
    ("phone (UK)", "Office line: {}.", "+44 20 7946 0958"),
    ("credit card", "Charge card {} for the order.", "4111 1111 1111 1111"),
    ("iban", "Wire it to {} please.", "DE89 3704 0044 0532 0130 00"),
    ("ipv4", "The server at {} is down.", "203.0.113.77"),
    ("ipv6", "Ping {} from the bastion.", "2001:db8:85a3::8a2e:370:7334"),
    ("cn resident id", "身份证号码{}。", "11010519491231002X"),
    ("us ssn", "My SSN is {}.", "536-22-1849"),
    ("api key", "Use the key {} for the API.", "sk-proj-Q9x2LmZ7vB4nT1kR8sW3yH6p"),
    ("aws key", "aws_access_key_id={}", "AKIAIOSFODNN7EXAMPLE"),
    ("password", "my password is {} ok", "Tr0ub4dor&3"),
    ("url credentials", "Connect with postgres://{}@db.internal:5432/app", "admin:s3cretPass"),
    ("person", "Hello, my name is {} and I need help.", "Zelda Quist"),
    ("person (zh)", "你好，我叫{}，想咨询一下。", "王小明"),
    ("street address", "Ship it to {} by Friday.", "742 Evergreen Terrace, Springfield, OR 97477"),
    ("street address (zh)", "寄到{}，谢谢", "北京市朝阳区建国路88号"),
    ("location", "I live in {}, near the river.", "Hangzhou"),
    ("date of birth", "I was born on {}.", "March 3, 1987"),
];

fn sentence(template: &str, value: &str) -> String {
    template.replacen("{}", value, 1)
}

#[tokio::test]
async fn every_pii_type_is_hidden_from_upstream_and_restored() {
    let (upstream, recorder) = recording_upstream().await;
    let addr = sidecar(upstream, DesensitizationPolicy::default()).await;
    for stream in [false, true] {
        for (name, template, value) in CASES {
            let text = sentence(template, value);
            let before = recorder.all().len();
            let (status, body) = post_json(
                addr,
                "/v1/chat/completions",
                &json!({"model": "cloud", "stream": stream, "messages": [{"role": "user", "content": text}]}),
            )
            .await;
            assert_eq!(status, 200, "{name}: {body}");
            let recorded = recorder.all();
            assert_eq!(recorded.len(), before + 1, "{name}: forwarded once");
            let sent = String::from_utf8_lossy(&recorded[before]).into_owned();
            assert!(!sent.contains(value), "{name} leaked to the cloud: {sent}");
            // Also after JSON decoding, in case an escape hid the value from the byte check.
            let decoded: Value = serde_json::from_str(&sent).expect("forwarded JSON");
            assert!(!texts_of(&decoded).concat().contains(value), "{name} leaked (decoded)");
            assert!(sent.contains('['), "{name}: a placeholder was sent: {sent}");
            assert_eq!(answer_text(&body), text, "{name} (stream={stream}): originals restored");
        }
    }
}

#[tokio::test]
async fn content_parts_tool_arguments_and_completions_are_covered() {
    let (upstream, recorder) = recording_upstream().await;
    let addr = sidecar(upstream, DesensitizationPolicy::default()).await;
    let request = json!({
        "model": "cloud",
        "messages": [
            {"role": "system", "content": "You help Maria Gonzalez."},
            {"role": "user", "content": [{"type": "text", "text": "Email maria.g@example.org about card 5555 5555 5555 4444."}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "send_mail", "arguments": "{\"to\": \"maria.g@example.org\", \"cc\": \"Maria Gonzalez\"}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "sent to maria.g@example.org"}
        ]
    });
    let (status, body) = post_json(addr, "/v1/chat/completions", &request).await;
    assert_eq!(status, 200, "{body}");
    let sent = recorder.joined();
    for value in ["Maria Gonzalez", "maria.g@example.org", "5555 5555 5555 4444"] {
        assert!(!sent.contains(value), "{value} leaked: {sent}");
    }
    // The same value got the same placeholder in every message.
    let sent_json: Value = serde_json::from_slice(&recorder.all()[0]).expect("forwarded JSON");
    let texts = texts_of(&sent_json);
    assert!(texts[1].contains("[EMAIL_1]") && texts[3].contains("[EMAIL_1]"), "{texts:?}");
    assert!(texts[2].contains("[EMAIL_1]") && texts[2].contains("[PERSON_1]"), "{texts:?}");
    let answer = answer_text(&body);
    assert!(answer.contains("maria.g@example.org") && answer.contains("Maria Gonzalez"), "{answer}");
    assert!(answer.contains("\"to\":\"maria.g@example.org\""), "arguments restored as JSON: {answer}");

    for stream in [false, true] {
        let (status, body) = post_json(
            addr,
            "/v1/completions",
            &json!({"model": "cloud", "stream": stream, "prompt": "Contact Dr. Okonkwo Adebayo at +1 (212) 555-0148."}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(answer_text(&body), "Contact Dr. Okonkwo Adebayo at +1 (212) 555-0148.");
    }
    let sent = recorder.joined();
    assert!(!sent.contains("Adebayo") && !sent.contains("555-0148"), "{sent}");
}

#[tokio::test]
async fn split_placeholders_are_restored_in_streams() {
    let (upstream, _recorder) = recording_upstream().await;
    let addr = sidecar(upstream, DesensitizationPolicy::default()).await;
    // Many placeholders, each split by the upstream's two-character chunks at a different
    // offset, plus brackets that are not placeholders and must pass untouched.
    let text = "a [x] jo@example.com, [EMAIL_9] bo@example.com; 13812345678 [ jo@example.com [";
    let (status, body) = post_json(
        addr,
        "/v1/chat/completions",
        &json!({"stream": true, "messages": [{"role": "user", "content": text}]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(answer_text(&body), text);
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    // No chunk of the streamed answer carries a fragment of a placeholder.
    assert!(!body.contains("[EMAIL_1") && !body.contains("[PHONE_"), "{body}");
}

#[tokio::test]
async fn redact_and_mask_are_not_restored() {
    let (upstream, recorder) = recording_upstream().await;
    for (action, expected) in
        [(DesensitizeAction::Redact, "mail [EMAIL] now"), (DesensitizeAction::Mask, "mail **.*****@*******.*** now")]
    {
        let policy = DesensitizationPolicy { action, ..Default::default() };
        let addr = sidecar(upstream, policy).await;
        let (status, body) = post_json(
            addr,
            "/v1/chat/completions",
            &json!({"messages": [{"role": "user", "content": "mail jo.smith@example.com now"}]}),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(answer_text(&body), expected);
    }
    let mut settings = SidecarSettings::new(
        format!("http://{upstream}"),
        DesensitizationPolicy { action: DesensitizeAction::Mask, ..Default::default() },
    );
    settings.listen = "127.0.0.1:0".parse().expect("addr");
    settings.mask_keeps_separators = false;
    let addr = start(settings).await.expect("sidecar starts").addr;
    let (_, body) = post_json(
        addr,
        "/v1/chat/completions",
        &json!({"messages": [{"role": "user", "content": "mail jo.smith@example.com now"}]}),
    )
    .await;
    assert_eq!(answer_text(&body), "mail ******************** now");
    assert!(!recorder.joined().contains("jo.smith@example.com"));
}

#[tokio::test]
async fn upstream_down_is_an_error_and_nothing_leaks() {
    // A port that was just free: nothing listens there.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let addr = sidecar(closed, DesensitizationPolicy::default()).await;
    for stream in [false, true] {
        let (status, body) = post_json(
            addr,
            "/v1/chat/completions",
            &json!({"stream": stream, "messages": [{"role": "user", "content": "I am Zelda Quist, card 4111111111111111"}]}),
        )
        .await;
        assert_eq!(status, 502, "{body}");
        let error: Value = serde_json::from_str(&body).expect("OpenAI error JSON");
        assert_eq!(error["error"]["code"], "upstream_unavailable");
        assert!(error["error"]["message"].is_string() && error["error"]["type"].is_string());
        assert!(!body.contains("4111111111111111") && !body.contains("Quist"), "{body}");
    }
    let metrics = reqwest::get(format!("http://{addr}/metrics")).await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("netgpt_desensitizer_requests_total{outcome=\"upstream_error\"} 2"), "{metrics}");
}

#[tokio::test]
async fn unparseable_or_uninspectable_bodies_are_rejected_and_never_forwarded() {
    let (upstream, recorder) = recording_upstream().await;
    let addr = sidecar(upstream, DesensitizationPolicy::default()).await;
    let client = reqwest::Client::new();
    let full = r#"{"messages":[{"role":"user","content":"card 4111 1111 1111 1111"}]}"#;
    let mut bodies: Vec<String> = (1..full.len()).map(|n| full[..n].to_string()).collect();
    bodies.extend(
        [
            "",
            "not json",
            "[1,2,3]",
            r#"{"messages":"card 4111 1111 1111 1111"}"#,
            r#"{"messages":[{"content":"card 4111 1111 1111 1111"}]}"#,
            r#"{"messages":[{"role":"user","content":{"text":"card 4111 1111 1111 1111"}}]}"#,
            r#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]}"#,
            r#"{"messages":[{"role":"user","content":"x"}],"stream":"true"}"#,
            r#"{"messages":[{"role":"assistant","tool_calls":[{"function":{"arguments":{"card":"4111 1111 1111 1111"}}}]}]}"#,
        ]
        .map(str::to_string),
    );
    for body in &bodies {
        let response = client
            .post(format!("http://{addr}/v1/chat/completions"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("answer");
        let status = response.status().as_u16();
        let text = response.text().await.expect("text");
        assert!((400..500).contains(&status), "{body:?} → {status}");
        let error: Value = serde_json::from_str(&text).expect("error JSON");
        assert!(error["error"]["code"].is_string(), "{text}");
        assert!(!text.contains("4111"), "error echoes input: {text}");
    }
    let (status, _) = post_json(addr, "/v1/completions", &json!({"prompt": [[1, 2, 3]]})).await;
    assert_eq!(status, 422);
    assert!(recorder.all().is_empty(), "nothing may be forwarded");
    let metrics = reqwest::get(format!("http://{addr}/metrics")).await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("netgpt_desensitizer_blocked_total{reason=\"invalid_json\"}"), "{metrics}");
    assert!(metrics.contains("netgpt_desensitizer_blocked_total{reason=\"unsupported_content\"} 2"), "{metrics}");
}

#[tokio::test]
async fn health_ready_and_metrics() {
    let (upstream, _recorder) = recording_upstream().await;
    let addr = sidecar(upstream, DesensitizationPolicy::default()).await;
    for path in ["/health", "/ready"] {
        let response = reqwest::get(format!("http://{addr}{path}")).await.expect("answer");
        assert_eq!(response.status(), 200, "{path}");
    }
    post_json(
        addr,
        "/v1/chat/completions",
        &json!({"messages": [{"role": "user", "content": "a@example.com b@example.com 10.1.2.3"}]}),
    )
    .await;
    let metrics = reqwest::get(format!("http://{addr}/metrics")).await.expect("metrics").text().await.expect("text");
    for line in [
        "netgpt_desensitizer_entities_total{type=\"email\"} 2",
        "netgpt_desensitizer_entities_total{type=\"ipAddress\"} 1",
        "netgpt_desensitizer_requests_total{outcome=\"forwarded\"} 1",
        "netgpt_desensitizer_desensitize_duration_seconds_count 1",
    ] {
        assert!(metrics.contains(line), "missing {line}: {metrics}");
    }
    assert!(!metrics.contains("example.com"));
    // docs/metrics.md lists every metric the sidecar exposes.
    let documented =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/metrics.md")).expect("docs/metrics.md");
    for name in metrics.lines().filter_map(|l| l.strip_prefix("# HELP ")).filter_map(|l| l.split_whitespace().next()) {
        assert!(documented.contains(&format!("`{name}`")), "{name} is not documented in docs/metrics.md");
    }
    let response = reqwest::get(format!("http://{addr}/v1/nope")).await.expect("answer");
    assert_eq!(response.status(), 404);
}

/// Random and truncated input must never panic the detector, and must never make the
/// sidecar forward what it could not parse.
#[tokio::test]
async fn fuzz_random_bodies_and_unicode() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let detector = Detector::default();
    let alphabet: Vec<char> = "0123456789 -+().:@/[]_abcXYZ的号路市区王李\u{200b}\u{1F600}é\n\t\"\\".chars().collect();
    for _ in 0..3000 {
        let len = rng.random_range(0..120);
        let text: String = (0..len)
            .map(|_| {
                if rng.random_bool(0.1) {
                    char::from_u32(rng.random_range(0..0x10FFFF)).unwrap_or('x')
                } else {
                    alphabet[rng.random_range(0..alphabet.len())]
                }
            })
            .collect();
        for d in detector.detect(&text).expect("detects") {
            assert!(text.is_char_boundary(d.start) && text.is_char_boundary(d.end) && d.start < d.end);
        }
    }
    let (upstream, recorder) = recording_upstream().await;
    let addr = sidecar(upstream, DesensitizationPolicy::default()).await;
    let client = reqwest::Client::new();
    let secret = "4111 1111 1111 1111";
    for i in 0..200 {
        let mut bytes: Vec<u8> =
            format!(r#"{{"messages":[{{"role":"user","content":"pay {secret} {i}"}}]}}"#).into_bytes();
        // Corrupt a few random bytes, or truncate.
        if rng.random_bool(0.5) {
            bytes.truncate(rng.random_range(0..bytes.len()));
        } else {
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..bytes.len());
                bytes[at] = rng.random();
            }
        }
        let intact = String::from_utf8_lossy(&bytes).contains(&format!(" {secret} "));
        let before = recorder.all().len();
        let response = client
            .post(format!("http://{addr}/v1/chat/completions"))
            .body(bytes)
            .send()
            .await
            .expect("sidecar stays up");
        assert!(response.status().as_u16() < 500, "no server error on bad input");
        let recorded = recorder.all();
        if let Some(sent) = recorded.get(before) {
            // Whatever got through was parsed and re-serialized, never passed on as is.
            let sent: Value = serde_json::from_slice(sent).expect("forwarded bodies are JSON");
            assert!(sent["messages"].is_array());
            if intact {
                assert!(!sent.to_string().contains(secret), "card leaked: {sent}");
            }
        }
    }
}

#[test]
fn eval_corpus_meets_the_quality_targets() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pii/corpus.jsonl");
    let samples = eval::load_corpus(&corpus).expect("corpus loads");
    assert!(samples.len() >= 200, "corpus has {} sentences", samples.len());
    let report = eval::evaluate(&samples, &Detector::default(), 0.9).expect("detects");
    println!("{report}");
    assert!(report.overall.f_beta(2.0) >= 0.90, "overall F2 {:.3}", report.overall.f_beta(2.0));
    for kind in netgpt_desensitizer::entity::VALIDATED {
        let score = report.score(kind);
        assert!(score.gold > 0, "{kind:?} is in the corpus");
        assert!(score.recall() >= 0.99, "{kind:?} recall {:.3}", score.recall());
    }
}

/// Someone else's phrasing (presidio-evaluator templates filled by Faker): checksum-validated
/// types must still be found, and the scores must not fall below what docs/benchmarks.md
/// reports (regression floors, a little under the measured values). The held-out splits'
/// floors guard against regressions only: their errors are not read while tuning.
#[test]
fn out_of_distribution_corpus_regression_floors() {
    // (file, overall F2 floor, precision floor)
    for (file, f2_floor, precision_floor) in [
        ("corpus_presidio.jsonl", 0.93, 0.97),
        ("corpus_presidio_tune.jsonl", 0.94, 0.98),
        ("corpus_presidio_tune_gb.jsonl", 0.92, 0.95),
        ("corpus_presidio_tune_au_ca.jsonl", 0.94, 0.98),
        ("corpus_faker_eu_tune.jsonl", 0.86, 0.93),
        ("corpus_presidio_heldout.jsonl", 0.88, 0.94),
        ("corpus_presidio_heldout_au_ca.jsonl", 0.90, 0.96),
        ("corpus_presidio_heldout2.jsonl", 0.90, 0.96),
        ("corpus_handwritten_tune.jsonl", 0.66, 0.82),
        ("corpus_handwritten_heldout.jsonl", 0.68, 0.82),
    ] {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pii").join(file);
        let samples = eval::load_corpus(&corpus).expect("corpus loads");
        let report = eval::evaluate(&samples, &Detector::default(), 0.9).expect("detects");
        println!("{file}\n{report}");
        for kind in netgpt_desensitizer::entity::VALIDATED {
            let score = report.score(kind);
            assert!(score.recall() >= 0.99, "{file}: {kind:?} recall {:.3}", score.recall());
        }
        let f2 = report.overall.f_beta(2.0);
        assert!(f2 >= f2_floor, "{file}: overall F2 {f2:.3}");
        let precision = report.overall.precision();
        assert!(precision >= precision_floor, "{file}: precision {precision:.3}");
    }
}

/// Every sentence of every corpus comes back as it was sent, through the sidecar and an
/// upstream that repeats its input, whole and streamed in two-character pieces: each
/// pseudonym is restored, whatever value it stands for.
#[tokio::test]
async fn every_corpus_sentence_round_trips() {
    let (upstream, recorder) = recording_upstream().await;
    let addr = sidecar(upstream, DesensitizationPolicy::default()).await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pii");
    let mut sent = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus dir") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("jsonl") {
            continue;
        }
        for sample in eval::load_corpus(&path).expect("corpus loads") {
            for stream in [false, true] {
                let body =
                    json!({"model": "cloud", "stream": stream, "messages": [{"role": "user", "content": sample.text}]});
                let (status, answer) = post_json(addr, "/v1/chat/completions", &body).await;
                assert_eq!(status, 200, "{answer}");
                assert_eq!(answer_text(&answer), sample.text, "{} (stream: {stream})", path.display());
                sent += 1;
            }
        }
    }
    assert!(sent > 4_000, "{sent} requests");
    assert_eq!(recorder.count(), sent, "every request was forwarded once");
}

#[tokio::test]
async fn slow_upstream_times_out_with_an_error() {
    let app = Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            "too late"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let upstream = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut settings = SidecarSettings::new(format!("http://{upstream}"), DesensitizationPolicy::default());
    settings.listen = "127.0.0.1:0".parse().expect("addr");
    settings.upstream_timeout = std::time::Duration::from_millis(300);
    let addr = start(settings).await.expect("sidecar starts").addr;
    let started = std::time::Instant::now();
    let (status, body) =
        post_json(addr, "/v1/chat/completions", &json!({"messages": [{"role": "user", "content": "hi"}]})).await;
    assert_eq!(status, 504, "{body}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let error: Value = serde_json::from_str(&body).expect("error JSON");
    assert_eq!(error["error"]["code"], "upstream_timeout");
}

/// Every request has its own vault: concurrent requests all use `[EMAIL_1]`, and each
/// answer must get back its own address, never another request's.
#[tokio::test]
async fn concurrent_requests_restore_only_their_own_values() {
    let (upstream, recorder) = recording_upstream().await;
    let addr = sidecar(upstream, DesensitizationPolicy::default()).await;
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let email = format!("user{i}@example.com");
                let response = client
                    .post(format!("http://{addr}/v1/chat/completions"))
                    .json(&json!({"stream": i % 2 == 0, "messages": [{"role": "user", "content": format!("mail {email}")}]}))
                    .send()
                    .await
                    .expect("answer");
                let entities = response
                    .headers()
                    .get(netgpt_desensitizer::proxy::ENTITIES_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                (email, entities, response.text().await.expect("body"))
            })
        })
        .collect();
    for task in tasks {
        let (email, entities, body) = task.await.expect("task");
        assert_eq!(answer_text(&body), format!("mail {email}"));
        assert_eq!(entities.as_deref(), Some("1"));
    }
    let sent = recorder.joined();
    assert!(!sent.contains("@example.com"), "{sent}");
    assert_eq!(sent.matches("[EMAIL_1]").count(), 32);
}

/// A desensitizer that crashes while scanning must forward nothing: the request fails
/// closed with a 500 and the upstream never sees a byte.
#[tokio::test]
async fn a_panicking_detector_fails_closed() {
    let (upstream, recorder) = recording_upstream().await;
    let addr = sidecar(upstream, DesensitizationPolicy::default()).await;
    let marker = netgpt_desensitizer::request::PANIC_MARKER;
    for stream in [false, true] {
        let (status, body) = post_json(
            addr,
            "/v1/chat/completions",
            &json!({"stream": stream, "messages": [{"role": "user", "content": format!("card 4111111111111111 {marker}")}]}),
        )
        .await;
        assert_eq!(status, 500, "{body}");
        let error: Value = serde_json::from_str(&body).expect("OpenAI error JSON");
        assert!(error["error"]["message"].is_string());
        assert!(!body.contains("4111111111111111"), "{body}");
    }
    assert!(recorder.joined().is_empty(), "nothing reached the upstream");
    // The sidecar keeps serving after the crash.
    let (status, _) =
        post_json(addr, "/v1/chat/completions", &json!({"messages": [{"role": "user", "content": "hello"}]})).await;
    assert_eq!(status, 200);
}
