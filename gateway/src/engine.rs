//! Runs a compiled [`StepGraph`] for one request: every step starts as soon as the steps
//! it needs have ended, independent branches run at the same time, each step is bounded
//! by its own `timeoutMs` and by what is left of the workflow's latency budget, and a
//! step whose `when` does not hold — or, without `when`, one of whose needs did not
//! succeed — is skipped, which may skip the steps after it in turn.
//!
//! What a step does is the [`StepRunner`]'s business (the gateway calls the edge model,
//! or the desensitizer in front of the cloud); this module only schedules, times and
//! records, so the same rules hold for every kind of step.

use std::future::Future;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use netgpt_crds::StepOutcome;
use netgpt_crds::graph::{Node, StepGraph};

/// What a finished step hands to the steps after it.
pub trait StepValue {
    /// The text a later step takes as its prompt.
    fn text(&self) -> &str;
    /// Confidence in [0, 1], for conditions; `None` when the step gives none.
    fn confidence(&self) -> Option<f64>;
}

/// Why a step failed.
#[derive(Clone, Debug)]
pub struct StepFailure {
    pub reason: String,
    /// The desensitizer refused or could not be reached (nothing was forwarded).
    pub privacy: bool,
}

impl StepFailure {
    pub fn new(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), privacy: false }
    }
}

/// Performs single steps.
pub trait StepRunner: Sync {
    type Output: StepValue + Send;
    /// Runs `node` on `input` (the client's prompt, or the output of the step the node
    /// takes its input from). `limit` is the time the step has; the engine enforces it.
    fn run(
        &self,
        node: &Node,
        input: String,
        limit: Duration,
    ) -> impl Future<Output = Result<Self::Output, StepFailure>> + Send;

    /// A substitute output for a step that failed (or ran out of time), where its kind
    /// has one: the step then counts as succeeded, with the failure as its reason.
    fn fallback(&self, _node: &Node, _input: &str, _failure: &StepFailure) -> Option<Self::Output> {
        None
    }
}

/// How one step went.
#[derive(Clone, Debug)]
pub struct StepRecord {
    pub outcome: StepOutcome,
    /// When the step started (or was skipped), from the start of the workflow.
    pub start: Duration,
    /// How long it ran (zero when skipped).
    pub duration: Duration,
    pub confidence: Option<f64>,
    /// Why it failed or was skipped.
    pub reason: Option<String>,
    pub privacy_failure: bool,
}

/// Every step's record and output, in the graph's order.
pub struct Execution<O> {
    pub records: Vec<StepRecord>,
    pub outputs: Vec<Option<O>>,
}

/// Runs the graph until every step has ended or been skipped. `input` is the client's
/// prompt; `deadline` ends the latency budget.
pub async fn execute<R: StepRunner>(
    graph: &StepGraph,
    runner: &R,
    input: &str,
    deadline: Instant,
) -> Execution<R::Output> {
    let n = graph.nodes.len();
    let begun = Instant::now();
    let mut records: Vec<Option<StepRecord>> = vec![None; n];
    let mut outputs: Vec<Option<R::Output>> = (0..n).map(|_| None).collect();
    let mut started = vec![false; n];
    let mut running = FuturesUnordered::new();
    loop {
        // Start (or skip) every step whose needs have ended; a skip can free the next.
        let mut progressed = true;
        while progressed {
            progressed = false;
            for (i, node) in graph.nodes.iter().enumerate() {
                if started[i] || !node.needs.iter().all(|&d| records[d].is_some()) {
                    continue;
                }
                started[i] = true;
                progressed = true;
                let start = begun.elapsed();
                if let Err(reason) = may_run(graph, i, &records) {
                    records[i] = Some(StepRecord::ended(StepOutcome::Skipped, start, Some(reason)));
                    continue;
                }
                let limit = step_limit(graph, i, deadline);
                if limit.is_zero() {
                    let reason = "the latency budget was spent before the step could start".to_string();
                    records[i] = Some(StepRecord::ended(StepOutcome::Failed, start, Some(reason)));
                    continue;
                }
                let text = match node.input {
                    Some(src) => outputs[src].as_ref().map(|o| o.text().to_string()).unwrap_or_default(),
                    None => input.to_string(),
                };
                let budget_bound = deadline.saturating_duration_since(Instant::now()) <= limit;
                running.push(async move {
                    let result = match tokio::time::timeout(limit, runner.run(node, text.clone(), limit)).await {
                        Ok(result) => result,
                        Err(_) if budget_bound => Err(StepFailure::new("the workflow's latency budget ran out")),
                        Err(_) => Err(StepFailure::new(format!("timed out after {} ms", limit.as_millis()))),
                    };
                    let result = result.map_err(|failure| match runner.fallback(node, &text, &failure) {
                        Some(output) => (Some(output), failure),
                        None => (None, failure),
                    });
                    (i, start, result)
                });
            }
        }
        let Some((i, start, result)) = running.next().await else { break };
        let duration = begun.elapsed().saturating_sub(start);
        records[i] = Some(match result {
            Ok(output) => {
                let record = StepRecord {
                    confidence: output.confidence(),
                    duration,
                    ..StepRecord::ended(StepOutcome::Succeeded, start, None)
                };
                outputs[i] = Some(output);
                record
            }
            Err((Some(substitute), failure)) => {
                let record = StepRecord {
                    confidence: substitute.confidence(),
                    duration,
                    ..StepRecord::ended(StepOutcome::Succeeded, start, Some(failure.reason))
                };
                outputs[i] = Some(substitute);
                record
            }
            Err((None, failure)) => StepRecord {
                duration,
                privacy_failure: failure.privacy,
                ..StepRecord::ended(StepOutcome::Failed, start, Some(failure.reason))
            },
        });
    }
    let records = records
        .into_iter()
        .map(|r| r.unwrap_or_else(|| StepRecord::ended(StepOutcome::Skipped, begun.elapsed(), None)))
        .collect();
    Execution { records, outputs }
}

