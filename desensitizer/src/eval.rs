//! `netgpt desensitize eval`: detection quality on a labelled corpus.
//!
//! Method as in presidio-research's span evaluator: a predicted span is a true positive when
//! it has the gold span's type and their character IoU is at least the threshold (0.9 by
//! default); each gold span matches at most one prediction. Per type and overall
//! (micro-averaged): precision, recall and F-beta with beta = 2 (recall weighs more: a
//! missed entity leaks, a spurious one only costs context). The "any PII" row ignores
//! types, as Presidio's "PII" score does.
//!
//! Corpus: JSON Lines, `{"text": "...", "spans": [{"start": 3, "end": 9, "type": "email"}]}`
//! with offsets in Unicode code points (Python string indices), types in the CRD's
//! camelCase names.

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use netgpt_crds::workflow::EntityType;
use serde::Deserialize;

use super::detect::{DetectError, Detector};
use super::entity;

/// One labelled sentence.
#[derive(Debug, Clone, Deserialize)]
pub struct Sample {
    pub text: String,
    #[serde(default)]
    pub spans: Vec<GoldSpan>,
}

impl Sample {
    /// The text of each gold span (spans out of range are skipped).
    pub fn values(&self) -> Vec<&str> {
        let chars: Vec<(usize, char)> = self.text.char_indices().collect();
        let byte = |i: usize| chars.get(i).map_or(self.text.len(), |(b, _)| *b);
        self.spans
            .iter()
            .filter(|s| s.start < s.end && s.end <= chars.len())
            .filter_map(|s| self.text.get(byte(s.start)..byte(s.end)))
            .collect()
    }
}

/// A gold entity, in code points.
#[derive(Debug, Clone, Deserialize)]
pub struct GoldSpan {
    pub start: usize,
    pub end: usize,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}:{line}: {message}")]
    Parse { path: String, line: usize, message: String },
}

/// Reads a JSONL corpus, checking spans and type names.
pub fn load_corpus(path: &Path) -> Result<Vec<Sample>, EvalError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Read { path: shown.clone(), source })?;
    let mut samples = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parse = |message: String| EvalError::Parse { path: shown.clone(), line: i + 1, message };
        let sample: Sample = serde_json::from_str(line).map_err(|e| parse(e.to_string()))?;
        let chars = sample.text.chars().count();
        for span in &sample.spans {
            if span.start >= span.end || span.end > chars {
                return Err(parse(format!("span {}..{} outside the text", span.start, span.end)));
            }
            if entity::from_name(&span.kind).is_none() {
                return Err(parse(format!("unknown entity type `{}`", span.kind)));
            }
        }
        samples.push(sample);
    }
    Ok(samples)
}

/// Counts and scores of one row.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Score {
    pub true_positives: usize,
    pub predicted: usize,
    pub gold: usize,
}

impl Score {
    pub fn precision(&self) -> f64 {
        ratio(self.true_positives, self.predicted)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.true_positives, self.gold)
    }

    /// F-beta; beta = 2 weighs recall four times as much as precision.
    pub fn f_beta(&self, beta: f64) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        let b2 = beta * beta;
        if p + r == 0.0 { 0.0 } else { (1.0 + b2) * p * r / (b2 * p + r) }
    }

    fn add(&mut self, other: &Score) {
        self.true_positives += other.true_positives;
        self.predicted += other.predicted;
        self.gold += other.gold;
    }
}

/// No predictions and no gold is a perfect score (nothing to find, nothing invented).
fn ratio(numerator: usize, denominator: usize) -> f64 {
    if denominator == 0 { 1.0 } else { numerator as f64 / denominator as f64 }
}

/// The evaluation's result.
#[derive(Debug, Clone)]
pub struct Report {
    pub per_type: Vec<(EntityType, Score)>,
    pub overall: Score,
    pub any_pii: Score,
    pub samples: usize,
    pub iou: f64,
    pub elapsed: Duration,
    /// Gold values, per type, of which some letter or digit is covered by no detection of
    /// any type: what would reach the cloud (in part) in clear. A person's leading title
    /// (`Dr`, `Mrs.`) does not count.
    pub leaked: Vec<(EntityType, usize)>,
}

