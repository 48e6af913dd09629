//! Chat typed in lower case (`this is hannah butcher, i moved to rios`): the name, place
//! and street rules read capitals, and the uncased model misses many such values too. For
//! a text without a single capital, those rules run once more on a view with every word
//! capitalised (ASCII letters only: same length, same offsets), and what they find there
//! is cut down to the words that carry it: listed given names and surnames for a person,
//! a listed or town-shaped place for a location (`moving to iceland next month` gives
//! `iceland`, not `To Iceland Next Month`).

use std::sync::LazyLock;

use netgpt_crds::workflow::EntityType;
use regex::Regex;

use super::gazetteer::{self, GivenName, Listed};
use super::names::{CHAT_WORDS, NOT_NAME_WORDS};
use super::{Detection, address, compile, person, place, priority, span};

/// Words that address a person in lower-case chat (`cc luz sanchez on the thread`, `call
/// august day tomorrow`, `i'm lady franklin`): the two words after one are a name when
/// the name lists vouch for them ([`cued_pair`]).
static PERSON_CUE: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r"\b(?:cc|bcc|call|ring|text|email|e-mail|ping|message|dm|tell|ask|remind|invite|meet|thank|thanks|",
        r"i'm|i’m|i am|this is|my name is|named|called)\s+",
    ))
});

/// Words after which a name in lower-case chat has ended (`cc luz sanchez on …`,
/// `call gebhard heintze tomorrow`).
const AFTER_NAME: &[&str] = &[
    "about",
    "again",
    "and",
    "asap",
    "at",
    "back",
    "for",
    "from",
    "here",
    "if",
    "in",
    "later",
    "now",
    "on",
    "please",
    "pls",
    "re",
    "regarding",
    "so",
    "that",
    "to",
    "today",
    "tomorrow",
    "tonight",
    "too",
    "when",
    "with",
];

/// A word before what people do in chat (`mike said`, `sakura lands`, `tomasz texted`):
/// a name when the lists know it as a given name ([`lone_name`]).
static BEFORE_PERSON_VERB: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r"\b([a-z][a-z'’\-]{1,20})\s+(?:said|says|asked|asks|told|tells|texted|called|replied|wants|needs|thinks|",
        r"knows|lands|landed|arrives|arrived|left|comes|came|is coming|was|will|won't|just|messaged|emailed)\b"
    ))
});

/// A word after a cue that takes a person (`reply to dimitris,`, `it's under tomasz at …`,
/// `i think haruka but …`), the clause ending right after it.
static AFTER_PERSON_CUE: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r"\b(?:reply to|replied to|text|call|ask|tell|under|meet|invite|message|thank|thanks|its|it's|i think|",
        r"this is|i'm|ping|cc)\s+([a-z][a-z'’\-]{1,20})(?:[,.!?;:]|\s+(?:at|on|and|but|about|to|if|when|tomorrow|today|tonight|later|again|too|is|was|said)\b|$)"
    ))
});

/// A word before a possessive `'s` (`grace's email`, `igor's old phone`).
static POSSESSIVE: LazyLock<Regex> = LazyLock::new(|| compile(r"\b([a-z][a-z\-]{2,20})['’]s\b"));

/// A lone word of lower-case chat that is a listed given name (any kind but a function or
/// chat word): the verb or cue around it is the rest of the evidence.
fn lone_name(word: &str) -> bool {
    let folded = gazetteer::fold(word.trim_end_matches(['\'', '’']));
    folded.chars().count() >= 3 && !chat_or_function_word(&folded) && gazetteer::first_name(&folded).is_some()
}

/// A chat word, a word that ends a name ([`AFTER_NAME`]) or a listed non-name word, which
/// no cue makes a name; `folded` as [`gazetteer::fold`] makes it.
fn chat_or_function_word(folded: &str) -> bool {
    CHAT_WORDS.contains(&folded) || AFTER_NAME.contains(&folded) || NOT_NAME_WORDS.binary_search(&folded).is_ok()
}

