//! Picks the next token from a row of logits and reports its log-probability.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::model::{exp_approx, lanes, log_sum_exp};
use crate::structured::TokenMask;

/// How many recent tokens the repetition penalty looks at (llama.cpp's default).
const REPEAT_LAST_N: usize = 64;

/// Decoding parameters of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// 0 selects greedy decoding.
    pub temperature: f32,
    /// Nucleus sampling mass in (0, 1]; 1 disables it.
    pub top_p: f32,
    /// Keep only the k most likely tokens; 0 disables it.
    pub top_k: usize,
    /// >1 discourages tokens seen in the last 64 tokens; 1 disables it.
    pub repetition_penalty: f32,
    /// OpenAI-style penalties over the generated tokens.
    pub presence_penalty: f32,
    pub frequency_penalty: f32,
    /// Fixes the random stream so sampled output is reproducible.
    pub seed: Option<u64>,
    /// Number of alternatives to report with each token's log-probability.
    pub top_logprobs: usize,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
            repetition_penalty: 1.0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            seed: None,
            top_logprobs: 0,
        }
    }
}

/// The chosen token with its log-probability under the model (before any penalty or
/// temperature: what a confidence estimate needs) and the most likely alternatives.
#[derive(Debug, Clone, PartialEq)]
pub struct SampledToken {
    pub id: u32,
    pub logprob: f32,
    pub top: Vec<(u32, f32)>,
}

/// Per-sequence sampler state: parameters and random stream.
#[derive(Debug)]
pub struct Sampler {
    params: SamplingParams,
    rng: StdRng,
    /// Reused per token: the vocabulary's unnormalized probabilities.
    weights: Vec<f32>,
}

impl Sampler {
    pub fn new(params: SamplingParams) -> Self {
        let rng = match params.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        Self { params, rng, weights: Vec::new() }
    }

    /// Chooses the next token. `context` holds the prompt and the tokens generated so far;
    /// `generated` only the latter.
    /// With a `mask` (structured output) only the tokens it allows can be chosen.
    pub fn sample(
        &mut self,
        logits: &[f32],
        context: &[u32],
        generated: &[u32],
        mask: Option<&TokenMask>,
    ) -> SampledToken {
        // Log-probabilities are the model's, before penalties and masks; only the sampled
        // token's and the requested top ones are computed (not a whole vocabulary-sized
        // vector).
        let log_sum = log_sum_exp(logits);
        let mut adjusted = self.with_penalties(logits, context, generated);
        if let Some(mask) = mask {
            let masked = adjusted.get_or_insert_with(|| logits.to_vec());
            for (id, logit) in masked.iter_mut().enumerate() {
                if !mask.allows(id as u32) {
                    *logit = f32::NEG_INFINITY;
                }
            }
        }
        let adjusted = adjusted.as_deref().unwrap_or(logits);

        let id = if self.params.temperature <= 0.0 { argmax(adjusted) } else { self.sample_distribution(adjusted) };
        let logprob = logits.get(id as usize).map_or(f32::NEG_INFINITY, |l| l - log_sum);
        let top = if self.params.top_logprobs > 0 {
            top_n(logits, self.params.top_logprobs).into_iter().map(|(id, l)| (id, l - log_sum)).collect()
        } else {
            Vec::new()
        };
        SampledToken { id, logprob, top }
    }

    /// The logits with the penalties applied, or `None` when no penalty is set.
    fn with_penalties(&self, logits: &[f32], context: &[u32], generated: &[u32]) -> Option<Vec<f32>> {
        let repetition =
            self.params.repetition_penalty > 0.0 && (self.params.repetition_penalty - 1.0).abs() > f32::EPSILON;
        if !repetition && self.params.presence_penalty == 0.0 && self.params.frequency_penalty == 0.0 {
            return None;
        }
        let mut adjusted = logits.to_vec();
        self.apply_penalties(&mut adjusted, context, generated);
        Some(adjusted)
    }

