//! Arbitrary UTF-8 through the PII detector and the three replacement actions.
//!
//! Invariants checked on every input:
//! - detections are in range, on char boundaries, non-empty, sorted and non-overlapping;
//! - `mask` keeps the number of characters;
//! - `pseudonymize` then restore gives the input back, whole or streamed in chunks (the
//!   request's own placeholder-shaped text is reserved first, as the sidecar does).
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use netgpt_crds::workflow::{DesensitizationPolicy, DesensitizeAction};
use netgpt_desensitizer::actions::EntityCounts;
use netgpt_desensitizer::{Desensitizer, Detector, Restorer, Vault};

fn with(action: DesensitizeAction) -> Desensitizer {
    Desensitizer::new(DesensitizationPolicy { action, ..Default::default() })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(found) = Detector::default().detect(text) else { return };
    let mut last_end = 0;
    for d in &found {
        assert!(d.start < d.end && d.end <= text.len(), "{d:?} out of range in {text:?}");
        assert!(text.is_char_boundary(d.start) && text.is_char_boundary(d.end), "{d:?} splits a char in {text:?}");
        assert!(d.start >= last_end, "{d:?} overlaps or is out of order in {text:?}");
        last_end = d.end;
    }

    let mut counts = EntityCounts::default();
    if let Ok(Some(masked)) = with(DesensitizeAction::Mask).desensitize_text(text, &mut Vault::new(), &mut counts) {
        assert_eq!(masked.chars().count(), text.chars().count(), "mask changed the length of {text:?}");
    }
    let _ = with(DesensitizeAction::Redact).desensitize_text(text, &mut Vault::new(), &mut counts);

    let pseudonymizer = with(DesensitizeAction::Pseudonymize);
    let mut vault = Vault::new();
    pseudonymizer.reserve_existing(text, &mut vault);
    let Ok(Some(pseudonymized)) = pseudonymizer.desensitize_text(text, &mut vault, &mut counts) else {
        assert!(found.is_empty());
        return;
    };
    let restorer = Restorer::new(Arc::new(vault));
    let restored = restorer.restore(&pseudonymized);
    assert_eq!(restored, text, "round trip through {pseudonymized:?}");

    // Streamed: chunks of 1..=7 characters (chosen by the input's length).
    let step = text.len() % 7 + 1;
    let chars: Vec<char> = pseudonymized.chars().collect();
    let mut stream = restorer.stream(false);
    let mut streamed = String::new();
    for chunk in chars.chunks(step) {
        streamed.push_str(&stream.push(&chunk.iter().collect::<String>()));
    }
    streamed.push_str(&stream.finish());
    assert_eq!(streamed, restored, "streamed restore of {pseudonymized:?} in chunks of {step}");
});
