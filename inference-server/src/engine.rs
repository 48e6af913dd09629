//! The generation engine: one OS thread owns the model and runs continuous batching over
//! every admitted sequence; HTTP handlers talk to it through channels.
//!
//! Each step feeds one token for every decoding sequence plus chunks of pending prompts
//! (within a token budget) through a single `LanguageModel::forward` call, so all sequences make
//! progress together and a long prompt cannot stall the others for long.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc as std_mpsc;
use std::time::Instant;

use tokio::sync::mpsc;

use crate::lora::LoraAdapter;
use crate::metrics::Metrics;
use crate::model::{KvCache, LanguageModel, SequenceStep, logits_rows};
use crate::prefix_cache::PrefixCache;
use crate::sampler::{SampledToken, Sampler, SamplingParams};
use crate::structured::Constraint;
use crate::text_stream::{IncrementalDecoder, StopCheck, StopMatcher};
use crate::tokenizer::TextTokenizer;

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// End-of-generation token or a stop sequence.
    Stop,
    /// `max_tokens` or the context length was reached.
    Length,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
        }
    }
}

/// A generated token as the API reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    pub id: u32,
    pub text: String,
    pub bytes: Vec<u8>,
    pub logprob: f32,
    pub top: Vec<TopLogprob>,
}

/// One alternative of [`TokenLogprob::top`].
#[derive(Debug, Clone, PartialEq)]
pub struct TopLogprob {
    pub text: String,
    pub bytes: Vec<u8>,
    pub logprob: f32,
}

/// What the engine tells a waiting handler.
#[derive(Debug, Clone, PartialEq)]
pub enum GenerationEvent {
    /// New text and the tokens that produced it (the text may lag the tokens while a
    /// partial character or a possible stop sequence is held back).
    Delta { text: String, tokens: Vec<TokenLogprob> },
    /// Generation ended.
    Finished { reason: FinishReason, prompt_tokens: usize, completion_tokens: usize },
    /// The model failed; the request cannot complete.
    Failed { message: String },
}

/// A request for the engine.
#[derive(Debug)]
pub struct GenerationRequest {
    pub prompt_ids: Vec<u32>,
    pub max_tokens: usize,
    pub sampling: SamplingParams,
    pub stop: Vec<String>,
    /// The adapter this request generates with, held until it ends (a replaced or
    /// unloaded adapter stays alive for the requests that started with it).
    pub adapter: Option<Arc<LoraAdapter>>,
    /// A grammar the output must follow (structured output); its mask is applied to
    /// this sequence's logits only.
    pub constraint: Option<Constraint>,
}

/// Why a request was not admitted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubmitError {
    #[error("the server is at capacity ({capacity} requests running or queued)")]
    QueueFull { capacity: usize },
    #[error("the generation engine has stopped")]
    EngineStopped,
}

/// Sizes of the engine's admission and batching.
#[derive(Debug, Clone, Copy)]
pub struct EngineLimits {
    /// Sequences generated at once.
    pub max_running: usize,
    /// Requests that may wait for a slot.
    pub max_queued: usize,
    /// Prompt and decode tokens fed through the model per step.
    pub step_token_budget: usize,
    /// Positions a sequence may reach (prompt plus completion).
    pub context_length: usize,
    /// Bytes kept for the caches of finished prompts ([`PrefixCache`]); 0: no reuse.
    pub prefix_cache_bytes: usize,
}

/// Counts admitted requests; the count drops when the engine is done with one.
struct AdmissionPermit {
    outstanding: Arc<AtomicUsize>,
}

impl Drop for AdmissionPermit {
    fn drop(&mut self) {
        self.outstanding.fetch_sub(1, Ordering::AcqRel);
    }
}

struct Submission {
    request: GenerationRequest,
    events: mpsc::UnboundedSender<GenerationEvent>,
    received_at: Instant,
    _permit: AdmissionPermit,
}

/// Handle for submitting work; cloning shares the same engine. The engine thread exits
/// once every handle is dropped and its sequences have finished.
#[derive(Clone)]
pub struct EngineHandle {
    sender: std_mpsc::Sender<Submission>,
    outstanding: Arc<AtomicUsize>,
    capacity: usize,
    metrics: Metrics,
}

