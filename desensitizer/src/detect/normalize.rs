//! The view detection runs on: text as a reader sees it, not as its bytes spell it.
//!
//! Personal data typed with a Chinese input method comes in full-width digits
//! (`１３８１２３４５６７８`), pasted text carries no-break spaces and zero-width
//! characters, and a disguise can use look-alike separators (`＠`, `‐`, `−`). Detectors
//! written for ASCII would let all of these through, so they run on a normalized copy:
//! NFKC per character (full-width and other compatibility forms to their plain form),
//! format characters (zero-width spaces and joiners, soft hyphens, bidi marks, BOM)
//! removed, every decimal digit of every script folded to ASCII, every dash to `-`, every
//! space (NBSP, ideographic space, tabs) to one ASCII space and runs of spaces to one.
//! [`Normalized::original`] maps a span found there back to the original text, which is
//! what gets replaced, so the disguise goes with the value.

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// Text in its detection form plus, per byte of it, where the original character it came
/// from starts.
pub struct Normalized {
    pub text: String,
    /// For every byte of `text`: the byte offset of its original character.
    source: Vec<u32>,
    /// Original length, for spans that end at the end.
    original_len: usize,
}

/// How much larger than the original the view may grow (NFKC expands some characters
/// elevenfold): beyond it the text is refused rather than held several times in memory.
const MAX_EXPANSION: usize = 4;

impl Normalized {
    /// Builds the detection view of `original`. Plain ASCII without double spaces (the
    /// usual prompt) costs one pass and a copy.
    /// `None` when the text is too long to index (4 GiB) or grows more than
    /// [`MAX_EXPANSION`]-fold.
    pub fn new(original: &str) -> Option<Self> {
        if u32::try_from(original.len()).is_err() {
            return None;
        }
        let mut text = String::with_capacity(original.len());
        let mut source = Vec::with_capacity(original.len());
        let mut previous_space = false;
        let mut previous_ascii_alphanumeric = false;
        for (at, c) in original.char_indices() {
            let from = at as u32;
            let push = |ch: char, text: &mut String, source: &mut Vec<u32>| {
                text.push(ch);
                source.extend(std::iter::repeat_n(from, ch.len_utf8()));
            };
            if text.len() > MAX_EXPANSION * original.len().max(16) {
                return None;
            }
            // Marks stacked on a letter or digit (keycaps `1⃣`, underlining `1̲`) and
            // control characters change nothing a reader takes from the value.
            let combining_on_ascii = previous_ascii_alphanumeric && is_combining_mark(c);
            if combining_on_ascii || (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
                continue;
            }
            previous_ascii_alphanumeric = c.is_ascii_alphanumeric() || fold(c).is_ascii_digit();
            if c.is_ascii() && c != ' ' && c != '\t' {
                previous_space = false;
                push(c, &mut text, &mut source);
                continue;
            }
            if is_format(c) {
                continue;
            }
            if c.is_whitespace() && c != '\n' && c != '\r' {
                if !previous_space {
                    push(' ', &mut text, &mut source);
                }
                previous_space = true;
                continue;
            }
            previous_space = false;
            let mut expanded = String::new();
            decompose_compatible(c, |d| expanded.push(d));
            // Recompose so that a letter with an accent stays one letter (é, not e + ´).
            let composed: String = unicode_normalization::UnicodeNormalization::nfc(expanded.as_str()).collect();
            for d in composed.chars() {
                let folded = fold(d);
                if !is_format(folded) {
                    push(folded, &mut text, &mut source);
                }
            }
        }
        Some(Self { text, source, original_len: original.len() })
    }

    /// The byte range in `original` (the text this view was made from) of
    /// `text[start..end]` (a span found in the view). Covers whole original characters,
    /// including removed characters inside the span.
    pub fn original(&self, original: &str, start: usize, end: usize) -> Option<(usize, usize)> {
        if start >= end || end > self.text.len() || original.len() != self.original_len {
            return None;
        }
        let first = *self.source.get(start)? as usize;
        let last_start = *self.source.get(end - 1)? as usize;
        let last = last_start + original.get(last_start..)?.chars().next()?.len_utf8();
        Some((first, last))
    }

