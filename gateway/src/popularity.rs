//! Popularity prediction, the parts without a clock: which topic a request is about (a
//! bounded set: the declared topics and `other`), the per-interval counts kept of them,
//! the two baselines (frequency, and a sequence model: Holt's linear trend per topic), the
//! edge model's request in the paper's prompt style, and hit-rate@N. Shared by the
//! gateway's forecaster and the `popularity_eval` example, so what is measured is what
//! runs.

use std::collections::VecDeque;

use netgpt_crds::TopicSpec;
use netgpt_crds::graph::OTHER_TOPIC;
use serde_json::{Value, json};

/// Tokens a prediction may take: a JSON list of ten topic names is well under this.
pub const PREDICTION_TOKENS: u64 = 96;

/// The built-in catalogue of everyday requests at a site (used when a step declares no
/// topics): name and keywords.
pub const BUILT_IN_TOPICS: &[(&str, &[&str])] = &[
    (
        "food",
        &[
            "restaurant",
            "dinner",
            "lunch",
            "breakfast",
            "brunch",
            "eat",
            "food",
            "meal",
            "dumpling",
            "noodle",
            "hotpot",
            "cuisine",
            "snack",
            "takeaway",
            "vegetarian",
            "seafood",
            "pizza",
            "burger",
        ],
    ),
    ("coffee", &["coffee", "cafe", "café", "latte", "espresso", "cappuccino", "tea house", "bubble tea", "bakery"]),
    ("nightlife", &["bar", "pub", "nightlife", "cocktail", "beer", "karaoke", "club", "live music", "rooftop"]),
    (
        "transport",
        &[
            "metro",
            "subway",
            "bus",
            "taxi",
            "train",
            "station",
            "airport",
            "ferry",
            "route",
            "directions",
            "get to",
            "ride",
            "transit",
            "bike",
        ],
    ),
    ("parking", &["parking", "car park", "park my car", "ev charger", "charging station", "garage"]),
    (
        "sights",
        &[
            "museum",
            "sightseeing",
            "sight",
            "attraction",
            "landmark",
            "temple",
            "tour",
            "gallery",
            "skyline",
            "viewpoint",
            "old town",
            "historic",
        ],
    ),
    (
        "shopping",
        &["shop", "shopping", "mall", "store", "buy", "market", "boutique", "souvenir", "supermarket", "groceries"],
    ),
    (
        "events",
        &[
            "concert",
            "event",
            "exhibition",
            "festival",
            "show",
            "tickets",
            "theater",
            "theatre",
            "cinema",
            "movie",
            "match",
        ],
    ),
    ("weather", &["weather", "rain", "umbrella", "temperature", "forecast", "typhoon", "sunny", "snow"]),
    (
        "health",
        &["hospital", "doctor", "clinic", "pharmacy", "medicine", "dentist", "fever", "emergency", "injured", "sick"],
    ),
    ("lodging", &["hotel", "hostel", "accommodation", "check-in", "check in", "room for tonight", "stay overnight"]),
    (
        "services",
        &[
            "bank",
            "atm",
            "post office",
            "wifi",
            "sim card",
            "laundry",
            "repair",
            "print",
            "currency exchange",
            "power bank",
        ],
    ),
    ("fitness", &["gym", "running", "jogging", "swim", "swimming", "yoga", "fitness", "workout", "tennis"]),
    ("family", &["kids", "children", "child", "playground", "zoo", "aquarium", "family", "baby", "stroller"]),
];

/// Decides a request's topic by keywords: the topic with the most keyword matches wins
/// (the first declared on a tie); none matched is `other`.
#[derive(Clone, Debug)]
pub struct TopicMatcher {
    names: Vec<String>,
    /// Each keyword as lower-case words, with its topic.
    keywords: Vec<(Vec<String>, usize)>,
}

impl TopicMatcher {
    /// The matcher for `topics`, or for [`BUILT_IN_TOPICS`] when there are none.
    pub fn new(topics: &[TopicSpec]) -> Self {
        let declared: Vec<(String, Vec<String>)> = if topics.is_empty() {
            BUILT_IN_TOPICS
                .iter()
                .map(|(name, words)| (name.to_string(), words.iter().map(|w| w.to_string()).collect()))
                .collect()
        } else {
            topics.iter().map(|t| (t.name.clone(), t.keywords.clone())).collect()
        };
        let mut keywords = Vec::new();
        for (topic, (_, words)) in declared.iter().enumerate() {
            for word in words {
                let parts = words_of(word);
                if !parts.is_empty() {
                    keywords.push((parts, topic));
                }
            }
        }
        Self { names: declared.into_iter().map(|(name, _)| name).collect(), keywords }
    }