impl StepRecord {
    fn ended(outcome: StepOutcome, start: Duration, reason: Option<String>) -> Self {
        Self { outcome, start, duration: Duration::ZERO, confidence: None, reason, privacy_failure: false }
    }
}

/// Whether step `i` runs, now that everything it needs has ended.
fn may_run(graph: &StepGraph, i: usize, records: &[Option<StepRecord>]) -> Result<(), String> {
    let node = &graph.nodes[i];
    let record = |d: usize| records[d].as_ref();
    let name = |d: usize| graph.nodes[d].name.as_str();
    match node.when {
        Some(c) => {
            let (outcome, confidence) =
                record(c.step).map_or((StepOutcome::Skipped, None), |r| (r.outcome, r.confidence));
            if !c.test.holds(outcome, confidence) {
                return Err(format!("its condition on {:?} does not hold", name(c.step)));
            }
        }
        None => {
            if let Some(&d) =
                node.needs.iter().find(|&&d| record(d).is_none_or(|r| r.outcome != StepOutcome::Succeeded))
            {
                return Err(format!("{:?} did not succeed", name(d)));
            }
        }
    }
    match node.input {
        Some(src) if record(src).is_none_or(|r| r.outcome != StepOutcome::Succeeded) => {
            Err(format!("its input {:?} did not succeed", name(src)))
        }
        _ => Ok(()),
    }
}

/// The time step `i` may take: its own limit — for a cloud step plus the limits of the
/// `desensitize` steps it depends on, which run in the same hop (the sidecar scrubs,
/// forwards and restores) — and never past the deadline.
fn step_limit(graph: &StepGraph, i: usize, deadline: Instant) -> Duration {
    let node = &graph.nodes[i];
    let left = deadline.saturating_duration_since(Instant::now());
    let own = if node.is_cloud_generate() {
        let guards: Duration = graph
            .nodes
            .iter()
            .enumerate()
            .filter(|(d, g)| g.kind == netgpt_crds::StepKind::Desensitize && depends_on(graph, i, *d))
            .filter_map(|(_, g)| g.timeout)
            .sum();
        node.timeout.map(|t| t + guards)
    } else {
        node.timeout
    };
    own.map_or(left, |t| t.min(left))
}

/// Whether step `i` needs step `d`, directly or not.
fn depends_on(graph: &StepGraph, i: usize, d: usize) -> bool {
    let mut stack = graph.nodes[i].needs.clone();
    let mut seen = vec![false; graph.nodes.len()];
    while let Some(n) = stack.pop() {
        if n == d {
            return true;
        }
        if !std::mem::replace(&mut seen[n], true) {
            stack.extend(graph.nodes[n].needs.iter().copied());
        }
    }
    false
}

#[cfg(test)]
mod tests {
    //! The scheduling rules with a runner that sleeps: ordering, parallel branches,
    //! timeouts, conditions and a failing branch. The gateway's HTTP tests run the same
    //! engine against real model servers.
    use super::*;
    use netgpt_crds::RoutingPolicy;
    use std::collections::HashMap;

    struct Out(String, Option<f64>);
    impl StepValue for Out {
        fn text(&self) -> &str {
            &self.0
        }
        fn confidence(&self) -> Option<f64> {
            self.1
        }
    }