impl EngineHandle {
    /// Queues a request; the receiver yields its events until `Finished` or `Failed`.
    /// Dropping the receiver cancels the generation.
    pub fn submit(&self, request: GenerationRequest) -> Result<mpsc::UnboundedReceiver<GenerationEvent>, SubmitError> {
        let admitted = self
            .outstanding
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.capacity).then_some(n + 1))
            .is_ok();
        if !admitted {
            self.metrics.requests_rejected.inc();
            return Err(SubmitError::QueueFull { capacity: self.capacity });
        }
        let permit = AdmissionPermit { outstanding: self.outstanding.clone() };
        let (events, receiver) = mpsc::unbounded_channel();
        self.sender
            .send(Submission { request, events, received_at: Instant::now(), _permit: permit })
            .map_err(|_| SubmitError::EngineStopped)?;
        Ok(receiver)
    }

    /// Requests admitted and not yet finished.
    pub fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::Acquire)
    }
}

/// Starts the engine thread that owns `model`.
pub fn start_engine(
    model: Box<dyn LanguageModel>,
    tokenizer: TextTokenizer,
    limits: EngineLimits,
    metrics: Metrics,
) -> std::io::Result<(EngineHandle, std::thread::JoinHandle<()>)> {
    let (sender, receiver) = std_mpsc::channel();
    let handle = EngineHandle {
        sender,
        outstanding: Arc::new(AtomicUsize::new(0)),
        capacity: limits.max_running.max(1) + limits.max_queued,
        metrics: metrics.clone(),
    };
    let engine = Engine {
        model,
        tokenizer,
        limits,
        metrics,
        waiting: VecDeque::new(),
        running: Vec::new(),
        prefix_cache: PrefixCache::new(limits.prefix_cache_bytes),
    };
    let thread = std::thread::Builder::new().name("netgpt-engine".into()).spawn(move || engine.run(receiver))?;
    Ok((handle, thread))
}

struct Sequence {
    submission: Submission,
    cache: KvCache,
    /// Prompt followed by the generated tokens.
    context: Vec<u32>,
    generated: Vec<u32>,
    sampler: Sampler,
    constraint: Option<Constraint>,
    decoder: IncrementalDecoder,
    stops: StopMatcher,
    /// Tokens whose text has not been released yet.
    unreported: Vec<TokenLogprob>,
    last_token_at: Option<Instant>,
}

enum Outcome {
    Continue,
    Finished(FinishReason),
    Failed(String),
}

struct Engine {
    model: Box<dyn LanguageModel>,
    tokenizer: TextTokenizer,
    limits: EngineLimits,
    metrics: Metrics,
    waiting: VecDeque<Submission>,
    running: Vec<Sequence>,
    prefix_cache: PrefixCache,
}

