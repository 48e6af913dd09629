//! The workflow's step graph, compiled from `spec.steps` and `spec.routing`. The operator
//! validates a workflow by compiling it, and the gateway executes the graph it compiles
//! from the same configuration with the same function: what is validated is what runs.
//!
//! A workflow that declares no edge `generate` step and no `when` condition gets the
//! classic NetGPT routing made explicit: an edge draft (`draft`) runs where the first
//! step that guards the cloud (its `desensitize` step, else the cloud step itself) would
//! have started, and that step runs only `when` the draft's confidence is below
//! `routing.confidenceThreshold`. The compiled graph lists the added step like any other.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use crate::workflow::{
    IntentSpec, PopularitySpec, RoutingPolicy, StepCondition, StepKind, StepOutcome, Target, WorkflowStep,
};

/// Name of the edge draft the compiler adds for the classic routing (suffixed when a
/// declared step already has it).
pub const IMPLICIT_DRAFT: &str = "draft";

/// A workflow graph that passed every check.
#[derive(Clone, Debug, PartialEq)]
pub struct StepGraph {
    /// Steps in an order that puts every step after the ones it needs (declaration order
    /// where the graph leaves a choice).
    pub nodes: Vec<Node>,
    /// The `popularityPrediction` steps: they run once per interval, outside the
    /// per-request graph.
    pub forecasts: Vec<Forecast>,
}

/// A `popularityPrediction` step.
#[derive(Clone, Debug, PartialEq)]
pub struct Forecast {
    pub name: String,
    /// Position in `spec.steps`.
    pub declared: usize,
    pub spec: PopularitySpec,
}

/// One step, with its references resolved to indices into [`StepGraph::nodes`].
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub name: String,
    pub kind: StepKind,
    /// `edge` or `cloud` for `generate` steps.
    pub target: Option<Target>,
    /// Steps that must have ended before this one starts.
    pub needs: Vec<usize>,
    /// Runs only when this holds (see [`Node::needs`] for the default rule).
    pub when: Option<Condition>,
    /// Step whose output is this step's prompt; `None`: the client's prompt.
    pub input: Option<usize>,
    /// The step's own time limit (the workflow's latency budget applies as well).
    pub timeout: Option<Duration>,
    /// Position in `spec.steps`; `None` for the edge draft the compiler added.
    pub declared: Option<usize>,
    /// Another step takes this one's output as its prompt, so it cannot be streamed to
    /// the client.
    pub consumed: bool,
    /// What an `intentInference` step extracts.
    pub intent: Option<IntentSpec>,
}

impl Node {
    /// A `generate` step on the cloud.
    pub fn is_cloud_generate(&self) -> bool {
        self.kind == StepKind::Generate && self.target == Some(Target::Cloud)
    }

    /// A `generate` step on the edge.
    pub fn is_edge_generate(&self) -> bool {
        self.kind == StepKind::Generate && self.target == Some(Target::Edge)
    }

    /// The field path of this step in the spec, for messages.
    pub fn field(&self) -> String {
        match self.declared {
            Some(i) => format!("spec.steps[{i}]"),
            None => format!("step {:?} (added for routing.confidenceThreshold)", self.name),
        }
    }
}

/// A resolved [`StepCondition`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Condition {
    /// Index of the tested step (always one this step needs, directly or not).
    pub step: usize,
    pub test: ConditionTest,
}

/// What a condition tests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ConditionTest {
    ConfidenceBelow(f64),
    ConfidenceAtLeast(f64),
    Outcome(StepOutcome),
}

impl ConditionTest {
    /// Whether the condition holds for a step that ended with `outcome` and `confidence`.
    /// No confidence is no evidence of confidence: "below" holds, "at least" does not.
    pub fn holds(self, outcome: StepOutcome, confidence: Option<f64>) -> bool {
        match self {
            Self::ConfidenceBelow(t) => confidence.is_none_or(|c| c < t),
            Self::ConfidenceAtLeast(t) => confidence.is_some_and(|c| c >= t),
            Self::Outcome(o) => outcome == o,
        }
    }
}

/// A problem with the declared steps, naming the field at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphError {
    pub field: String,
    pub message: String,
}

impl GraphError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