    /// Per step name: how long it takes, its confidence, whether it fails.
    struct Sleeper(HashMap<&'static str, (u64, Option<f64>, bool)>);
    impl StepRunner for Sleeper {
        type Output = Out;
        async fn run(&self, node: &Node, input: String, _limit: Duration) -> Result<Out, StepFailure> {
            let (ms, confidence, fail) = self.0.get(node.name.as_str()).copied().unwrap_or((0, None, false));
            tokio::time::sleep(Duration::from_millis(ms)).await;
            if fail {
                return Err(StepFailure::new("boom"));
            }
            Ok(Out(format!("{}({input})", node.name), confidence))
        }
    }

    fn graph(steps: serde_json::Value) -> StepGraph {
        StepGraph::compile(&serde_json::from_value::<Vec<_>>(steps).expect("steps"), &RoutingPolicy::default(), true)
            .expect("compiles")
    }

    fn outcome(run: &Execution<Out>, g: &StepGraph, name: &str) -> StepOutcome {
        run.records[g.position(name).expect("step")].outcome
    }

    #[tokio::test]
    async fn branches_run_in_parallel_and_joins_wait_for_both() {
        let g = graph(serde_json::json!([
            {"name": "a", "kind": "promptCompletion"},
            {"name": "b", "kind": "generate", "target": "edge"},
            {"name": "c", "kind": "generate", "target": "edge"},
            {"name": "join", "kind": "generate", "target": "edge", "dependsOn": ["b", "c"], "input": "c"},
        ]));
        let runner = Sleeper([("b", (150, None, false)), ("c", (150, None, false))].into());
        let t = Instant::now();
        let run = execute(&g, &runner, "hi", Instant::now() + Duration::from_secs(5)).await;
        let took = t.elapsed();
        assert!(took < Duration::from_millis(280), "b and c overlap: {took:?}");
        let join = &run.records[g.position("join").expect("join")];
        assert!(join.start >= Duration::from_millis(150), "join waited for both: {:?}", join.start);
        let text = run.outputs[g.position("join").expect("join")].as_ref().map(|o| o.0.clone());
        assert_eq!(text.as_deref(), Some("join(c(hi))"), "explicit input, client prompt at the root");
    }

    #[tokio::test]
    async fn a_timeout_fails_one_branch_and_skips_what_needs_it_only() {
        let g = graph(serde_json::json!([
            {"name": "slow", "kind": "generate", "target": "edge", "timeoutMs": 50},
            {"name": "fast", "kind": "generate", "target": "edge"},
            {"name": "after-slow", "kind": "generate", "target": "edge", "dependsOn": ["slow"]},
            {"name": "after-fast", "kind": "generate", "target": "edge", "dependsOn": ["fast"]},
            {"name": "rescue", "kind": "generate", "target": "edge", "dependsOn": ["slow"],
             "when": {"step": "slow", "outcome": "failed"}},
        ]));
        let runner = Sleeper([("slow", (2_000, None, false))].into());
        let t = Instant::now();
        let run = execute(&g, &runner, "hi", Instant::now() + Duration::from_secs(5)).await;
        assert!(t.elapsed() < Duration::from_millis(500), "the step limit cut the slow step");
        let slow = &run.records[g.position("slow").expect("slow")];
        assert_eq!(slow.outcome, StepOutcome::Failed);
        assert!(slow.reason.as_deref().is_some_and(|r| r.contains("50 ms")), "{slow:?}");
        assert_eq!(outcome(&run, &g, "after-slow"), StepOutcome::Skipped);
        assert_eq!(outcome(&run, &g, "after-fast"), StepOutcome::Succeeded);
        assert_eq!(outcome(&run, &g, "rescue"), StepOutcome::Succeeded);
    }

    #[tokio::test]
    async fn conditions_route_on_confidence_and_the_budget_bounds_everything() {
        let steps = serde_json::json!([
            {"name": "complete", "kind": "promptCompletion"},
            {"name": "scrub", "kind": "desensitize"},
            {"name": "answer", "kind": "generate", "target": "cloud"}
        ]);
        let g = graph(steps);
        let sure = Sleeper([("draft", (0, Some(0.9), false))].into());
        let run = execute(&g, &sure, "hi", Instant::now() + Duration::from_secs(5)).await;
        assert_eq!(outcome(&run, &g, "scrub"), StepOutcome::Skipped);
        assert_eq!(outcome(&run, &g, "answer"), StepOutcome::Skipped);
        let unsure = Sleeper([("draft", (0, Some(0.2), false))].into());
        let run = execute(&g, &unsure, "hi", Instant::now() + Duration::from_secs(5)).await;
        assert_eq!(outcome(&run, &g, "answer"), StepOutcome::Succeeded);
        let slow_cloud = Sleeper([("draft", (0, Some(0.2), false)), ("answer", (5_000, None, false))].into());
        let t = Instant::now();
        let run = execute(&g, &slow_cloud, "hi", Instant::now() + Duration::from_millis(100)).await;
        assert!(t.elapsed() < Duration::from_millis(400));
        let answer = &run.records[g.position("answer").expect("answer")];
        assert_eq!(answer.outcome, StepOutcome::Failed);
        assert!(answer.reason.as_deref().is_some_and(|r| r.contains("latency budget")), "{answer:?}");
    }

    #[tokio::test]
    async fn a_failed_step_skips_its_dependents_and_records_why() {
        let g = graph(serde_json::json!([
            {"name": "a", "kind": "promptCompletion"},
            {"name": "b", "kind": "generate", "target": "edge"},
        ]));
        let runner = Sleeper([("a", (0, None, true))].into());
        let run = execute(&g, &runner, "hi", Instant::now() + Duration::from_secs(5)).await;
        assert_eq!(outcome(&run, &g, "a"), StepOutcome::Failed);
        let b = &run.records[g.position("b").expect("b")];
        assert_eq!(b.outcome, StepOutcome::Skipped);
        assert_eq!(b.reason.as_deref(), Some("\"a\" did not succeed"));
    }
}