/// Adds the person, place and street candidates of a lower-case `text` to `out`.
pub(super) fn detect(text: &str, out: &mut Vec<Detection>) {
    let Some(titled) = title_cased(text) else { return };
    cued_pairs(text, out);
    for regex in [&*BEFORE_PERSON_VERB, &*AFTER_PERSON_CUE, &*POSSESSIVE] {
        for caps in regex.captures_iter(text) {
            if let Some(m) = caps.get(1)
                && lone_name(m.as_str())
            {
                out.push(Detection::new(m.start(), m.end(), EntityType::Person, priority::PERSON_CONTEXT));
            }
        }
    }
    let mut found = Vec::new();
    person::detect(&titled, &mut found);
    place::detect(&titled, &mut found);
    address::detect(&titled, &mut found);
    for d in found {
        let kept = match d.kind {
            EntityType::Person => core(&titled, d.start, d.end, |words| {
                words.first().is_some_and(|w| plain_name(w)) && words.iter().all(|w| listed_name(w))
            }),
            EntityType::Location => core(&titled, d.start, d.end, place_words),
            EntityType::StreetAddress => Some((d.start, span::street_end(&titled, d.start, d.end))),
            _ => Some((d.start, d.end)),
        };
        if let Some((start, end)) = kept {
            out.push(Detection { start, end, ..d });
        }
    }
}

/// Two words right after a [`PERSON_CUE`], followed by the end of the clause (punctuation,
/// the end, or an [`AFTER_NAME`] word), where the lists vouch for a name: one is a given
/// name or surname that is only a name, or both are listed names (`august day`). The
/// model and the word-by-word rules see such pairs in part (`pena` without `gervasio`).
fn cued_pairs(text: &str, out: &mut Vec<Detection>) {
    for cue in PERSON_CUE.find_iter(text) {
        let Some(rest) = text.get(cue.end()..) else { continue };
        let mut words = rest.split_inclusive(|c: char| !(c.is_alphabetic() || matches!(c, '\'' | '’' | '-')));
        let (Some(first), Some(second)) = (words.next(), words.next()) else { continue };
        // Each piece ends with its delimiter; the first must end with a single space.
        let Some(first) = first.strip_suffix(' ') else { continue };
        let (second, delimiter) = match second.char_indices().last() {
            Some((i, c)) if !(c.is_alphabetic() || matches!(c, '\'' | '’' | '-')) => (&second[..i], Some(c)),
            _ => (second, None),
        };
        let ended = match delimiter {
            None => true,
            Some(' ') => words.next().is_none_or(|next| {
                let next = next.trim_end_matches(|c: char| !c.is_alphabetic());
                next.is_empty() || AFTER_NAME.contains(&next)
            }),
            Some(_) => true,
        };
        if ended && cued_pair(first, second) {
            let start = cue.end();
            let end = start + first.len() + 1 + second.len();
            out.push(Detection::new(start, end, EntityType::Person, priority::PERSON_CONTEXT));
        }
    }
}

/// Whether `first second` after a cue is a name: neither a chat or function word, and
/// one of them a name that is only a name (`gervasio pena`), or both listed names.
fn cued_pair(first: &str, second: &str) -> bool {
    let listed = |w: &str| listed_name(w) && w.chars().count() >= 3;
    let function = |w: &str| chat_or_function_word(&gazetteer::fold(w));
    !function(first)
        && !function(second)
        && (plain_name(first) || plain_name(second) || (listed(first) && listed(second)))
}

/// `text` with the first letter of every word upper-cased, when `text` has letters and no
/// capital at all; `None` otherwise. Only ASCII letters change (so offsets stay valid); a
/// letter after an apostrophe (`daniel's`) does not begin a word.
pub(super) fn title_cased(text: &str) -> Option<String> {
    if text.chars().any(char::is_uppercase) || !text.bytes().any(|b| b.is_ascii_lowercase()) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut previous: Option<char> = None;
    for c in text.chars() {
        let starts_word = previous.is_none_or(|p| !p.is_alphanumeric() && !matches!(p, '\'' | '’'));
        out.push(if starts_word { c.to_ascii_uppercase() } else { c });
        previous = Some(c);
    }
    Some(out)
}