    /// True when the view is byte-for-byte the original (no mapping needed).
    pub fn is_identity(&self) -> bool {
        self.text.len() == self.original_len && self.source.iter().enumerate().all(|(i, &s)| s as usize == i)
    }
}

/// Unicode format characters (category Cf) that change nothing a reader sees.
fn is_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FFF0}'..='\u{FFF8}' | '\u{1BCA0}'..='\u{1BCA3}' | '\u{E0000}'..='\u{E0FFF}')
}

/// First code point (the zero) of every run of ten decimal digits (category Nd) that
/// NFKC leaves alone: Arabic-Indic, the Indic scripts, Thai, Tibetan, Myanmar, Khmer,
/// Mongolian and others. Full-width and mathematical digits are NFKC's job.
const DIGIT_ZEROS: &[u32] = &[
    0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66, 0x0DE6, 0x0E50,
    0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50,
    0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0,
    0x112F0, 0x11450, 0x114D0, 0x11650, 0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60,
    0x16AC0, 0x16B50, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
];

fn fold(c: char) -> char {
    let code = c as u32;
    if let Some(&zero) = DIGIT_ZEROS.iter().find(|&&z| (z..z + 10).contains(&code)) {
        return char::from(b'0' + (code - zero) as u8);
    }
    match c {
        // Hyphens, dashes and minus signs (category Pd plus U+2212) that NFKC keeps.
        '\u{2010}'..='\u{2015}'
        | '\u{2212}'
        | '\u{2E3A}'
        | '\u{2E3B}'
        | '\u{FE58}'
        | '\u{FE63}'
        | '\u{058A}'
        | '\u{05BE}'
        | '\u{1806}'
        | '\u{2E17}'
        | '\u{30A0}' => '-',
        // Look-alike full stops and at signs.
        '\u{2024}' | '\u{FF0E}' => '.',
        '\u{FE6B}' => '@',
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(s: &str) -> String {
        Normalized::new(s).expect("normalizes").text
    }

    #[test]
    fn disguises_become_plain() {
        assert_eq!(view("１３８１２３４５６７８"), "13812345678");
        assert_eq!(view("jo\u{200B}hn＠example．com"), "john@example.com");
        assert_eq!(view("4111\u{00A0}1111\u{2007}1111\u{3000}1111"), "4111 1111 1111 1111");
        assert_eq!(view("+1\u{2010}415\u{2212}555\u{2013}0132"), "+1-415-555-0132");
        assert_eq!(view("٠١٢٣ ४५६"), "0123 456");
        assert_eq!(view("a  \t b\nc"), "a b\nc");
        assert_eq!(view("Zoë 王伟"), "Zoë 王伟");
        assert_eq!(view("1\u{FE0F}\u{20E3}3\u{FE0F}\u{20E3}8\u{FE0F}\u{20E3}"), "138");
        assert_eq!(view("1\u{332}3\u{332}8\u{332}"), "138");
        assert_eq!(view("13\u{1}8\u{85}1"), "1381");
        assert!(Normalized::new(&"\u{FDFA}".repeat(100)).is_none(), "an elevenfold expansion is refused");
    }

    #[test]
    fn spans_map_back_to_the_whole_original_value() {
        let original = "call １３８\u{200B}１２３４５６７８ now";
        let n = Normalized::new(original).expect("normalizes");
        let start = n.text.find("138").expect("digits folded");
        let (s, e) = n.original(original, start, start + 11).expect("maps back");
        assert_eq!(&original[s..e], "１３８\u{200B}１２３４５６７８");
        assert!(n.original(original, 3, 3).is_none());
        assert!(n.original(original, 0, n.text.len() + 1).is_none());
    }

    #[test]
    fn ascii_is_the_identity() {
        let n = Normalized::new("plain text, one space").expect("normalizes");
        assert!(n.is_identity());
        assert_eq!(n.original("plain text, one space", 0, 5), Some((0, 5)));
    }
}