impl StepGraph {
    /// Checks and compiles the declared steps. Without `dependsOn` anywhere the steps run in
    /// list order; with it they form a DAG whose roots start together. A cloud `generate`
    /// step must depend on a `desensitize` step while `desensitization` is on.
    pub fn compile(
        steps: &[WorkflowStep],
        routing: &RoutingPolicy,
        desensitization_enabled: bool,
    ) -> Result<Self, Vec<GraphError>> {
        let mut errors = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, step) in steps.iter().enumerate() {
            if index.insert(step.name.as_str(), i).is_some() {
                errors
                    .push(GraphError::new(format!("spec.steps[{i}].name"), format!("duplicate step {:?}", step.name)));
            }
        }
        let dag = steps.iter().any(|s| !s.depends_on.is_empty());
        let periodic = |d: usize| steps[d].kind == StepKind::PopularityPrediction;
        if steps.iter().all(|s| s.kind == StepKind::PopularityPrediction) {
            errors.push(GraphError::new(
                "spec.steps",
                "a workflow needs a step that runs per request (popularityPrediction runs per interval)",
            ));
        }
        let mut needs: Vec<Vec<usize>> = Vec::with_capacity(steps.len());
        for (i, step) in steps.iter().enumerate() {
            let mut mine = Vec::new();
            if dag {
                for dep in &step.depends_on {
                    match index.get(dep.as_str()) {
                        Some(&d) if periodic(d) => errors.push(GraphError::new(
                            format!("spec.steps[{i}].dependsOn"),
                            format!("{dep:?} is a popularityPrediction step: it runs per interval, not per request"),
                        )),
                        Some(&d) if !mine.contains(&d) => mine.push(d),
                        Some(_) => {}
                        None => errors.push(GraphError::new(
                            format!("spec.steps[{i}].dependsOn"),
                            format!("unknown step {dep:?}"),
                        )),
                    }
                }
            } else if !periodic(i)
                && let Some(previous) = (0..i).rev().find(|&d| !periodic(d))
            {
                mine.push(previous);
            }
            needs.push(mine);
            if step.kind == StepKind::Generate && step.target.is_none() {
                errors.push(GraphError::new(
                    format!("spec.steps[{i}].target"),
                    "a generate step needs target edge or cloud",
                ));
            }
            if step.kind == StepKind::Desensitize && step.input.is_some() {
                errors.push(GraphError::new(
                    format!("spec.steps[{i}].input"),
                    "a desensitize step takes no input: it guards the cloud steps that depend on it",
                ));
            }
            if step.kind == StepKind::PopularityPrediction {
                errors.extend(check_forecast(i, step));
            } else if step.popularity.is_some() {
                errors.push(GraphError::new(
                    format!("spec.steps[{i}].popularity"),
                    "only popularityPrediction steps take popularity",
                ));
            }
            match (step.kind, &step.intent) {
                (StepKind::IntentInference, None) => errors.push(GraphError::new(
                    format!("spec.steps[{i}].intent"),
                    "an intentInference step needs intent.schema",
                )),
                (StepKind::IntentInference, Some(intent)) => errors.extend(check_intent(i, intent)),
                (_, Some(_)) => errors.push(GraphError::new(
                    format!("spec.steps[{i}].intent"),
                    "only intentInference steps take an intent",
                )),
                (_, None) => {}
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        if let Some(i) = find_cycle(&needs) {
            return Err(vec![GraphError::new(
                format!("spec.steps[{i}].dependsOn"),
                format!("step {:?} is part of a dependency cycle", steps[i].name),
            )]);
        }

        let mut nodes: Vec<Node> = steps
            .iter()
            .zip(needs)
            .enumerate()
            .map(|(i, (s, needs))| Node {
                name: s.name.clone(),
                kind: s.kind,
                target: s.target,
                needs,
                when: None,
                input: None,
                timeout: s.timeout_ms.map(|ms| Duration::from_millis(ms.max(1) as u64)),
                declared: Some(i),
                consumed: false,
                intent: s.intent.clone(),
            })
            .collect();
        let forecasts: Vec<Forecast> = steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.kind == StepKind::PopularityPrediction)
            .map(|(i, s)| Forecast {
                name: s.name.clone(),
                declared: i,
                spec: s.popularity.clone().unwrap_or_default(),
            })
            .collect();
        // The classic routing for workflows that complete prompts or reach the cloud (an
        // intent-only workflow answers with its intent).
        let classic = steps.iter().all(|s| s.when.is_none())
            && !steps.iter().any(|s| s.kind == StepKind::Generate && s.target == Some(Target::Edge))
            && steps.iter().any(|s| {
                s.kind == StepKind::PromptCompletion
                    || (s.kind == StepKind::Generate && s.target == Some(Target::Cloud))
            });
        if classic {
            add_edge_draft(&mut nodes, routing.confidence_threshold);
        }

        let ancestors = ancestor_sets(&nodes);
        for (i, step) in steps.iter().enumerate() {
            if let Some(when) = &step.when {
                match resolve_condition(when, i, &index, &ancestors[i]) {
                    Ok(c) => nodes[i].when = Some(c),
                    Err(e) => errors.push(e),
                }
            }
            if let Some(input) = &step.input {
                match index.get(input.as_str()) {
                    Some(&d) if ancestors[i].contains(&d) && !periodic(d) => nodes[i].input = Some(d),
                    _ => errors.push(GraphError::new(
                        format!("spec.steps[{i}].input"),
                        format!("{input:?} is not a step this one depends on"),
                    )),
                }
            }
        }
        for (i, node) in nodes.iter().enumerate() {
            if node.is_cloud_generate()
                && desensitization_enabled
                && !ancestors[i].iter().any(|&a| nodes[a].kind == StepKind::Desensitize)
            {
                errors.push(GraphError::new(
                    node.field(),
                    "a cloud generate step must depend on a desensitize step (desensitization is enabled)",
                ));
            }
            if node.kind == StepKind::Desensitize
                && !(0..nodes.len()).any(|d| nodes[d].is_cloud_generate() && ancestors[d].contains(&i))
            {
                errors.push(GraphError::new(
                    node.field(),
                    "no cloud generate step depends on this desensitize step, so it would guard nothing",
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        // Default inputs: the nearest prompt completion the step depends on.
        let order = topological_order(&nodes);
        let rank: Vec<usize> = {
            let mut r = vec![0; nodes.len()];
            for (pos, &n) in order.iter().enumerate() {
                r[n] = pos;
            }
            r
        };
        for i in 0..nodes.len() {
            if nodes[i].input.is_none() && nodes[i].kind != StepKind::Desensitize {
                nodes[i].input = ancestors[i]
                    .iter()
                    .copied()
                    .filter(|&a| nodes[a].kind == StepKind::PromptCompletion)
                    .max_by_key(|&a| rank[a]);
            }
        }
        for i in 0..nodes.len() {
            if let Some(src) = nodes[i].input {
                nodes[src].consumed = true;
            }
        }
        // Forecasts leave the per-request graph: nothing refers to them (checked above).
        let order: Vec<usize> =
            order.into_iter().filter(|&n| nodes[n].kind != StepKind::PopularityPrediction).collect();
        let mut graph = Self::reordered(nodes, &order);
        graph.forecasts = forecasts;
        Ok(graph)
    }

    /// The nodes in `order`, with every index remapped.
    fn reordered(nodes: Vec<Node>, order: &[usize]) -> Self {
        let mut new_index = vec![0; nodes.len()];
        for (pos, &old) in order.iter().enumerate() {
            new_index[old] = pos;
        }
        let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
        let nodes = order
            .iter()
            .filter_map(|&old| slots[old].take())
            .map(|mut n| {
                n.needs = n.needs.iter().map(|&d| new_index[d]).collect();
                n.input = n.input.map(|d| new_index[d]);
                n.when = n.when.map(|c| Condition { step: new_index[c.step], ..c });
                n
            })
            .collect();
        Self { nodes, forecasts: Vec::new() }
    }

    /// Index of the step named `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// One line per step, in execution order: what it is, what it needs, when it runs,
    /// what it reads (the workflow's `status.executionPlan`).
    pub fn step_lines(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| {
                let kind = match (n.kind, n.target) {
                    (StepKind::PromptCompletion, _) => "promptCompletion",
                    (StepKind::Desensitize, _) => "desensitize",
                    (StepKind::Generate, Some(Target::Cloud)) => "generate@cloud",
                    (StepKind::Generate, _) => "generate@edge",
                    (StepKind::IntentInference, _) => "intentInference",
                    (StepKind::PopularityPrediction, _) => "popularityPrediction",
                };
                let mut out = format!("{} ({kind})", n.name);
                if !n.needs.is_empty() {
                    let names: Vec<&str> = n.needs.iter().map(|&d| self.nodes[d].name.as_str()).collect();
                    let _ = write!(out, " after {}", names.join(", "));
                }
                if let Some(c) = n.when {
                    let step = &self.nodes[c.step].name;
                    let _ = match c.test {
                        ConditionTest::ConfidenceBelow(t) => write!(out, " if {step}.confidence < {t}"),
                        ConditionTest::ConfidenceAtLeast(t) => write!(out, " if {step}.confidence >= {t}"),
                        ConditionTest::Outcome(o) => write!(out, " if {step} {}", outcome_name(o)),
                    };
                }
                if let Some(src) = n.input {
                    let _ = write!(out, " on {}", self.nodes[src].name);
                }
                out
            })
            .chain(self.forecasts.iter().map(|f| {
                let topics = match f.spec.topics.len() {
                    0 => "the built-in topics".to_string(),
                    n => format!("{n} topics"),
                };
                format!(
                    "{} (popularityPrediction) every {}s: top {} of {topics} from the last {} intervals",
                    f.name, f.spec.interval_seconds, f.spec.top_n, f.spec.history_intervals
                )
            }))
            .collect()
    }

    /// [`StepGraph::step_lines`] on one line, for logs.
    pub fn describe(&self) -> String {
        self.step_lines().join("; ")
    }
}

/// The lower-case name of an outcome, as the spec writes it.
pub fn outcome_name(outcome: StepOutcome) -> &'static str {
    match outcome {
        StepOutcome::Succeeded => "succeeded",
        StepOutcome::Failed => "failed",
        StepOutcome::Skipped => "skipped",
    }
}

/// The classic routing, made explicit: an edge draft where the cloud's guard would start,
/// and the guard conditional on the draft's confidence.
fn add_edge_draft(nodes: &mut Vec<Node>, threshold: f64) {
    let taken = |name: &str| nodes.iter().any(|n| n.name == name);
    let name = std::iter::once(IMPLICIT_DRAFT.to_string())
        .chain((2..).map(|k| format!("{IMPLICIT_DRAFT}-{k}")))
        .find(|n| !taken(n))
        .unwrap_or_else(|| IMPLICIT_DRAFT.to_string());
    let ancestors = ancestor_sets(nodes);
    let cloud = nodes.iter().position(Node::is_cloud_generate);
    let guard = cloud.map(|c| {
        (0..nodes.len()).find(|&d| nodes[d].kind == StepKind::Desensitize && ancestors[c].contains(&d)).unwrap_or(c)
    });
    let draft = nodes.len();
    let needs = match guard {
        Some(g) => std::mem::replace(&mut nodes[g].needs, vec![draft]),
        // An edge-only workflow: the draft answers after everything declared.
        None => (0..nodes.len())
            .filter(|&n| nodes[n].kind != StepKind::PopularityPrediction && !nodes.iter().any(|m| m.needs.contains(&n)))
            .collect(),
    };
    if let Some(g) = guard {
        nodes[g].when = Some(Condition { step: draft, test: ConditionTest::ConfidenceBelow(threshold) });
    }
    nodes.push(Node {
        name,
        kind: StepKind::Generate,
        target: Some(Target::Edge),
        needs,
        when: None,
        input: None,
        timeout: None,
        declared: None,
        consumed: false,
        intent: None,
    });
}

/// A forecast runs on its own clock: it takes nothing from the request graph. Its topics
/// are unique and have keywords; its webhook is an HTTP(S) URL.
fn check_forecast(i: usize, step: &WorkflowStep) -> Vec<GraphError> {
    let mut errors = Vec::new();
    let field = |name: &str| format!("spec.steps[{i}].{name}");
    let per_interval = "a popularityPrediction step runs per interval, not per request";
    if !step.depends_on.is_empty() {
        errors.push(GraphError::new(field("dependsOn"), format!("{per_interval}: it depends on nothing")));
    }
    if step.when.is_some() {
        errors.push(GraphError::new(field("when"), format!("{per_interval}: it has no condition")));
    }
    if step.input.is_some() {
        errors.push(GraphError::new(field("input"), format!("{per_interval}: it reads no step's output")));
    }
    if step.target.is_some() {
        errors.push(GraphError::new(field("target"), "a popularityPrediction step runs on the site's edge model"));
    }
    let Some(spec) = &step.popularity else { return errors };
    let in_range = |value: i32, min: i32, max: i32, name: &str, errors: &mut Vec<GraphError>| {
        if !(min..=max).contains(&value) {
            errors.push(GraphError::new(
                field(&format!("popularity.{name}")),
                format!("{value} is not in [{min}, {max}]"),
            ));
        }
    };
    in_range(spec.interval_seconds, 1, 86_400, "intervalSeconds", &mut errors);
    in_range(spec.top_n, 1, 10, "topN", &mut errors);
    in_range(spec.history_intervals, 1, 48, "historyIntervals", &mut errors);
    let mut seen = BTreeSet::new();
    for (t, topic) in spec.topics.iter().enumerate() {
        if !seen.insert(topic.name.as_str()) || topic.name == OTHER_TOPIC {
            errors.push(GraphError::new(
                field(&format!("popularity.topics[{t}].name")),
                format!("{:?} is used twice (`other` counts what matches no topic)", topic.name),
            ));
        }
        if topic.keywords.iter().all(|k| k.trim().is_empty()) {
            errors.push(GraphError::new(field(&format!("popularity.topics[{t}].keywords")), "a topic needs a keyword"));
        }
    }
    if !spec.topics.is_empty() && (spec.top_n as usize) > spec.topics.len() {
        errors.push(GraphError::new(
            field("popularity.topN"),
            format!("{} topics cannot fill a top {}", spec.topics.len(), spec.top_n),
        ));
    }
    if let Some(url) = &spec.webhook
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        errors.push(GraphError::new(field("popularity.webhook"), "the webhook must be an http(s) URL"));
    }
    errors
}

/// The topic a request that matches no declared topic counts as.
pub const OTHER_TOPIC: &str = "other";

/// An intent's schema must describe an object; a webhook must be an HTTP(S) URL.
fn check_intent(i: usize, intent: &IntentSpec) -> Vec<GraphError> {
    let mut errors = Vec::new();
    let schema = intent.schema.as_object();
    let object = schema.is_some_and(|s| {
        s.get("type").and_then(serde_json::Value::as_str) == Some("object") || s.contains_key("properties")
    });
    if !object {
        errors.push(GraphError::new(
            format!("spec.steps[{i}].intent.schema"),
            "the intent schema must describe an object (\"type\": \"object\" with properties)",
        ));
    }
    if let Some(url) = &intent.webhook
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        errors.push(GraphError::new(format!("spec.steps[{i}].intent.webhook"), "the webhook must be an http(s) URL"));
    }
    errors
}