/// The longest run of whole words inside `start..end` of `text` that `fits`.
fn core(text: &str, start: usize, end: usize, fits: impl Fn(&[&str]) -> bool) -> Option<(usize, usize)> {
    let span = text.get(start..end)?;
    let words: Vec<(usize, &str)> = span
        .split(' ')
        .scan(0usize, |at, w| {
            let here = *at;
            *at += w.len() + 1;
            Some((here, w))
        })
        .filter(|(_, w)| !w.is_empty())
        .collect();
    let mut best: Option<(usize, usize)> = None;
    for i in 0..words.len() {
        for j in (i..words.len()).rev() {
            let run: Vec<&str> = words[i..=j].iter().map(|(_, w)| *w).collect();
            if j - i + 1 > best.map_or(0, |(a, b)| b - a + 1) && fits(&run) {
                best = Some((i, j));
                break;
            }
        }
    }
    let (i, j) = best?;
    let first = start + words[i].0;
    Some((first, start + words[j].0 + words[j].1.len()))
}

/// A listed given name or surname that is only a name (`colin`, not `will`, `block` or
/// `ok`), three letters or more.
fn plain_name(word: &str) -> bool {
    let folded = gazetteer::fold(word);
    folded.chars().count() >= 3
        && !CHAT_WORDS.contains(&folded.as_str())
        && NOT_NAME_WORDS.binary_search(&folded.as_str()).is_err()
        && (matches!(gazetteer::first_name(&folded), Some(GivenName::Plain))
            || gazetteer::surname(&folded) == Some(Listed::Plain))
}

/// A listed given name or surname, also one that is an everyday word (`walker`, `butcher`
/// after `colin`, `hannah`), or an initial (`t.`).
fn listed_name(word: &str) -> bool {
    let folded = gazetteer::fold(word);
    (word.len() == 2 && word.ends_with('.'))
        || gazetteer::first_name(&folded).is_some()
        || gazetteer::surname(&folded).is_some()
}

/// A listed place, or a town-shaped name (`Brownbury`, `Katy Ville`).
fn place_words(words: &[&str]) -> bool {
    let folded = gazetteer::fold(&words.join(" "));
    gazetteer::place(&folded) == Some(Listed::Plain) || place::town_shaped(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_case_chat_is_read_with_capitals() {
        assert_eq!(title_cased("my sim is in daniel's old phone").as_deref(), Some("My Sim Is In Daniel's Old Phone"));
        assert_eq!(title_cased("Already Capitalised"), None);
        assert_eq!(title_cased("13812345678"), None);
        let found = |text: &str| -> Vec<(EntityType, String)> {
            super::super::Detector::default()
                .detect(text)
                .expect("detects")
                .into_iter()
                .map(|d| (d.kind, text[d.start..d.end].to_string()))
                .collect()
        };
        assert_eq!(found("how do i block colin walker on whatsapp"), [(EntityType::Person, "colin walker".into())]);
        assert_eq!(
            found("this is hannah butcher, my account got locked"),
            [(EntityType::Person, "hannah butcher".into())]
        );
        assert!(found("can you explain how a vpn works and why my phone gets slow in the evening").is_empty());
        // Two words after a cue that the lists vouch for.
        assert_eq!(found("cc gervasio pena on the thread"), [(EntityType::Person, "gervasio pena".into())]);
        assert_eq!(found("remind me to call august day tomorrow"), [(EntityType::Person, "august day".into())]);
        assert_eq!(found("hey, i'm lady franklin, can you help"), [(EntityType::Person, "lady franklin".into())]);
        assert_eq!(found("yo bring chips. mike said ur ok with driving?"), [(EntityType::Person, "mike".into())]);
        assert_eq!(found("lmk when jessica lands, she is on the 17:40"), [(EntityType::Person, "jessica".into())]);
        assert_eq!(
            found("can u grab it? it's under daniel at the post office"),
            [(EntityType::Person, "daniel".into())]
        );
        // A listed given name before a possessive.
        assert_eq!(found("whats grace's email again"), [(EntityType::Person, "grace".into())]);
        for plain in [
            "let's go, today's plan is fine",
            "call back soon",
            "i'm really tired, sorry",
            "text me when you land",
            "ask the team about it",
            "time will tell",
            "it's under the bed",
        ] {
            assert!(found(plain).iter().all(|(kind, _)| *kind != EntityType::Person), "{plain}: {:?}", found(plain));
        }
        // `Ok` is a listed surname; in lower-case chat it is a word.
        let card = found("card 4111 1111 1111 1111 ok, mail jo@example.com");
        assert!(card.iter().all(|(kind, _)| *kind != EntityType::Person), "{card:?}");
    }
}
