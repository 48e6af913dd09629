//! Shared test data: one dataset record of the pudong site, as `netgpt dataset generate`
//! would store it.

use netgpt_crds::LocationProfile;
use netgpt_crds::config::SiteConfig;
use netgpt_train::data::{PROMPT_FORMAT, Record, Split};

/// A training record asking for a cheap lunch at pudong, completed as `comprehensive`.
pub fn lunch_record(comprehensive: &str) -> Record {
    let site = SiteConfig {
        name: "pudong".into(),
        location: LocationProfile {
            place_name: Some("Pudong, Shanghai".into()),
            context: Some("Lujiazui financial district; Shanghai Tower.".into()),
            ..Default::default()
        },
        adapter: None,
    };
    Record {
        site: "pudong".into(),
        split: Split::Train,
        intent: "food".into(),
        concise: "cheap lunch".into(),
        comprehensive: comprehensive.into(),
        messages: Record::messages_for(&site, "cheap lunch"),
        context_terms: Vec::new(),
        teacher: "test".into(),
        redacted: 0,
        prompt_format: PROMPT_FORMAT,
    }
}