fn resolve_condition(
    when: &StepCondition,
    i: usize,
    index: &HashMap<&str, usize>,
    ancestors: &BTreeSet<usize>,
) -> Result<Condition, GraphError> {
    let field = format!("spec.steps[{i}].when");
    let Some(&step) = index.get(when.step.as_str()).filter(|s| ancestors.contains(s)) else {
        return Err(GraphError::new(
            format!("{field}.step"),
            format!("{:?} is not a step this one depends on", when.step),
        ));
    };
    let threshold = |t: f64, name: &str| {
        if (0.0..=1.0).contains(&t) {
            Ok(t)
        } else {
            Err(GraphError::new(format!("{field}.{name}"), format!("{t} is not in [0, 1]")))
        }
    };
    let test = match (when.confidence_below, when.confidence_at_least, when.outcome) {
        (Some(t), None, None) => ConditionTest::ConfidenceBelow(threshold(t, "confidenceBelow")?),
        (None, Some(t), None) => ConditionTest::ConfidenceAtLeast(threshold(t, "confidenceAtLeast")?),
        (None, None, Some(o)) => ConditionTest::Outcome(o),
        _ => {
            return Err(GraphError::new(field, "set exactly one of confidenceBelow, confidenceAtLeast and outcome"));
        }
    };
    Ok(Condition { step, test })
}

