//! Turns generated token ids into text deltas, holding back what could still become a stop
//! sequence or is an incomplete UTF-8 character.

use crate::tokenizer::{TextTokenizer, TokenizerError};

/// Incremental detokenizer (the prefix/read-offset scheme of text-generation-inference):
/// only a short window is re-decoded per token, and nothing is released while the window
/// ends in a partial character.
#[derive(Debug, Default)]
pub struct IncrementalDecoder {
    ids: Vec<u32>,
    prefix_offset: usize,
    read_offset: usize,
}

impl IncrementalDecoder {
    /// Adds one token and returns the text it completes (possibly empty).
    pub fn push(&mut self, tokenizer: &TextTokenizer, id: u32) -> Result<String, TokenizerError> {
        self.ids.push(id);
        let prefix = tokenizer.decode(&self.ids[self.prefix_offset..self.read_offset], true)?;
        let full = tokenizer.decode(&self.ids[self.prefix_offset..], true)?;
        if full.len() > prefix.len()
            && !full.ends_with('\u{FFFD}')
            && let Some(delta) = full.get(prefix.len()..)
        {
            let delta = delta.to_string();
            self.prefix_offset = self.read_offset;
            self.read_offset = self.ids.len();
            return Ok(delta);
        }
        Ok(String::new())
    }
}

/// Result of adding text to a [`StopMatcher`].
#[derive(Debug, PartialEq, Eq)]
pub enum StopCheck {
    /// Text that can be shown now.
    Continue(String),
    /// A stop sequence was found; this is the text before it, and generation ends.
    Stopped(String),
}

/// Finds stop sequences in the generated text and withholds any tail that could be the
/// start of one, so a client never sees part of a stop sequence.
#[derive(Debug)]
pub struct StopMatcher {
    stops: Vec<String>,
    pending: String,
}

impl StopMatcher {
    pub fn new(stops: Vec<String>) -> Self {
        let stops = stops.into_iter().filter(|s| !s.is_empty()).collect();
        Self { stops, pending: String::new() }
    }

    /// Adds newly decoded text.
    pub fn push(&mut self, text: &str) -> StopCheck {
        self.pending.push_str(text);
        let earliest = self.stops.iter().filter_map(|stop| self.pending.find(stop.as_str())).min();
        if let Some(index) = earliest {
            let before = self.pending[..index].to_string();
            self.pending.clear();
            return StopCheck::Stopped(before);
        }
        let keep = self.longest_stop_prefix_suffix();
        let release_to = self.pending.len() - keep;
        let released: String = self.pending[..release_to].to_string();
        self.pending.drain(..release_to);
        StopCheck::Continue(released)
    }

    /// Whatever was held back, released at the end of generation.
    pub fn flush(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }

    /// Length in bytes of the longest suffix of `pending` that is a proper prefix of a stop
    /// sequence (always on a char boundary).
    fn longest_stop_prefix_suffix(&self) -> usize {
        let mut longest = 0;
        for stop in &self.stops {
            for (start, _) in self.pending.char_indices() {
                let suffix = &self.pending[start..];
                if suffix.len() <= longest {
                    break;
                }
                if stop.starts_with(suffix) {
                    longest = suffix.len();
                    break;
                }
            }
        }
        longest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_sequence_split_across_pushes_is_withheld_then_cut() {
        let mut matcher = StopMatcher::new(vec!["END".into()]);
        assert_eq!(matcher.push("hello E"), StopCheck::Continue("hello ".into()));
        assert_eq!(matcher.push("N"), StopCheck::Continue(String::new()));
        assert_eq!(matcher.push("D more"), StopCheck::Stopped(String::new()));
    }

    #[test]
    fn false_start_of_stop_sequence_is_released() {
        let mut matcher = StopMatcher::new(vec!["END".into()]);
        assert_eq!(matcher.push("E"), StopCheck::Continue(String::new()));
        assert_eq!(matcher.push("xit"), StopCheck::Continue("Exit".into()));
        assert_eq!(matcher.flush(), "");
    }

    #[test]
    fn text_before_stop_in_same_push_is_returned() {
        let mut matcher = StopMatcher::new(vec!["\n\n".into(), "é!".into()]);
        assert_eq!(matcher.push("café! ok"), StopCheck::Stopped("caf".into()));
    }

    #[test]
    fn without_stops_everything_passes() {
        let mut matcher = StopMatcher::new(Vec::new());
        assert_eq!(matcher.push("abc"), StopCheck::Continue("abc".into()));
    }
}