    fn apply_penalties(&self, logits: &mut [f32], context: &[u32], generated: &[u32]) {
        let penalty = self.params.repetition_penalty;
        if penalty > 0.0 && (penalty - 1.0).abs() > f32::EPSILON {
            let start = context.len().saturating_sub(REPEAT_LAST_N);
            let mut seen = context[start..].to_vec();
            seen.sort_unstable();
            seen.dedup();
            for id in seen {
                if let Some(logit) = logits.get_mut(id as usize) {
                    // Dividing a negative logit would raise it; multiply instead.
                    *logit = if *logit >= 0.0 { *logit / penalty } else { *logit * penalty };
                }
            }
        }
        if self.params.presence_penalty != 0.0 || self.params.frequency_penalty != 0.0 {
            let mut counts: HashMap<u32, usize> = HashMap::new();
            for &id in generated {
                *counts.entry(id).or_default() += 1;
            }
            for (id, count) in counts {
                if let Some(logit) = logits.get_mut(id as usize) {
                    *logit -= self.params.presence_penalty + self.params.frequency_penalty * count as f32;
                }
            }
        }
    }

    /// Plain temperature sampling: one vectorized pass writes every token's weight and
    /// sums chunks of them; the draw finds its chunk from the sums, then its token.
    fn sample_whole_vocabulary(&mut self, logits: &[f32], temperature: f32, max: f32) -> u32 {
        const CHUNK: usize = 256;
        let inverse = 1.0 / temperature;
        self.weights.resize(logits.len(), 0.0);
        for (w, &l) in self.weights.iter_mut().zip(logits) {
            // exp_approx maps -inf to 0 and keeps NaN; NaN logits get no weight.
            let e = exp_approx(l * inverse - max);
            *w = if e.is_nan() { 0.0 } else { e };
        }
        let sums: Vec<f32> = self.weights.chunks(CHUNK).map(|c| lanes(c, 0.0, |a, w| a + w, |a, b| a + b)).collect();
        let total: f32 = sums.iter().sum();
        if total <= 0.0 || !total.is_finite() {
            return argmax(logits);
        }
        let mut threshold = self.rng.random::<f32>() * total;
        let mut last = None;
        for (chunk, &sum) in sums.iter().enumerate() {
            if sum <= 0.0 {
                continue;
            }
            let start = chunk * CHUNK;
            if threshold > sum && chunk + 1 < sums.len() {
                threshold -= sum;
                last = Some(chunk);
                continue;
            }
            for (offset, &w) in self.weights[start..(start + CHUNK).min(self.weights.len())].iter().enumerate() {
                if w > 0.0 {
                    threshold -= w;
                    if threshold <= 0.0 {
                        return (start + offset) as u32;
                    }
                }
            }
            last = Some(chunk);
        }
        // Rounding left a sliver of the total: the last token with any weight.
        last.and_then(|chunk| {
            let start = chunk * CHUNK;
            let end = (start + CHUNK).min(self.weights.len());
            (start..end).rev().find(|&i| self.weights[i] > 0.0).map(|i| i as u32)
        })
        .unwrap_or_else(|| argmax(logits))
    }

    fn sample_distribution(&mut self, logits: &[f32]) -> u32 {
        let temperature = self.params.temperature;
        let max =
            lanes(logits, f32::NEG_INFINITY, |a, l| if l.is_finite() { a.max(l) } else { a }, f32::max) / temperature;
        if !max.is_finite() {
            return argmax(logits);
        }
        if self.params.top_k == 0 && self.params.top_p >= 1.0 {
            return self.sample_whole_vocabulary(logits, temperature, max);
        }
        // Tokens more than 30 nats below the best have probability below 1e-13 of it (all
        // of them together < 1e-8): they cannot move top-p's cumulative sum in f32, so
        // they are dropped before anything is sorted. Sorting the whole vocabulary for
        // every sequence at every step cost 12 % of a 16-stream decode step.
        let floor = max - 30.0;
        let mut candidates: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .map(|(id, l)| (id as u32, l / temperature))
            .filter(|(_, l)| l.is_finite() && *l >= floor)
            .collect();
        let descending = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1);
        if self.params.top_k > 0 && self.params.top_k < candidates.len() {
            candidates.select_nth_unstable_by(self.params.top_k - 1, descending);
            candidates.truncate(self.params.top_k);
        }
        let mut probabilities: Vec<f32> = candidates.iter().map(|(_, l)| exp_approx(l - max)).collect();
        if self.params.top_p < 1.0 {
            // Only the nucleus needs the order.
            let mut paired: Vec<(u32, f32)> =
                candidates.iter().zip(&probabilities).map(|(&(id, _), &p)| (id, p)).collect();
            paired.sort_unstable_by(descending);
            let total: f32 = paired.iter().map(|(_, p)| p).sum();
            let mut cumulative = 0.0;
            let mut keep = paired.len();
            for (index, (_, p)) in paired.iter().enumerate() {
                cumulative += p / total;
                if cumulative >= self.params.top_p {
                    keep = index + 1;
                    break;
                }
            }
            paired.truncate(keep);
            candidates.clone_from(&paired);
            probabilities = paired.into_iter().map(|(_, p)| p).collect();
        }
        let total: f32 = probabilities.iter().sum();
        let mut threshold = self.rng.random::<f32>() * total;
        for (index, p) in probabilities.iter().enumerate() {
            threshold -= p;
            if threshold <= 0.0 {
                return candidates[index].0;
            }
        }
        candidates[candidates.len() - 1].0
    }
}