impl Engine {
    fn run(mut self, receiver: std_mpsc::Receiver<Submission>) {
        loop {
            if self.running.is_empty() && self.waiting.is_empty() {
                // Idle: publish the empty queue before blocking, or the gauges would keep
                // showing the last finished request until the next one arrives.
                self.update_gauges();
                match receiver.recv() {
                    Ok(submission) => self.waiting.push_back(submission),
                    Err(_) => break,
                }
            }
            while let Ok(submission) = receiver.try_recv() {
                self.waiting.push_back(submission);
            }
            self.drop_cancelled();
            self.admit();
            self.update_gauges();
            if !self.running.is_empty() {
                // A panic inside the model code must not take the engine (and with it
                // every later request) down: fail the running sequences instead.
                let stepped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.step()));
                if stepped.is_err() {
                    tracing::error!("forward step panicked; failing the running requests");
                    let failed = (0..self.running.len())
                        .map(|index| (index, Outcome::Failed("internal model error".into())))
                        .collect();
                    self.finish_many(failed);
                }
            }
        }
        self.update_gauges();
        tracing::info!("generation engine stopped");
    }

    fn update_gauges(&self) {
        self.metrics.requests_queued.set(self.waiting.len() as i64);
        self.metrics.requests_running.set(self.running.len() as i64);
    }

    /// Forgets requests whose client has gone away.
    fn drop_cancelled(&mut self) {
        let before = self.waiting.len() + self.running.len();
        self.waiting.retain(|s| !s.events.is_closed());
        self.running.retain(|s| !s.submission.events.is_closed());
        let cancelled = before - self.waiting.len() - self.running.len();
        if cancelled > 0 {
            self.metrics.requests_finished.with_label_values(&["cancelled"]).inc_by(cancelled as u64);
        }
    }

    fn admit(&mut self) {
        while self.running.len() < self.limits.max_running.max(1) {
            let Some(mut submission) = self.waiting.pop_front() else {
                break;
            };
            self.metrics.prompt_tokens.inc_by(submission.request.prompt_ids.len() as u64);
            let context = submission.request.prompt_ids.clone();
            let sampler = Sampler::new(submission.request.sampling.clone());
            let stops = StopMatcher::new(submission.request.stop.clone());
            // Start from a finished prompt's keys and values where this one starts alike.
            let cache = match self.prefix_cache.reuse(&context, submission.request.adapter.as_ref()) {
                Some(reused) => {
                    self.metrics.prefix_cache_hits.inc();
                    self.metrics.prefix_cache_reused_tokens.inc_by(reused.tokens as u64);
                    reused.cache
                }
                None => self.model.new_cache(),
            };
            self.running.push(Sequence {
                cache,
                context,
                generated: Vec::new(),
                sampler,
                constraint: submission.request.constraint.take(),
                decoder: IncrementalDecoder::default(),
                stops,
                unreported: Vec::new(),
                last_token_at: None,
                submission,
            });
        }
    }

    /// Token ranges of `context` each running sequence feeds this step: decoding sequences
    /// first (one token each), then prompt chunks while the budget lasts.
    fn plan_step(&self) -> Vec<(usize, usize, usize)> {
        let mut budget = self.limits.step_token_budget.max(1);
        let mut plan = Vec::new();
        for (index, sequence) in self.running.iter().enumerate() {
            let remaining = sequence.context.len() - sequence.cache.len();
            if remaining == 1 {
                plan.push((index, sequence.cache.len(), 1));
                budget = budget.saturating_sub(1);
            }
        }
        for (index, sequence) in self.running.iter().enumerate() {
            let remaining = sequence.context.len() - sequence.cache.len();
            if remaining > 1 && budget > 0 {
                let take = remaining.min(budget);
                plan.push((index, sequence.cache.len(), take));
                budget -= take;
            }
        }
        plan
    }

    fn step(&mut self) {
        let plan = self.plan_step();
        if plan.is_empty() {
            return;
        }
        let logits = {
            // Borrow each planned sequence's cache mutably, in plan order.
            let mut caches: Vec<Option<&mut Sequence>> = self.running.iter_mut().map(Some).collect();
            let mut steps = Vec::with_capacity(plan.len());
            let mut adapters = Vec::with_capacity(plan.len());
            for &(index, start, len) in &plan {
                let Some(sequence) = caches[index].take() else {
                    continue;
                };
                adapters.push(sequence.submission.request.adapter.as_deref());
                steps.push(SequenceStep { tokens: &sequence.context[start..start + len], cache: &mut sequence.cache });
            }
            self.model.forward_with_adapters(&mut steps, &adapters).and_then(|l| logits_rows(&l))
        };
        let rows = match logits {
            Ok(rows) => rows,
            Err(error) => {
                tracing::error!(%error, "forward step failed");
                let message = error.to_string();
                let failed: Vec<usize> = plan.iter().map(|(index, _, _)| *index).collect();
                self.finish_many(failed.into_iter().map(|i| (i, Outcome::Failed(message.clone()))).collect());
                return;
            }
        };
        // Sequences whose prompt is fully processed sample a token from their row.
        let mut row_of: Vec<Option<&[f32]>> = vec![None; self.running.len()];
        for (&(index, _, _), row) in plan.iter().zip(rows.iter()) {
            let sequence = &self.running[index];
            if sequence.cache.len() >= sequence.context.len() {
                row_of[index] = Some(row);
            }
        }
        let sample = |(index, sequence): (usize, &mut Sequence)| {
            let row = row_of[index]?;
            // A constrained sequence samples only what its grammar allows next.
            let mask = match sequence.constraint.as_mut().map(Constraint::mask).transpose() {
                Ok(mask) => mask,
                Err(error) => return Some((index, Err(error.to_string()))),
            };
            Some((index, Ok(sequence.sampler.sample(row, &sequence.context, &sequence.generated, mask.as_ref()))))
        };
        // Each sampler reads a whole vocabulary of logits (and a grammar computes its
        // mask): with many sequences, on every pool thread rather than one after another.
        let sampled: Vec<(usize, Result<SampledToken, String>)> = if row_of.iter().flatten().count() > 1 {
            use rayon::prelude::*;
            self.running.par_iter_mut().enumerate().filter_map(sample).collect()
        } else {
            self.running.iter_mut().enumerate().filter_map(sample).collect()
        };
        let mut outcomes = Vec::new();
        for (index, token) in sampled {
            let outcome = match token {
                Ok(token) => self.accept_token(index, token),
                Err(message) => Outcome::Failed(message),
            };
            if !matches!(outcome, Outcome::Continue) {
                outcomes.push((index, outcome));
            }
        }
        self.finish_many(outcomes);
    }

    /// Records a sampled token for sequence `index` and reports any released text.
    fn accept_token(&mut self, index: usize, token: SampledToken) -> Outcome {
        let context_length = self.limits.context_length;
        let tokenizer = &self.tokenizer;
        let metrics = &self.metrics;
        let sequence = &mut self.running[index];
        let now = Instant::now();
        match sequence.last_token_at {
            None => metrics.time_to_first_token.observe((now - sequence.submission.received_at).as_secs_f64()),
            Some(previous) => metrics.inter_token_latency.observe((now - previous).as_secs_f64()),
        }
        sequence.last_token_at = Some(now);

        if let Some(constraint) = sequence.constraint.as_mut()
            && !tokenizer.is_end_of_generation(token.id)
            && let Err(error) = constraint.consume(token.id)
        {
            return Outcome::Failed(error.to_string());
        }
        if tokenizer.is_end_of_generation(token.id) {
            return Outcome::Finished(FinishReason::Stop);
        }
        metrics.generation_tokens.inc();
        sequence.generated.push(token.id);
        sequence.context.push(token.id);
        sequence.unreported.push(token_logprob(tokenizer, &token));

        let text = match sequence.decoder.push(tokenizer, token.id) {
            Ok(text) => text,
            Err(error) => return Outcome::Failed(error.to_string()),
        };
        let (released, stopped) = match sequence.stops.push(&text) {
            StopCheck::Continue(released) => (released, false),
            StopCheck::Stopped(before) => (before, true),
        };
        if !released.is_empty() {
            let tokens = std::mem::take(&mut sequence.unreported);
            // A send error means the client left; the next step drops the sequence.
            let _ = sequence.submission.events.send(GenerationEvent::Delta { text: released, tokens });
        }
        // A complete structured output ends here (its grammar would allow only the end).
        if stopped || sequence.constraint.as_ref().is_some_and(Constraint::is_complete) {
            Outcome::Finished(FinishReason::Stop)
        } else if sequence.generated.len() >= sequence.submission.request.max_tokens
            || sequence.context.len() >= context_length
        {
            Outcome::Finished(FinishReason::Length)
        } else {
            Outcome::Continue
        }
    }

    /// Sends the final events of the given sequences and removes them.
    fn finish_many(&mut self, mut outcomes: Vec<(usize, Outcome)>) {
        // Remove from the back so earlier indexes stay valid.
        outcomes.sort_unstable_by_key(|(index, _)| std::cmp::Reverse(*index));
        for (index, outcome) in outcomes {
            let mut sequence = self.running.swap_remove(index);
            let events = &sequence.submission.events;
            match outcome {
                Outcome::Continue => {}
                Outcome::Finished(reason) => {
                    let tail = sequence.stops.flush();
                    let tokens = std::mem::take(&mut sequence.unreported);
                    if !tail.is_empty() || !tokens.is_empty() {
                        let _ = events.send(GenerationEvent::Delta { text: tail, tokens });
                    }
                    let _ = events.send(GenerationEvent::Finished {
                        reason,
                        prompt_tokens: sequence.submission.request.prompt_ids.len(),
                        completion_tokens: sequence.generated.len(),
                    });
                    self.metrics.requests_finished.with_label_values(&[reason.as_str()]).inc();
                    // Kept for the next prompt that starts the same way.
                    let held = sequence.cache.len().min(sequence.context.len());
                    sequence.context.truncate(held);
                    let adapter = sequence.submission.request.adapter.clone();
                    self.prefix_cache.insert(sequence.context, adapter.as_ref(), sequence.cache);
                    self.metrics.prefix_cache_bytes.set(self.prefix_cache.used_bytes() as i64);
                }
                Outcome::Failed(message) => {
                    let _ = events.send(GenerationEvent::Failed { message });
                    self.metrics.requests_finished.with_label_values(&["error"]).inc();
                }
            }
        }
    }
}

fn token_logprob(tokenizer: &TextTokenizer, token: &SampledToken) -> TokenLogprob {
    TokenLogprob {
        id: token.id,
        text: tokenizer.token_text(token.id),
        bytes: tokenizer.token_bytes(token.id),
        logprob: token.logprob,
        top: token
            .top
            .iter()
            .map(|(id, logprob)| TopLogprob {
                text: tokenizer.token_text(*id),
                bytes: tokenizer.token_bytes(*id),
                logprob: *logprob,
            })
            .collect(),
    }
}