    /// The declared topics and, last, `other`.
    pub fn labels(&self) -> Vec<&str> {
        self.names.iter().map(String::as_str).chain(std::iter::once(OTHER_TOPIC)).collect()
    }

    /// The declared topics (without `other`).
    pub fn topics(&self) -> &[String] {
        &self.names
    }

    /// Index into [`TopicMatcher::labels`]; `other` is the last.
    pub fn classify(&self, text: &str) -> usize {
        let words = words_of(text);
        let mut score = vec![0usize; self.names.len()];
        for (keyword, topic) in &self.keywords {
            if contains_phrase(&words, keyword) {
                score[*topic] += 1;
            }
        }
        let best = score.iter().copied().max().unwrap_or(0);
        if best == 0 { self.names.len() } else { score.iter().position(|&s| s == best).unwrap_or(self.names.len()) }
    }
}

/// Lower-case words of `text`: runs of letters and digits (a CJK character is a word on
/// its own, so keywords in Chinese match character by character).
fn words_of(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if is_cjk(c) {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            words.push(c.to_string());
        } else if c.is_alphanumeric() {
            word.push(c);
        } else if !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF)
}

/// Whether `phrase` occurs in `words`; its last word may carry a plural ending.
fn contains_phrase(words: &[String], phrase: &[String]) -> bool {
    let n = phrase.len();
    n > 0
        && words.len() >= n
        && words.windows(n).any(|w| {
            w[..n - 1] == phrase[..n - 1] && {
                let (last, want) = (&w[n - 1], &phrase[n - 1]);
                last == want
                    || last.strip_prefix(want.as_str()).is_some_and(|rest| rest == "s" || rest == "es")
                    || (want.ends_with('y')
                        && last.strip_suffix("ies").is_some_and(|stem| stem == &want[..want.len() - 1]))
            }
        })
}

/// Per-topic request counts of the current interval and of up to `keep` closed ones.
/// Only counts: nothing of a request but its topic's index is kept.
#[derive(Clone, Debug)]
pub struct History {
    keep: usize,
    closed: VecDeque<Vec<u32>>,
    current: Vec<u32>,
}

impl History {
    /// A history over `labels` topics (`other` included) keeping `keep` closed intervals.
    pub fn new(labels: usize, keep: usize) -> Self {
        Self { keep: keep.max(1), closed: VecDeque::new(), current: vec![0; labels] }
    }

    /// Counts one request of topic `label`.
    pub fn record(&mut self, label: usize) {
        if let Some(c) = self.current.get_mut(label) {
            *c = c.saturating_add(1);
        }
    }

    /// Ends the current interval; returns its counts.
    pub fn close(&mut self) -> Vec<u32> {
        let fresh = vec![0; self.current.len()];
        let done = std::mem::replace(&mut self.current, fresh);
        self.closed.push_back(done.clone());
        while self.closed.len() > self.keep {
            self.closed.pop_front();
        }
        done
    }

    /// The closed intervals, oldest first.
    pub fn closed(&self) -> impl ExactSizeIterator<Item = &[u32]> + Clone {
        self.closed.iter().map(Vec::as_slice)
    }

    /// The counts of the interval in progress.
    pub fn current(&self) -> &[u32] {
        &self.current
    }
}

/// The `n` topics (never `other`) with the highest score, the first declared on a tie;
/// topics scoring zero are not predicted.
fn top_by(scores: &[f64], n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).filter(|&t| scores[t] > 0.0).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order.truncate(n);
    order
}

/// Frequency baseline: the topics requested most over the whole history.
pub fn frequency_baseline<'a>(closed: impl Iterator<Item = &'a [u32]>, topics: usize, n: usize) -> Vec<usize> {
    let mut total = vec![0.0; topics];
    for interval in closed {
        for (t, &c) in interval.iter().take(topics).enumerate() {
            total[t] += f64::from(c);
        }
    }
    top_by(&total, n)
}

