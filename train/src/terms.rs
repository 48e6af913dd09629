//! What "names the site's context" means, shared by the dataset filter and the evaluation:
//! a site's context terms are the proper names of its location profile (place-name parts,
//! capitalised runs of the context such as "Shanghai Tower", and numbered lines such as
//! "metro line 2"); the terms two sites share ("Shanghai") identify neither.

use netgpt_crds::LocationProfile;

/// A site's distinctive context terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteTerms {
    pub site: String,
    pub terms: Vec<String>,
}

/// Words that start a context phrase in capitals only because they start it ("Leafy
/// streets…"): a single capitalised word followed by a lower-case one is a name only if
/// the vocabulary does not know its lower-case form as one word. `is_common_word` answers
/// that (the base model's tokenizer: a common English word is a single token).
pub fn context_terms(location: &LocationProfile, site: &str, is_common_word: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut terms = Vec::new();
    let mut push = |term: String| {
        let term = term.trim().trim_matches(|c: char| !c.is_alphanumeric()).to_string();
        if term.chars().count() >= 3 && !terms.iter().any(|t: &String| t.eq_ignore_ascii_case(&term)) {
            terms.push(term);
        }
    };
    if let Some(place) = &location.place_name {
        place.split(',').for_each(|part| push(part.to_string()));
    } else {
        push(site.to_string());
    }
    let Some(context) = &location.context else { return terms };
    for phrase in context.split([';', ',', '.', '(', ')', ':']) {
        let words: Vec<&str> = phrase.split_whitespace().collect();
        let mut i = 0;
        while i < words.len() {
            let capital = |w: &str| w.chars().next().is_some_and(char::is_uppercase);
            if capital(words[i]) {
                let start = i;
                while i < words.len()
                    && (capital(words[i]) || (i > start && words[i].chars().all(|c| c.is_ascii_digit())))
                {
                    i += 1;
                }
                let run = &words[start..i];
                let sentence_initial = start == 0 && run.len() == 1 && words.get(i).is_some_and(|w| !capital(w));
                if !(sentence_initial && is_common_word(&run[0].to_lowercase())) {
                    push(run.join(" "));
                }
            } else if words[i].chars().all(|c| c.is_ascii_digit())
                && i >= 2
                && words[i - 2..i].iter().all(|w| w.chars().all(char::is_alphabetic))
            {
                // "metro line 2", "lines 1, 9 and 11": the numbered line with its noun.
                push(words[i - 2..=i].join(" "));
                i += 1;
            } else {
                i += 1;
            }
        }
    }
    terms
}

/// Drops the terms that name more than one site (compared case-insensitively).
pub fn distinctive(sites: Vec<SiteTerms>) -> Vec<SiteTerms> {
    let all: Vec<Vec<String>> = sites.iter().map(|s| s.terms.iter().map(|t| t.to_lowercase()).collect()).collect();
    sites
        .into_iter()
        .enumerate()
        .map(|(i, mut s)| {
            s.terms.retain(|t| {
                let t = t.to_lowercase();
                !all.iter().enumerate().any(|(j, other)| j != i && other.contains(&t))
            });
            s
        })
        .collect()
}

/// The first of `terms` that `text` names as whole words (case-insensitive).
pub fn named<'t>(text: &str, terms: &'t [String]) -> Option<&'t str> {
    let text = text.to_lowercase();
    terms.iter().map(String::as_str).find(|term| {
        let term = term.to_lowercase();
        text.match_indices(&term).any(|(at, _)| {
            let before = text[..at].chars().next_back();
            let after = text[at + term.len()..].chars().next();
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        })
    })
}

