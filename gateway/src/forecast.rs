//! The `popularityPrediction` step at run time: one [`Forecaster`] per step and site. Every
//! request's topic is counted as it arrives; at the end of each interval the interval is
//! closed, the prediction made for it is scored against what was asked (next to the two
//! baselines), and the edge model predicts the next interval from the history. Served at
//! `GET /v1/popularity`, as metrics, and POSTed to the step's webhook.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use netgpt_crds::PublishPolicy;
use netgpt_crds::graph::Forecast;
use netgpt_runtime::unix_seconds;
use serde_json::{Map, Value, json};

use crate::intent::post_webhook;
use crate::metrics::GatewayMetrics;
use crate::popularity::{
    History, TopicMatcher, frequency_baseline, hits_at_n, parse_prediction, prediction_request, sequence_baseline,
};

/// Where the forecaster asks for predictions.
#[derive(Clone, Debug)]
pub struct EdgeModel {
    pub url: String,
    pub model: String,
}

/// One `popularityPrediction` step of one site.
pub struct Forecaster {
    site: String,
    workflow: String,
    forecast: Forecast,
    matcher: TopicMatcher,
    edge: EdgeModel,
    http: reqwest::Client,
    metrics: GatewayMetrics,
    state: Mutex<State>,
}

/// What changes over time.
struct State {
    history: History,
    /// Start (Unix seconds) of the interval being counted.
    interval_start: u64,
    /// Starts of the closed intervals in `history`, oldest first.
    closed_starts: Vec<u64>,
    /// The prediction for the interval being counted.
    prediction: Option<Prediction>,
    /// Scores of the predictions made so far, per predictor.
    score: Score,
}

/// A published prediction.
#[derive(Clone, Debug)]
struct Prediction {
    /// The interval it is for (Unix seconds of its start).
    interval_start: u64,
    /// What was published.
    top: Vec<usize>,
    /// `model`, `frequency` or `sequence` (`publish: best`), or `fallback` (the frequency
    /// baseline, the model having failed: `reason`).
    source: &'static str,
    reason: Option<String>,
    /// The model's own pick, when it answered.
    model: Option<Vec<usize>>,
    frequency: Vec<usize>,
    sequence: Vec<usize>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Score {
    intervals: u64,
    places: u64,
    step: u64,
    frequency: u64,
    sequence: u64,
    /// The model's hits, over the places of the intervals it answered for.
    model: u64,
    model_places: u64,
}

impl Score {
    fn rate(hits: u64, places: u64) -> Option<f64> {
        (places > 0).then(|| hits as f64 / places as f64)
    }

    /// The predictor with the best hit rate so far; the model on a tie or before any
    /// score, then the sequence baseline. A model that has not answered for any scored
    /// interval has no rate and does not compete.
    fn best(&self) -> &'static str {
        let unscored = if self.places == 0 { f64::INFINITY } else { f64::NEG_INFINITY };
        let model = Self::rate(self.model, self.model_places).unwrap_or(unscored);
        let sequence = Self::rate(self.sequence, self.places).unwrap_or(0.0);
        let frequency = Self::rate(self.frequency, self.places).unwrap_or(0.0);
        if model >= sequence && model >= frequency {
            "model"
        } else if sequence >= frequency {
            "sequence"
        } else {
            "frequency"
        }
    }
}

impl Forecaster {
    pub fn new(
        site: &str,
        workflow: &str,
        forecast: Forecast,
        edge: EdgeModel,
        http: reqwest::Client,
        metrics: GatewayMetrics,
    ) -> Self {
        let matcher = TopicMatcher::new(&forecast.spec.topics);
        metrics.initialize_forecast(site, &forecast.name, &matcher.labels());
        let history = History::new(matcher.labels().len(), forecast.spec.history_intervals.max(1) as usize);
        Self {
            site: site.to_string(),
            workflow: workflow.to_string(),
            matcher,
            edge,
            http,
            metrics,
            state: Mutex::new(State {
                history,
                interval_start: unix_seconds(),
                closed_starts: Vec::new(),
                prediction: None,
                score: Score::default(),
            }),
            forecast,
        }
    }

    /// Length of one interval.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.forecast.spec.interval_seconds.max(1) as u64)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves counts that are still counts.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts a request. The prompt is read here and dropped: only its topic is kept.
    pub fn record(&self, prompt: &str) {
        let label = self.matcher.classify(prompt);
        self.state().history.record(label);
        let labels = self.matcher.labels();
        self.metrics.topic_requests.with_label_values(&[&self.site, &self.forecast.name, labels[label]]).inc();
    }