/// Sequence baseline: each topic's count forecast one interval ahead by Holt's linear
/// exponential smoothing (level α = 0.5, trend β = 0.3), so rising topics overtake
/// falling ones before their totals do.
pub fn sequence_baseline<'a>(closed: impl Iterator<Item = &'a [u32]>, topics: usize, n: usize) -> Vec<usize> {
    const ALPHA: f64 = 0.5;
    const BETA: f64 = 0.3;
    let mut state: Vec<Option<(f64, f64)>> = vec![None; topics];
    for interval in closed {
        for (t, &c) in interval.iter().take(topics).enumerate() {
            let x = f64::from(c);
            state[t] = Some(match state[t] {
                None => (x, 0.0),
                Some((level, trend)) => {
                    let next = ALPHA * x + (1.0 - ALPHA) * (level + trend);
                    (next, BETA * (next - level) + (1.0 - BETA) * trend)
                }
            });
        }
    }
    let forecast: Vec<f64> = state.iter().map(|s| s.map_or(0.0, |(l, t)| (l + t).max(0.0))).collect();
    top_by(&forecast, n)
}

/// The chat request that asks `model` for the next interval's `n` most requested topics,
/// in the paper's style: the site's request history as text, one line per interval with
/// its topics by count, and the question; the answer is constrained to a JSON list of `n`
/// topic names.
pub fn prediction_request<'a>(
    model: &str,
    site: &str,
    interval_seconds: u64,
    topics: &[String],
    closed: impl Iterator<Item = &'a [u32]>,
    n: usize,
) -> Value {
    let mut history = String::new();
    let closed: Vec<&[u32]> = closed.collect();
    let count = closed.len();
    for (i, interval) in closed.iter().enumerate() {
        let mut ranked: Vec<usize> = (0..topics.len()).filter(|&t| interval.get(t).copied().unwrap_or(0) > 0).collect();
        ranked.sort_by(|&a, &b| interval[b].cmp(&interval[a]).then(a.cmp(&b)));
        let items: Vec<String> = ranked.iter().map(|&t| format!("{} {}", topics[t], interval[t])).collect();
        let line = if items.is_empty() { "no requests".to_string() } else { items.join(", ") };
        history.push_str(&format!("Interval t-{}: {line}\n", count - i));
    }
    let minutes = interval_seconds as f64 / 60.0;
    let user = format!(
        "Requests received by base station {site} in each of the last {count} intervals of {minutes} minutes, \
         by topic (most requested first):\n{history}\
         Which {n} topics will be requested most in the next interval (t)? Choose from: {}.",
        topics.join(", ")
    );
    let schema = json!({
        "type": "object",
        "properties": {"top": {"type": "array", "items": {"enum": topics}, "minItems": n, "maxItems": n}},
        "required": ["top"],
        "additionalProperties": false,
    });
    json!({
        "model": model,
        "messages": [
            {"role": "system", "content": "You predict demand at the edge of a mobile network. Answer with JSON only."},
            {"role": "user", "content": user},
        ],
        "response_format": {"type": "json_schema", "json_schema": {"name": "popularity", "strict": true, "schema": schema}},
        "temperature": 0.0,
        "max_tokens": PREDICTION_TOKENS,
    })
}