const STOP_WORDS: &[&str] = &[
    "the",
    "and",
    "for",
    "can",
    "where",
    "how",
    "what",
    "get",
    "need",
    "any",
    "nearby",
    "near",
    "here",
    "around",
    "good",
    "best",
    "some",
    "there",
    "this",
    "that",
    "with",
    "find",
    "want",
    "is",
    "are",
    "which",
    "who",
    "when",
    "a",
    "an",
    "to",
    "of",
    "in",
    "on",
    "at",
    "my",
    "me",
    "i",
    "do",
    "does",
    "should",
    "it",
    "go",
    "place",
    "somewhere",
    "now",
    "worth",
    "nice",
    "too",
    "will",
    "you",
    "your",
    "our",
    "we",
];

/// The concise prompt's key words (lower case), which a faithful rewrite keeps.
pub fn key_words(prompt: &str) -> Vec<String> {
    let mut words: Vec<String> = prompt
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .map(|w| w.trim_matches('\'').to_lowercase())
        .filter(|w| w.chars().count() >= 3 && !STOP_WORDS.contains(&w.as_str()))
        .collect();
    words.dedup();
    words
}

/// Share of `keys` the text keeps; a word counts when its first five letters (the whole
/// word if shorter) start a word of the text ("pharmacy" ~ "pharmacies").
pub fn intent_kept(text: &str, keys: &[String]) -> f64 {
    if keys.is_empty() {
        return 1.0;
    }
    let words: Vec<String> =
        text.split(|c: char| !c.is_alphanumeric() && c != '\'').map(|w| w.to_lowercase()).collect();
    let kept = keys
        .iter()
        .filter(|k| {
            let stem: String = k.chars().take(5).collect();
            words.iter().any(|w| w.starts_with(&stem))
        })
        .count();
    kept as f64 / keys.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(place: &str, context: &str) -> LocationProfile {
        LocationProfile { place_name: Some(place.into()), context: Some(context.into()), ..Default::default() }
    }

    #[test]
    fn terms_are_the_profiles_proper_names() {
        let common = |w: &str| w == "leafy";
        let pudong = profile(
            "Pudong, Shanghai",
            "Lujiazui financial district by the Huangpu River; Shanghai Tower, Oriental Pearl Tower; metro line 2.",
        );
        assert_eq!(
            context_terms(&pudong, "pudong", &common),
            [
                "Pudong",
                "Shanghai",
                "Lujiazui",
                "Huangpu River",
                "Shanghai Tower",
                "Oriental Pearl Tower",
                "metro line 2"
            ]
        );
        let xuhui = profile(
            "Xuhui, Shanghai",
            "Leafy former French Concession streets; Xujiahui Cathedral, Shanghai Jiao Tong University; metro lines 1, 9 and 11.",
        );
        let terms = context_terms(&xuhui, "xuhui", &common);
        assert_eq!(
            terms,
            [
                "Xuhui",
                "Shanghai",
                "French Concession",
                "Xujiahui Cathedral",
                "Shanghai Jiao Tong University",
                "metro lines 1"
            ]
        );
        let sites = distinctive(vec![
            SiteTerms { site: "pudong".into(), terms: context_terms(&pudong, "pudong", &common) },
            SiteTerms { site: "xuhui".into(), terms },
        ]);
        assert!(!sites[0].terms.contains(&"Shanghai".to_string()));
        assert!(sites[1].terms.contains(&"Xujiahui Cathedral".to_string()));
    }

    #[test]
    fn naming_is_whole_words_and_case_blind() {
        let terms = vec!["Pudong".to_string(), "metro line 2".to_string()];
        assert_eq!(named("Dinner in pudong tonight?", &terms), Some("Pudong"));
        assert_eq!(named("Take Metro Line 2.", &terms), Some("metro line 2"));
        assert_eq!(named("metro line 22 or Pudongs", &terms), None);
    }

    #[test]
    fn intent_is_the_key_words_kept() {
        let keys = key_words("need a pharmacy");
        assert_eq!(keys, ["pharmacy"]);
        assert_eq!(intent_kept("Which pharmacies near Lujiazui are open?", &keys), 1.0);
        assert_eq!(intent_kept("Where can I eat near Lujiazui?", &keys), 0.0);
        assert_eq!(key_words("Where can I get a good dinner tonight?"), ["dinner", "tonight"]);
    }
}