/// Every step each step needs, directly or not (the graph is acyclic).
fn ancestor_sets(nodes: &[Node]) -> Vec<BTreeSet<usize>> {
    let mut sets: Vec<Option<BTreeSet<usize>>> = vec![None; nodes.len()];
    for n in topological_order(nodes) {
        let mut set = BTreeSet::new();
        for &d in &nodes[n].needs {
            set.insert(d);
            if let Some(Some(inner)) = sets.get(d) {
                set.extend(inner.iter().copied());
            }
        }
        sets[n] = Some(set);
    }
    sets.into_iter().map(Option::unwrap_or_default).collect()
}

/// Kahn's algorithm, taking the lowest index among the ready steps (declaration order).
fn topological_order(nodes: &[Node]) -> Vec<usize> {
    let mut missing: Vec<usize> = nodes.iter().map(|n| n.needs.len()).collect();
    let mut ready: BTreeSet<usize> = (0..nodes.len()).filter(|&n| missing[n] == 0).collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(n) = ready.pop_first() {
        order.push(n);
        for (m, node) in nodes.iter().enumerate() {
            if node.needs.contains(&n) {
                missing[m] -= 1;
                if missing[m] == 0 {
                    ready.insert(m);
                }
            }
        }
    }
    order
}

/// Index of a step on a cycle, if the graph has one.
fn find_cycle(needs: &[Vec<usize>]) -> Option<usize> {
    // 0 = unvisited, 1 = on the current path, 2 = done.
    fn visit(n: usize, needs: &[Vec<usize>], state: &mut [u8]) -> Option<usize> {
        match state[n] {
            1 => return Some(n),
            2 => return None,
            _ => {}
        }
        state[n] = 1;
        for &p in &needs[n] {
            if let Some(c) = visit(p, needs, state) {
                return Some(c);
            }
        }
        state[n] = 2;
        None
    }
    let mut state = vec![0u8; needs.len()];
    (0..needs.len()).find_map(|n| visit(n, needs, &mut state))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(v: serde_json::Value) -> Vec<WorkflowStep> {
        serde_json::from_value(v).expect("steps")
    }

    fn compile(v: serde_json::Value) -> Result<StepGraph, Vec<GraphError>> {
        StepGraph::compile(&steps(v), &RoutingPolicy::default(), true)
    }

    #[test]
    fn the_classic_list_gets_its_edge_draft_and_routing_condition() {
        let g = compile(serde_json::json!([
            {"name": "complete", "kind": "promptCompletion"},
            {"name": "scrub", "kind": "desensitize"},
            {"name": "answer", "kind": "generate", "target": "cloud"}
        ]))
        .expect("compiles");
        assert_eq!(
            g.describe(),
            "complete (promptCompletion); draft (generate@edge) after complete on complete; \
             scrub (desensitize) after draft if draft.confidence < 0.7; \
             answer (generate@cloud) after scrub on complete"
        );
        assert!(g.nodes[0].consumed && !g.nodes[1].consumed && !g.nodes[3].consumed);
    }

    #[test]
    fn an_explicit_graph_runs_as_declared() {
        let g = compile(serde_json::json!([
            {"name": "complete", "kind": "promptCompletion"},
            {"name": "scrub", "kind": "desensitize", "dependsOn": ["complete"],
             "when": {"step": "complete", "confidenceBelow": 0.5}},
            {"name": "cloud", "kind": "generate", "target": "cloud", "dependsOn": ["scrub"]},
            {"name": "local", "kind": "generate", "target": "edge", "dependsOn": ["complete"],
             "when": {"step": "complete", "confidenceAtLeast": 0.5}},
            {"name": "rescue", "kind": "generate", "target": "edge", "dependsOn": ["cloud"],
             "when": {"step": "cloud", "outcome": "failed"}}
        ]))
        .expect("compiles");
        assert_eq!(g.nodes.len(), 5, "nothing added to a graph with conditions");
        let rescue = &g.nodes[g.position("rescue").expect("rescue")];
        assert_eq!(rescue.input, g.position("complete"));
        assert_eq!(rescue.when.map(|c| c.test), Some(ConditionTest::Outcome(StepOutcome::Failed)));
    }

    #[test]
    fn mistakes_name_their_field() {
        let fields = |v| compile(v).expect_err("refused").into_iter().map(|e| e.field).collect::<Vec<_>>();
        assert_eq!(
            fields(serde_json::json!([
                {"name": "a", "kind": "promptCompletion", "dependsOn": ["b"]},
                {"name": "b", "kind": "generate", "target": "edge", "dependsOn": ["a"]}
            ])),
            ["spec.steps[0].dependsOn"]
        );
        assert_eq!(
            fields(serde_json::json!([
                {"name": "a", "kind": "promptCompletion"},
                {"name": "b", "kind": "generate", "target": "edge", "when": {"step": "c", "outcome": "failed"}},
                {"name": "c", "kind": "generate", "target": "edge", "input": "b",
                 "when": {"step": "a", "confidenceBelow": 0.5, "outcome": "failed"}}
            ])),
            ["spec.steps[1].when.step", "spec.steps[2].when"]
        );
        assert_eq!(
            fields(serde_json::json!([
                {"name": "a", "kind": "generate", "target": "cloud"},
                {"name": "s", "kind": "desensitize", "dependsOn": ["a"]}
            ])),
            ["spec.steps[0]", "spec.steps[1]"]
        );
        assert_eq!(
            fields(serde_json::json!([
                {"name": "a", "kind": "promptCompletion"},
                {"name": "b", "kind": "generate", "target": "edge", "dependsOn": ["a"], "input": "x"}
            ])),
            ["spec.steps[1].input"]
        );
    }

    #[test]
    fn intent_steps_need_an_object_schema_and_an_intent_only_workflow_gets_no_draft() {
        let fields = |v| compile(v).expect_err("refused").into_iter().map(|e| e.field).collect::<Vec<_>>();
        assert_eq!(
            fields(serde_json::json!([
                {"name": "a", "kind": "intentInference"},
                {"name": "b", "kind": "generate", "target": "edge", "intent": {"schema": {"type": "object"}}},
                {"name": "c", "kind": "intentInference", "intent": {"schema": {"type": "string"}, "webhook": "ftp://x"}}
            ])),
            [
                "spec.steps[0].intent",
                "spec.steps[1].intent",
                "spec.steps[2].intent.schema",
                "spec.steps[2].intent.webhook"
            ]
        );
        let g = compile(serde_json::json!([
            {"name": "intent", "kind": "intentInference", "intent": {"schema": {"type": "object", "properties": {}}}}
        ]))
        .expect("compiles");
        assert_eq!(g.step_lines(), ["intent (intentInference)"]);
    }

    #[test]
    fn a_forecast_runs_beside_the_request_graph_and_nothing_may_lean_on_it() {
        let g = compile(serde_json::json!([
            {"name": "complete", "kind": "promptCompletion"},
            {"name": "forecast", "kind": "popularityPrediction", "popularity": {"intervalSeconds": 60}},
            {"name": "scrub", "kind": "desensitize"},
            {"name": "answer", "kind": "generate", "target": "cloud"}
        ]))
        .expect("compiles");
        assert_eq!(
            g.step_lines(),
            [
                "complete (promptCompletion)",
                "draft (generate@edge) after complete on complete",
                "scrub (desensitize) after draft if draft.confidence < 0.7",
                "answer (generate@cloud) after scrub on complete",
                "forecast (popularityPrediction) every 60s: top 3 of the built-in topics from the last 8 intervals",
            ],
            "the list form chains the per-request steps around the forecast"
        );
        assert_eq!(g.forecasts.len(), 1);
        assert_eq!(g.forecasts[0].declared, 1);

        let fields = |v| compile(v).expect_err("refused").into_iter().map(|e| e.field).collect::<Vec<_>>();
        assert_eq!(
            fields(serde_json::json!([
                {"name": "f", "kind": "popularityPrediction", "target": "edge",
                 "popularity": {"topN": 2, "topics": [{"name": "food", "keywords": ["dinner"]},
                                                      {"name": "food", "keywords": [" "]}],
                                "webhook": "cache:9000"}},
                {"name": "a", "kind": "generate", "target": "edge", "dependsOn": ["f"]},
                {"name": "b", "kind": "generate", "target": "edge", "popularity": {}}
            ])),
            [
                "spec.steps[0].target",
                "spec.steps[0].popularity.topics[1].name",
                "spec.steps[0].popularity.topics[1].keywords",
                "spec.steps[0].popularity.webhook",
                "spec.steps[1].dependsOn",
                "spec.steps[2].popularity",
            ]
        );
        assert_eq!(
            fields(serde_json::json!([{"name": "f", "kind": "popularityPrediction"}])),
            ["spec.steps"],
            "a forecast alone serves no request"
        );
    }

    #[test]
    fn desensitization_off_needs_no_guard_and_the_draft_gates_the_cloud_itself() {
        let g = StepGraph::compile(
            &steps(serde_json::json!([{"name": "answer", "kind": "generate", "target": "cloud"}])),
            &RoutingPolicy::default(),
            false,
        )
        .expect("compiles");
        assert_eq!(
            g.describe(),
            "draft (generate@edge); answer (generate@cloud) after draft if draft.confidence < 0.7"
        );
    }
}