/// Reads the model's answer: topic indices in its order, repeats dropped, then filled up
/// to `n` from `fill` (a baseline) if the model repeated itself.
pub fn parse_prediction(text: &str, topics: &[String], n: usize, fill: &[usize]) -> Result<Vec<usize>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("the prediction is not JSON: {e}"))?;
    let names = value["top"].as_array().ok_or("the prediction has no \"top\" list")?;
    let mut out: Vec<usize> = Vec::with_capacity(n);
    for name in names {
        let name = name.as_str().ok_or("a predicted topic is not a string")?;
        let t = topics.iter().position(|x| x == name).ok_or_else(|| format!("{name:?} is not a topic"))?;
        if !out.contains(&t) && out.len() < n {
            out.push(t);
        }
    }
    for &t in fill {
        if out.len() >= n {
            break;
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

/// Hits of `predicted` among the interval's `n` most requested topics (`actual`: counts
/// per label; `other` never counts), and the number of places there were to hit: `n`, or
/// fewer when fewer topics were requested at all. A topic tied with the `n`-th counts as
/// among them. `None` for an interval without requests of any declared topic.
pub fn hits_at_n(predicted: &[usize], actual: &[u32], topics: usize, n: usize) -> Option<(usize, usize)> {
    let mut requested: Vec<usize> = (0..topics.min(actual.len())).filter(|&t| actual[t] > 0).collect();
    if requested.is_empty() {
        return None;
    }
    requested.sort_by(|&a, &b| actual[b].cmp(&actual[a]));
    let places = n.min(requested.len());
    let cutoff = actual[requested[places - 1]];
    let hits = predicted.iter().take(n).filter(|&&t| t < topics && actual[t] >= cutoff && actual[t] > 0).count();
    Some((hits.min(places), places))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher() -> TopicMatcher {
        TopicMatcher::new(&[])
    }

    fn label(m: &TopicMatcher, text: &str) -> String {
        m.labels()[m.classify(text)].to_string()
    }

    #[test]
    fn requests_get_the_topic_their_words_name() {
        let m = matcher();
        assert_eq!(label(&m, "Where can I get a good dinner tonight?"), "food");
        assert_eq!(label(&m, "any dumplings near me"), "food", "plural");
        assert_eq!(label(&m, "How do I get to the airport by metro?"), "transport");
        assert_eq!(label(&m, "Is there a pharmacy open now?"), "health");
        assert_eq!(label(&m, "cafés with wifi"), "coffee", "a tie goes to the first declared");
        assert_eq!(label(&m, "Tell me a joke"), "other");
        assert_eq!(label(&m, "barbecue"), "other", "keywords match whole words");
        let zh = TopicMatcher::new(&[TopicSpec { name: "coffee".into(), keywords: vec!["咖啡".into()] }]);
        assert_eq!(label(&zh, "附近有咖啡店吗"), "coffee");
    }

    #[test]
    fn history_keeps_only_counts_of_the_last_intervals() {
        let mut h = History::new(3, 2);
        h.record(0);
        h.record(0);
        h.record(2);
        h.record(7); // out of range: ignored
        assert_eq!(h.close(), [2, 0, 1]);
        h.record(1);
        h.close();
        h.close();
        let closed: Vec<&[u32]> = h.closed().collect();
        assert_eq!(closed, [&[0, 1, 0][..], &[0, 0, 0][..]]);
    }

    #[test]
    fn baselines_differ_on_a_trend() {
        // Topic 0 was big and is fading, topic 1 is rising fast.
        let closed: Vec<Vec<u32>> = vec![vec![20, 0, 1], vec![14, 4, 1], vec![8, 9, 1], vec![4, 14, 1]];
        let iter = || closed.iter().map(Vec::as_slice);
        assert_eq!(frequency_baseline(iter(), 2, 1), [0]);
        assert_eq!(sequence_baseline(iter(), 2, 1), [1]);
        assert_eq!(sequence_baseline(iter(), 2, 5), [1, 0], "never more than the requested topics, never other");
    }

    #[test]
    fn hit_rate_counts_ties_and_short_intervals_fairly() {
        assert_eq!(hits_at_n(&[0, 1, 2], &[5, 3, 3, 1, 9], 4, 2), Some((2, 2)), "2 is tied with the 2nd");
        assert_eq!(hits_at_n(&[3, 2], &[5, 0, 0, 0, 9], 4, 2), Some((0, 1)), "one place when one topic was asked");
        assert_eq!(hits_at_n(&[0], &[0, 0, 7], 2, 1), None, "only other");
    }

    #[test]
    fn predictions_are_read_strictly_and_filled() {
        let topics: Vec<String> = ["food", "coffee", "bus"].map(String::from).into();
        assert_eq!(parse_prediction(r#"{"top": ["bus", "bus"]}"#, &topics, 2, &[2, 0]), Ok(vec![2, 0]));
        assert!(parse_prediction(r#"{"top": ["tea"]}"#, &topics, 1, &[]).is_err());
        assert!(parse_prediction("food", &topics, 1, &[]).is_err());
        let req = prediction_request("m", "pudong", 300, &topics, [&[3u32, 0, 5, 1][..]].into_iter(), 2);
        let user = req["messages"][1]["content"].as_str().expect("text");
        assert!(user.contains("Interval t-1: bus 5, food 3\n"), "{user}");
        assert_eq!(req["response_format"]["json_schema"]["schema"]["properties"]["top"]["maxItems"], 2);
    }
}