    /// Ends the interval in progress: scores the prediction made for it, then predicts the
    /// next one (the edge model; on failure the frequency baseline, said so).
    pub async fn tick(&self) {
        let topics = self.matcher.topics().len();
        let n = self.forecast.spec.top_n.max(1) as usize;
        let (closed, frequency, sequence, best) = {
            let mut state = self.state();
            let counts = state.history.close();
            let start = std::mem::replace(&mut state.interval_start, unix_seconds());
            state.closed_starts.push(start);
            let keep = state.history.closed().len();
            let excess = state.closed_starts.len().saturating_sub(keep);
            state.closed_starts.drain(..excess);
            if let Some(p) = state.prediction.clone() {
                self.score(&mut state.score, &p, &counts, topics, n);
            }
            let closed: Vec<Vec<u32>> = state.history.closed().map(<[u32]>::to_vec).collect();
            let frequency = frequency_baseline(closed.iter().map(Vec::as_slice), topics, n);
            let sequence = sequence_baseline(closed.iter().map(Vec::as_slice), topics, n);
            (closed, frequency, sequence, state.score.best())
        };
        let model = self.ask_model(&closed, n, &frequency).await;
        let (top, source) = match (self.forecast.spec.publish, best, &model) {
            (PublishPolicy::Best, "sequence", _) => (sequence.clone(), "sequence"),
            (PublishPolicy::Best, "frequency", _) => (frequency.clone(), "frequency"),
            (_, _, Ok(top)) => (top.clone(), "model"),
            (_, _, Err(_)) => (frequency.clone(), "fallback"),
        };
        let reason = model.as_ref().err().cloned();
        if let (Some(reason), "fallback") = (&reason, source) {
            tracing::warn!(step = %self.forecast.name, %reason, "popularity prediction fell back to the frequency baseline");
        }
        let prediction = Prediction {
            interval_start: self.state().interval_start,
            top,
            source,
            reason,
            model: model.ok(),
            frequency,
            sequence,
        };
        self.publish(&prediction);
        self.state().prediction = Some(prediction);
    }

    fn score(&self, score: &mut Score, p: &Prediction, counts: &[u32], topics: usize, n: usize) {
        let Some((step, places)) = hits_at_n(&p.top, counts, topics, n) else { return };
        let hits = |top: &[usize]| hits_at_n(top, counts, topics, n).map_or(0, |(h, _)| h) as u64;
        let (frequency, sequence) = (hits(&p.frequency), hits(&p.sequence));
        score.intervals += 1;
        score.places += places as u64;
        score.step += step as u64;
        score.frequency += frequency;
        score.sequence += sequence;
        let (site, name) = (self.site.as_str(), self.forecast.name.as_str());
        if let Some(model) = &p.model {
            let h = hits(model);
            score.model += h;
            score.model_places += places as u64;
            self.metrics.popularity_hits.with_label_values(&[site, name, "model"]).inc_by(h);
            self.metrics.popularity_model_places.with_label_values(&[site, name]).inc_by(places as u64);
        }
        self.metrics.popularity_places.with_label_values(&[site, name]).inc_by(places as u64);
        for (predictor, h) in [("step", step as u64), ("frequency", frequency), ("sequence", sequence)] {
            self.metrics.popularity_hits.with_label_values(&[site, name, predictor]).inc_by(h);
        }
    }

    async fn ask_model(&self, closed: &[Vec<u32>], n: usize, fill: &[usize]) -> Result<Vec<usize>, String> {
        if closed.iter().all(|c| c.iter().all(|&x| x == 0)) {
            return Err("no requests yet".into());
        }
        let model = self.forecast.spec.model.as_deref().unwrap_or(&self.edge.model);
        let topics = self.matcher.topics();
        let body = prediction_request(
            model,
            &self.site,
            self.forecast.spec.interval_seconds.max(1) as u64,
            topics,
            closed.iter().map(Vec::as_slice),
            n,
        );
        let url = format!("{}/v1/chat/completions", self.edge.url.trim_end_matches('/'));
        // An interval, at least 10 s and at most a minute: a slow answer delays the next
        // interval's close (ticks are not made up for), it never overlaps another call.
        let limit = self.interval().clamp(Duration::from_secs(10), Duration::from_secs(60));
        let response =
            self.http.post(url).json(&body).timeout(limit).send().await.map_err(|e| match e.is_timeout() {
                true => format!("edge model did not answer within {} s", limit.as_secs()),
                false => format!("edge model unreachable: {e}"),
            })?;
        let status = response.status();
        let value: Value = response.json().await.map_err(|e| format!("edge model answer: {e}"))?;
        if !status.is_success() {
            return Err(format!("edge model answered {status}: {}", value["error"]["message"]));
        }
        let choice = &value["choices"][0];
        if choice["finish_reason"] == "length" {
            return Err("the prediction did not fit its token limit".into());
        }
        let text = choice["message"]["content"].as_str().ok_or("edge model answer has no content")?;
        parse_prediction(text, topics, n, fill)
    }