fn argmax(values: &[f32]) -> u32 {
    let mut best = 0usize;
    for (index, value) in values.iter().enumerate() {
        if *value > values[best] {
            best = index;
        }
    }
    best as u32
}

fn top_n(logprobs: &[f32], n: usize) -> Vec<(u32, f32)> {
    let mut indexed: Vec<(u32, f32)> = logprobs.iter().enumerate().map(|(id, lp)| (id as u32, *lp)).collect();
    let n = n.min(indexed.len());
    if n == 0 {
        return Vec::new();
    }
    indexed.select_nth_unstable_by(n - 1, |a, b| b.1.total_cmp(&a.1));
    indexed.truncate(n);
    indexed.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
    indexed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn greedy() -> SamplingParams {
        SamplingParams { temperature: 0.0, ..SamplingParams::default() }
    }

    #[test]
    fn greedy_picks_the_largest_logit_and_reports_its_logprob() {
        let mut sampler = Sampler::new(greedy());
        let token = sampler.sample(&[0.0, 2.0, 1.0], &[], &[], None);
        assert_eq!(token.id, 1);
        let expected = 2.0 - (1f32 + 2f32.exp() + 1f32.exp()).ln();
        assert!((token.logprob - expected).abs() < 1e-6);
    }

    #[test]
    fn repetition_penalty_demotes_seen_tokens() {
        let mut sampler = Sampler::new(SamplingParams { repetition_penalty: 3.0, ..greedy() });
        assert_eq!(sampler.sample(&[0.0, 2.0, 1.0], &[1], &[], None).id, 2);
    }

    #[test]
    fn seeded_sampling_is_reproducible() {
        let params = SamplingParams { temperature: 1.0, seed: Some(7), ..SamplingParams::default() };
        let logits: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut a = Sampler::new(params.clone());
        let mut b = Sampler::new(params);
        let ids_a: Vec<u32> = (0..20).map(|_| a.sample(&logits, &[], &[], None).id).collect();
        let ids_b: Vec<u32> = (0..20).map(|_| b.sample(&logits, &[], &[], None).id).collect();
        assert_eq!(ids_a, ids_b);
    }

    #[test]
    fn temperature_sampling_follows_the_softmax_across_chunks() {
        // 1,000 tokens (four weight chunks), three of them likely, in different chunks.
        let mut logits = vec![-1e9f32; 1000];
        logits[3] = 0.0;
        logits[400] = (2f32).ln();
        logits[999] = (3f32).ln();
        logits[500] = f32::NAN;
        logits[501] = f32::NEG_INFINITY;
        let mut sampler =
            Sampler::new(SamplingParams { temperature: 1.0, seed: Some(11), ..SamplingParams::default() });
        let mut counts = [0usize; 3];
        let draws = 60_000;
        for _ in 0..draws {
            match sampler.sample(&logits, &[], &[], None).id {
                3 => counts[0] += 1,
                400 => counts[1] += 1,
                999 => counts[2] += 1,
                other => panic!("sampled an impossible token {other}"),
            }
        }
        for (count, expected) in counts.iter().zip([1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0]) {
            let share = *count as f64 / draws as f64;
            assert!((share - expected).abs() < 0.01, "share {share} vs {expected}: {counts:?}");
        }
    }

    #[test]
    fn top_k_one_is_greedy() {
        let mut sampler = Sampler::new(SamplingParams { temperature: 5.0, top_k: 1, ..SamplingParams::default() });
        for _ in 0..10 {
            assert_eq!(sampler.sample(&[0.0, 2.0, 1.9], &[], &[], None).id, 1);
        }
    }

    #[test]
    fn top_logprobs_are_sorted_descending() {
        let mut sampler = Sampler::new(SamplingParams { top_logprobs: 2, ..greedy() });
        let token = sampler.sample(&[0.0, 2.0, 1.0], &[], &[], None);
        let ids: Vec<u32> = token.top.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, vec![1, 2]);
    }
}