impl Report {
    pub fn score(&self, kind: EntityType) -> Score {
        self.per_type.iter().find(|(k, _)| *k == kind).map(|(_, s)| *s).unwrap_or_default()
    }

    /// Gold values that would leak in part, over all types.
    pub fn leaked_total(&self) -> usize {
        self.leaked.iter().map(|(_, n)| n).sum()
    }
}

/// Whether a gold value at characters `start..end` of `chars` leaks: some letter or digit
/// of it that `covered` (by a detection) says is not covered, a person's leading title
/// aside ([`title_len`]).
pub fn left_in_clear(chars: &[char], start: usize, end: usize, person: bool, covered: impl Fn(usize) -> bool) -> bool {
    let end = end.min(chars.len());
    let from = if person { start + title_len(&chars[start.min(end)..end]) } else { start };
    (from..end).any(|c| chars[c].is_alphanumeric() && !covered(c))
}

/// Characters of a leading honorific (`Dr `, `Mrs. `) in a person's gold value: some
/// corpora put the title inside the span, but a title identifies nobody, so its letters
/// left in clear do not count as a leak.
fn title_len(value: &[char]) -> usize {
    const TITLES: &[&str] = &["mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "lord", "lady", "rev"];
    let word: String = value.iter().take_while(|c| c.is_alphabetic()).collect();
    if !TITLES.contains(&word.to_lowercase().as_str()) {
        return 0;
    }
    let mut n = word.chars().count();
    if value.get(n) == Some(&'.') {
        n += 1;
    }
    if value.get(n).is_some_and(|c| c.is_whitespace()) { n + 1 } else { 0 }
}

/// Character IoU of two half-open ranges.
fn iou(a: (usize, usize), b: (usize, usize)) -> f64 {
    let intersection = a.1.min(b.1).saturating_sub(a.0.max(b.0));
    let union = a.1.max(b.1) - a.0.min(b.0);
    if union == 0 { 0.0 } else { intersection as f64 / union as f64 }
}

/// Scores `detector` on `samples`.
pub fn evaluate(samples: &[Sample], detector: &Detector, iou_threshold: f64) -> Result<Report, DetectError> {
    let mut per_type = [Score::default(); entity::ALL.len()];
    let mut any = Score::default();
    let mut leaked = [0usize; entity::ALL.len()];
    // Compile every pattern before the clock starts: the timing is per sentence, not
    // one-off start-up.
    super::detect::warm_up();
    let _ = detector.detect("warm up 1.2.3.4 a@b.co 我叫王伟");
    let started = Instant::now();
    for sample in samples {
        // Byte offset → code point offset.
        let mut char_of = vec![0usize; sample.text.len() + 1];
        let mut n = 0;
        for (byte, c) in sample.text.char_indices() {
            for slot in char_of.iter_mut().skip(byte).take(c.len_utf8()) {
                *slot = n;
            }
            n += 1;
        }
        char_of[sample.text.len()] = n;
        let predicted: Vec<(usize, usize, EntityType)> =
            detector.detect(&sample.text)?.into_iter().map(|d| (char_of[d.start], char_of[d.end], d.kind)).collect();
        let gold: Vec<(usize, usize, EntityType)> =
            sample.spans.iter().filter_map(|s| entity::from_name(&s.kind).map(|k| (s.start, s.end, k))).collect();
        for p in &predicted {
            per_type[entity::index(p.2)].predicted += 1;
        }
        for g in &gold {
            per_type[entity::index(g.2)].gold += 1;
        }
        let chars: Vec<char> = sample.text.chars().collect();
        for g in &gold {
            if left_in_clear(&chars, g.0, g.1, g.2 == EntityType::Person, |c| {
                predicted.iter().any(|p| p.0 <= c && c < p.1)
            }) {
                leaked[entity::index(g.2)] += 1;
            }
        }
        let mut used = vec![false; predicted.len()];
        let mut used_any = vec![false; predicted.len()];
        for g in &gold {
            if let Some(i) = best_match(&predicted, &used, g, iou_threshold, true) {
                used[i] = true;
                per_type[entity::index(g.2)].true_positives += 1;
            }
            if let Some(i) = best_match(&predicted, &used_any, g, iou_threshold, false) {
                used_any[i] = true;
                any.true_positives += 1;
            }
        }
        any.predicted += predicted.len();
        any.gold += gold.len();
    }
    let elapsed = started.elapsed();
    let mut overall = Score::default();
    for score in &per_type {
        overall.add(score);
    }
    Ok(Report {
        per_type: entity::ALL.iter().copied().zip(per_type).collect(),
        overall,
        any_pii: any,
        samples: samples.len(),
        iou: iou_threshold,
        elapsed,
        leaked: entity::ALL.iter().copied().zip(leaked).collect(),
    })
}

fn best_match(
    predicted: &[(usize, usize, EntityType)],
    used: &[bool],
    gold: &(usize, usize, EntityType),
    threshold: f64,
    typed: bool,
) -> Option<usize> {
    predicted
        .iter()
        .enumerate()
        .filter(|(i, p)| !used[*i] && (!typed || p.2 == gold.2))
        .map(|(i, p)| (i, iou((p.0, p.1), (gold.0, gold.1))))
        .filter(|(_, score)| *score >= threshold)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "| entity | gold | predicted | TP | precision | recall | F2 |")?;
        writeln!(f, "|---|---:|---:|---:|---:|---:|---:|")?;
        let row = |f: &mut fmt::Formatter<'_>, name: &str, s: &Score| {
            writeln!(
                f,
                "| {name} | {} | {} | {} | {:.3} | {:.3} | {:.3} |",
                s.gold,
                s.predicted,
                s.true_positives,
                s.precision(),
                s.recall(),
                s.f_beta(2.0)
            )
        };
        for (kind, score) in &self.per_type {
            if score.gold + score.predicted > 0 {
                row(f, entity::name(*kind), score)?;
            }
        }
        row(f, "**overall (typed, micro)**", &self.overall)?;
        row(f, "any PII (type ignored)", &self.any_pii)?;
        let gold = self.any_pii.gold;
        let leaked: Vec<String> =
            self.leaked.iter().filter(|(_, n)| *n > 0).map(|(k, n)| format!("{} {n}", entity::name(*k))).collect();
        writeln!(
            f,
            "\nleaked (some letter or digit of the value left in clear, a person's title aside): {} of {gold} ({:.1} %){}{}",
            self.leaked_total(),
            100.0 * self.leaked_total() as f64 / gold.max(1) as f64,
            if leaked.is_empty() { "" } else { ": " },
            leaked.join(", ")
        )?;
        let per_sample = self.elapsed.as_secs_f64() * 1e6 / self.samples.max(1) as f64;
        writeln!(f, "\n{} sentences, char IoU >= {}, detection {:.1} µs/sentence", self.samples, self.iou, per_sample)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f2_and_iou() {
        let s = Score { true_positives: 8, predicted: 10, gold: 16 };
        assert!((s.precision() - 0.8).abs() < 1e-9);
        assert!((s.recall() - 0.5).abs() < 1e-9);
        // 5PR / (4P + R) = 5*0.4 / 3.7
        assert!((s.f_beta(2.0) - 2.0 / 3.7).abs() < 1e-9);
        assert!((iou((0, 10), (0, 9)) - 0.9).abs() < 1e-9);
        assert_eq!(iou((0, 5), (5, 9)), 0.0);
    }

    #[test]
    fn a_title_alone_in_clear_is_not_a_leak() {
        let chars = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(title_len(&chars("Dr Ann Lee")), 3);
        assert_eq!(title_len(&chars("Mrs. Ann Lee")), 5);
        assert_eq!(title_len(&chars("Drew Lee")), 0);
        let sample = Sample {
            text: "ask Dr Ann Lee now".into(),
            spans: vec![GoldSpan { start: 4, end: 14, kind: "person".into() }],
        };
        let report = evaluate(&[sample], &Detector::default(), 0.9).expect("detects");
        assert_eq!(report.leaked_total(), 0, "{report}");
    }

    #[test]
    fn scores_cjk_offsets_in_code_points() {
        let sample = Sample {
            text: "邮箱a@example.com，谢谢".into(),
            spans: vec![GoldSpan { start: 2, end: 15, kind: "email".into() }],
        };
        let report = evaluate(&[sample], &Detector::default(), 0.9).expect("detects");
        assert_eq!(report.score(EntityType::Email), Score { true_positives: 1, predicted: 1, gold: 1 });
    }
}