    fn publish(&self, p: &Prediction) {
        let (site, name) = (self.site.as_str(), self.forecast.name.as_str());
        let labels = self.matcher.labels();
        for (t, topic) in labels.iter().enumerate() {
            let rank = p.top.iter().position(|&x| x == t).map_or(0, |r| r as i64 + 1);
            self.metrics.popularity_rank.with_label_values(&[site, name, topic]).set(rank);
        }
        self.metrics.popularity_predictions.with_label_values(&[site, name, p.source]).inc();
        let Some(url) = self.forecast.spec.webhook.clone() else { return };
        let payload = json!({
            "workflow": self.workflow, "site": site, "step": name,
            "intervalStart": p.interval_start, "intervalSeconds": self.forecast.spec.interval_seconds,
            "top": self.names(&p.top), "source": p.source,
        });
        let (http, metrics, site) = (self.http.clone(), self.metrics.clone(), site.to_string());
        tokio::spawn(async move {
            let outcome = match post_webhook(&http, &url, &payload).await {
                Ok(()) => "delivered",
                Err(error) => {
                    tracing::warn!(%error, %url, "popularity webhook failed");
                    "failed"
                }
            };
            metrics.popularity_webhooks.with_label_values(&[site.as_str(), outcome]).inc();
        });
    }

    fn names(&self, top: &[usize]) -> Vec<String> {
        let labels = self.matcher.labels();
        top.iter().filter_map(|&t| labels.get(t).map(|l| l.to_string())).collect()
    }

    fn counts(&self, counts: &[u32]) -> Value {
        let labels = self.matcher.labels();
        let map: Map<String, Value> = counts
            .iter()
            .enumerate()
            .filter(|&(_, &c)| c > 0)
            .map(|(t, &c)| (labels[t].to_string(), json!(c)))
            .collect();
        Value::Object(map)
    }

    /// The step's state as `GET /v1/popularity` shows it: counts only, never prompts.
    pub fn view(&self) -> Value {
        let state = self.state();
        let history: Vec<Value> = state
            .history
            .closed()
            .zip(&state.closed_starts)
            .map(|(c, start)| json!({"start": start, "counts": self.counts(c)}))
            .collect();
        let prediction = state.prediction.as_ref().map(|p| {
            let mut v = json!({
                "intervalStart": p.interval_start, "top": self.names(&p.top), "source": p.source,
                "model": p.model.as_ref().map(|m| self.names(m)),
                "baselines": {"frequency": self.names(&p.frequency), "sequence": self.names(&p.sequence)},
            });
            if let Some(reason) = &p.reason {
                v["reason"] = Value::String(reason.clone());
            }
            v
        });
        let s = state.score;
        let rate = |hits: u64| Score::rate(hits, s.places);
        json!({
            "step": self.forecast.name,
            "intervalSeconds": self.forecast.spec.interval_seconds,
            "topN": self.forecast.spec.top_n,
            "topics": self.matcher.labels(),
            "current": {"start": state.interval_start, "counts": self.counts(state.history.current())},
            "history": history,
            "prediction": prediction,
            "evaluation": {
                "intervals": s.intervals, "places": s.places,
                "hitRate": {
                    "step": rate(s.step), "model": Score::rate(s.model, s.model_places),
                    "frequency": rate(s.frequency), "sequence": rate(s.sequence),
                },
            },
        })
    }
}

/// Runs `forecaster`'s intervals until the task is aborted.
pub fn spawn(forecaster: Arc<Forecaster>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let period = forecaster.interval();
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        // A late tick (a slow model) starts the next interval late rather than twice.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            forecaster.tick().await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::Score;

    #[test]
    fn best_is_the_model_until_a_baseline_scores_higher() {
        assert_eq!(Score::default().best(), "model", "nothing scored yet");
        let score = |model, sequence, frequency| Score {
            places: 10,
            model,
            model_places: 10,
            sequence,
            frequency,
            ..Score::default()
        };
        assert_eq!(score(6, 6, 6).best(), "model", "ties go to the model");
        assert_eq!(score(4, 7, 6).best(), "sequence");
        assert_eq!(score(4, 5, 6).best(), "frequency");
        let unanswered = Score { model_places: 0, ..score(0, 7, 6) };
        assert_eq!(unanswered.best(), "sequence", "a model that never answered does not compete");
    }
}
