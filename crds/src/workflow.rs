//! `LogicalAIWorkflow`: the per-request pipeline that ties an EdgeLLM to a CloudLLM —
//! edge prompt completion, the routing decision, desensitization, cloud generation.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{DNS_LABEL_PATTERN, LocalObjectRef};
use crate::status::{conditions_schema, named_list_schema};

/// Annotation that confirms a workflow may send prompts to the cloud without
/// desensitization. `spec.desensitization.enabled: false` is refused (`InvalidSpec`) unless
/// the workflow carries this annotation with the value `"true"`: switching privacy off must
/// be a separate, visible decision, not one field among many in a spec.
pub const ALLOW_UNPROTECTED_ANNOTATION: &str = "netgpt.io/allow-unprotected-cloud-prompts";

/// A logical AI workflow: one gateway per site of `edgeRef`, running `steps` for each
/// request and deciding whether the edge answers alone or the cloud answers.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "netgpt.io",
    version = "v1alpha1",
    kind = "LogicalAIWorkflow",
    plural = "logicalaiworkflows",
    namespaced,
    status = "LogicalAIWorkflowStatus",
    shortname = "aiwf",
    category = "netgpt",
    printcolumn = r#"{"name": "Edge", "type": "string", "jsonPath": ".spec.edgeRef.name"}"#,
    printcolumn = r#"{"name": "Cloud", "type": "string", "jsonPath": ".spec.cloudRef.name"}"#,
    printcolumn = r#"{"name": "Threshold", "type": "number", "jsonPath": ".spec.routing.confidenceThreshold"}"#,
    printcolumn = r#"{"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name": "Reason", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name": "Protection", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"DesensitizationReduced\")].reason"}"#,
    printcolumn = r#"{"name": "Endpoint", "type": "string", "priority": 1, "jsonPath": ".status.sites[*].endpoint"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct LogicalAIWorkflowSpec {
    /// The EdgeLLM whose sites complete prompts (one gateway per site).
    pub edge_ref: LocalObjectRef,
    /// The CloudLLM that answers forwarded prompts.
    pub cloud_ref: LocalObjectRef,
    /// Steps run for each request. Without `dependsOn` they run in list order; with it
    /// they form a DAG whose independent branches run at the same time. A step runs when
    /// the steps it needs have ended: if all succeeded, or when its `when` holds. The
    /// answer is the last `generate` step that succeeded. Without any edge `generate`
    /// step and any `when`, the gateway adds the classic routing: an edge draft, and the
    /// cloud's guard (its `desensitize` step) only when the draft's confidence is below
    /// `routing.confidenceThreshold` (`status.executionPlan` shows the result).
    #[schemars(schema_with = "named_list_schema::<WorkflowStep>", length(min = 1, max = 32))]
    pub steps: Vec<WorkflowStep>,
    /// When the edge answers alone and how long the cloud may take.
    #[serde(default)]
    pub routing: RoutingPolicy,
    /// What personal data is removed before anything leaves the edge.
    #[serde(default)]
    pub desensitization: DesensitizationPolicy,
    /// How the gateway is exposed.
    #[serde(default)]
    pub exposure: Exposure,
}

/// One step of the workflow.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowStep {
    /// Step name, unique in the workflow.
    #[schemars(regex(pattern = DNS_LABEL_PATTERN), length(min = 1, max = 63))]
    pub name: String,
    /// What the step does.
    pub kind: StepKind,
    /// Where a `generate` step runs; ignored by other kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// Steps that must finish first (DAG form).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Time limit of this step in milliseconds (within the workflow's latency budget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 600000))]
    pub timeout_ms: Option<i32>,
    /// Run the step only when this holds; otherwise it is skipped, and so are the steps
    /// that need it. Without `when` a step runs when all its dependencies succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<StepCondition>,
    /// The step whose output is this step's prompt (`promptCompletion`, `generate`). It
    /// must be one this step depends on. Default: the output of the nearest
    /// `promptCompletion` it depends on, else the client's own prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DNS_LABEL_PATTERN), length(min = 1, max = 63))]
    pub input: Option<String>,
    /// What an `intentInference` step extracts (required there, refused elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<IntentSpec>,
    /// How a `popularityPrediction` step counts and forecasts (refused elsewhere; every
    /// field has a default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub popularity: Option<PopularitySpec>,
}

/// What a `popularityPrediction` step counts and forecasts. The step runs per site once
/// per interval, not per request: every request's topic is counted (only the topic: the
/// prompt is read in memory by the topic matcher and never stored), and at the end of
/// each interval the edge model predicts the next interval's most requested topics from
/// the history.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PopularitySpec {
    /// Length of one counting interval in seconds.
    #[serde(default = "default_interval_seconds")]
    #[schemars(range(min = 1, max = 86400))]
    pub interval_seconds: i32,
    /// How many topics are predicted for the next interval.
    #[serde(default = "default_top_n")]
    #[schemars(range(min = 1, max = 10))]
    pub top_n: i32,
    /// How many past intervals the model is shown (and the gateway keeps).
    #[serde(default = "default_history_intervals")]
    #[schemars(range(min = 1, max = 48))]
    pub history_intervals: i32,
    /// The topics counted, each recognised by its keywords (case-insensitive words or
    /// phrases; a keyword also matches its plural). A request matching none counts as
    /// `other`. Default: the built-in catalogue of everyday requests (food, coffee,
    /// transport, sights, shopping, events, …; see docs/workflows.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "named_list_schema::<TopicSpec>", length(max = 64))]
    pub topics: Vec<TopicSpec>,
    /// Model the edge server is asked for: one of the EdgeLLM's `adapters` (a forecasting
    /// fine-tune) or its base model. Default: the site's model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub model: Option<String>,
    /// An `http(s)` URL each prediction is POSTed to (e.g. a cache controller that
    /// pre-warms what serves the predicted topics); failures are logged and counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub webhook: Option<String>,
    /// Which prediction is published: the edge model's (`model`, the default), or that of
    /// whichever predictor — the model, the frequency or the sequence baseline — has the
    /// best hit rate at this site so far (`best`; the model's until intervals are scored).
    /// The model is asked every interval either way, so its score stays current.
    #[serde(default)]
    pub publish: PublishPolicy,
}

/// What a `popularityPrediction` step publishes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PublishPolicy {
    /// The edge model's prediction (the frequency baseline when the model fails).
    #[default]
    Model,
    /// The prediction of the predictor with the best hit rate so far.
    Best,
}

fn default_interval_seconds() -> i32 {
    300
}

fn default_top_n() -> i32 {
    3
}

fn default_history_intervals() -> i32 {
    8
}

impl Default for PopularitySpec {
    fn default() -> Self {
        Self {
            interval_seconds: default_interval_seconds(),
            top_n: default_top_n(),
            history_intervals: default_history_intervals(),
            topics: Vec::new(),
            model: None,
            webhook: None,
            publish: PublishPolicy::default(),
        }
    }
}

/// One counted topic.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicSpec {
    /// Topic name, as predictions and metrics label it.
    #[schemars(regex(pattern = DNS_LABEL_PATTERN), length(min = 1, max = 63))]
    pub name: String,
    /// Words or phrases that mark a request as this topic.
    #[schemars(length(min = 1, max = 64))]
    pub keywords: Vec<String>,
}

/// The intent an `intentInference` step fills.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntentSpec {
    /// JSON Schema of the intent (an object schema): the edge model's output is decoded
    /// under it, so the result always validates.
    #[schemars(schema_with = "free_form_object_schema")]
    pub schema: serde_json::Value,
    /// Model the edge server is asked for: one of the EdgeLLM's `adapters` (an intent
    /// fine-tune) or its base model. Default: the site's model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub model: Option<String>,
    /// Extra instructions for the model (what the fields mean, units, defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub instructions: Option<String>,
    /// An `http(s)` URL the result is POSTed to (e.g. the network controller), after the
    /// answer; failures are logged and counted, never fail the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub webhook: Option<String>,
}

/// Any JSON object (a JSON Schema), kept as written by the apiserver.
fn free_form_object_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "description": "A JSON Schema object."
    })
}

/// A condition on a step this one depends on (directly or not). Exactly one test is set.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepCondition {
    /// The step whose result is tested.
    #[schemars(regex(pattern = DNS_LABEL_PATTERN), length(min = 1, max = 63))]
    pub step: String,
    /// Holds when that step's confidence (from its token log-probabilities, per
    /// `routing.confidenceMetric`) is below this; a step without a confidence (failed,
    /// skipped, no log-probabilities) counts as unsure, so the condition holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub confidence_below: Option<f64>,
    /// Holds when that step's confidence is at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub confidence_at_least: Option<f64>,
    /// Holds when that step ended so (e.g. `failed`: a fallback branch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<StepOutcome>,
}

// Thresholds are finite numbers in [0, 1] (the schema says so; the graph compiler checks).
impl Eq for StepCondition {}

/// How a step ended.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum StepOutcome {
    /// It ran and produced its output.
    Succeeded,
    /// It ran and failed (an error, a refusal or its time limit).
    Failed,
    /// It did not run: its condition did not hold or a step it needs did not succeed.
    Skipped,
}

/// Kinds of workflow step.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum StepKind {
    /// The site's edge LLM turns the concise prompt into a comprehensive one.
    PromptCompletion,
    /// Personal data is removed (per `desensitization`) before the cloud sees the prompt.
    Desensitize,
    /// An LLM answers (`target`: edge or cloud).
    Generate,
    /// The edge model fills the `intent` schema from the prompt (constrained decoding):
    /// e.g. a network intent — bandwidth, endpoints, protection — for the network
    /// controller. The result is returned in `netgpt.intents` (and posted to `intent.webhook`).
    IntentInference,
    /// Per site and interval, not per request: request topics are counted and the edge
    /// model predicts the next interval's most requested ones (`popularity`), served at the
    /// gateway's `GET /v1/popularity`, as metrics, in `status.sites[].popularity` and to
    /// `popularity.webhook`. It takes no `dependsOn`, `when` or `input`, and no step can
    /// depend on it.
    PopularityPrediction,
}

/// Where a `generate` step runs.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Target {
    /// The site's edge LLM.
    Edge,
    /// The workflow's cloud LLM.
    Cloud,
}

/// Routing between edge and cloud.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoutingPolicy {
    /// The edge answers alone when its confidence is at least this (0..1).
    #[serde(default = "default_threshold")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub confidence_threshold: f64,
    /// How edge confidence is computed from the edge model's token log-probabilities.
    #[serde(default)]
    pub confidence_metric: ConfidenceMetric,
    /// Latency budget in milliseconds for the cloud's answer: its whole answer, or its
    /// first chunk when streamed (a stream is then bounded per chunk by the gateway's
    /// `--stream-idle-timeout-seconds`, so a long answer is not cut off mid-way). When
    /// the cloud path cannot meet it (or is down), the edge answers and the response says
    /// so.
    #[serde(default = "default_budget")]
    #[schemars(range(min = 1, max = 600000))]
    pub latency_budget_ms: i32,
    /// Which of the CloudLLM's models the cloud step asks for: one of its declared
    /// `adapters` (a cloud fine-tune) or its served base-model name. Default: the base
    /// model. Anything else is `InvalidSpec` naming this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub cloud_model: Option<String>,
}

fn default_threshold() -> f64 {
    0.7
}

fn default_budget() -> i32 {
    30000
}

impl Default for RoutingPolicy {
    fn default() -> Self {
        Self {
            confidence_threshold: default_threshold(),
            confidence_metric: ConfidenceMetric::default(),
            latency_budget_ms: default_budget(),
            cloud_model: None,
        }
    }
}

/// Edge confidence measures.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ConfidenceMetric {
    /// exp(mean token log-probability): the geometric-mean token probability.
    #[default]
    MeanTokenProbability,
    /// exp(min token log-probability): the least certain token decides.
    MinTokenProbability,
}

/// Desensitization of prompts before they leave the edge.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DesensitizationPolicy {
    /// Remove personal data before a prompt leaves the edge (the default). `false` sends
    /// prompts to the cloud as users wrote them, so it is accepted only when the workflow
    /// also carries the annotation `netgpt.io/allow-unprotected-cloud-prompts: "true"`;
    /// without it the workflow is `InvalidSpec` and nothing is rendered. With it the
    /// workflow reports `DesensitizationReduced=True` (reason `DesensitizationDisabled`)
    /// and a Warning Event for every generation.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Entity types to remove. Empty means all supported types. A subset leaves the
    /// others in prompts sent to the cloud: the workflow lists them in
    /// `status.unprotectedEntities` and reports `DesensitizationReduced=True` (reason
    /// `EntitiesNarrowed`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<EntityType>,
    /// What replaces a detected entity.
    #[serde(default)]
    pub action: DesensitizeAction,
    /// Put the original values back where the cloud's answer repeats a pseudonym.
    #[serde(default = "yes")]
    pub restore_in_response: bool,
    /// What happens when desensitization fails (error, timeout, crash). Both choices are
    /// fail-closed: there is deliberately no setting that forwards unredacted text.
    #[serde(default)]
    pub on_failure: DesensitizeFailure,
    /// CPU and memory of the desensitizer sidecar in each gateway pod. Keys left out keep
    /// the defaults (requests `cpu: 250m, memory: 256Mi`, limits `cpu: "2", memory:
    /// 512Mi`: room for its NER model, ~90 MB of f32 weights); a limit left out is raised
    /// to a larger request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<SidecarResources>,
}

/// Requests and limits of a sidecar container (CPU and memory only).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SidecarResources {
    /// What the scheduler reserves for the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<ComputeQuantities>,
    /// The most the container may use: over the memory limit it is killed, over the CPU
    /// limit it is throttled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<ComputeQuantities>,
}

/// CPU and memory quantities in Kubernetes notation (`500m`, `2`, `256Mi`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComputeQuantities {
    /// CPU, e.g. `"250m"` or `"2"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Quantity>,
    /// Memory, e.g. `"256Mi"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Quantity>,
}

// `Quantity` compares as its string, an equivalence; the policy (and the compiled workflow
// that carries it) keep their `Eq`.
impl Eq for ComputeQuantities {}

fn yes() -> bool {
    true
}

impl Default for DesensitizationPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            entities: Vec::new(),
            action: DesensitizeAction::default(),
            restore_in_response: true,
            on_failure: DesensitizeFailure::default(),
            resources: None,
        }
    }
}

/// Personal-data entity types the desensitizer detects.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum EntityType {
    /// People's names.
    Person,
    /// E-mail addresses.
    Email,
    /// Phone numbers.
    Phone,
    /// Payment card numbers (Luhn-checked).
    CreditCard,
    /// IBANs (checksum-verified).
    Iban,
    /// IPv4 / IPv6 addresses.
    IpAddress,
    /// Street addresses.
    StreetAddress,
    /// National identity numbers.
    NationalId,
    /// Dates of birth.
    DateOfBirth,
    /// API keys, access tokens, passwords and other secrets.
    ApiKey,
    /// The `user:password` part of URLs that carry credentials.
    UrlCredentials,
    /// Places a person can be located by (city or district named as where they live).
    Location,
}

impl EntityType {
    /// Every supported type: what an empty `entities` list removes.
    pub const ALL: [EntityType; 12] = [
        Self::Person,
        Self::Email,
        Self::Phone,
        Self::CreditCard,
        Self::Iban,
        Self::IpAddress,
        Self::StreetAddress,
        Self::NationalId,
        Self::DateOfBirth,
        Self::ApiKey,
        Self::UrlCredentials,
        Self::Location,
    ];

    /// Position in [`EntityType::ALL`]. The match is exhaustive, so a new variant does not
    /// compile until it is placed here; the tests check that `ALL` has every variant the
    /// schema lists.
    pub const fn index(self) -> usize {
        match self {
            Self::Person => 0,
            Self::Email => 1,
            Self::Phone => 2,
            Self::CreditCard => 3,
            Self::Iban => 4,
            Self::IpAddress => 5,
            Self::StreetAddress => 6,
            Self::NationalId => 7,
            Self::DateOfBirth => 8,
            Self::ApiKey => 9,
            Self::UrlCredentials => 10,
            Self::Location => 11,
        }
    }
}

/// Replacement for a detected entity.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DesensitizeAction {
    /// Replace with the entity type, e.g. `[EMAIL]`.
    Redact,
    /// Replace characters with `*`, keeping length.
    Mask,
    /// Replace with a stable per-request pseudonym, e.g. `[PERSON_1]`, which can be restored.
    #[default]
    Pseudonymize,
}

/// Fail-closed behaviours when desensitization cannot complete.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DesensitizeFailure {
    /// Answer at the edge and say so in the response.
    #[default]
    EdgeFallback,
    /// Answer with an error (HTTP 503).
    Reject,
}

/// Exposure of the gateway.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Exposure {
    /// Service port of the gateway.
    #[serde(default = "default_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// Service type of the gateway.
    #[serde(default)]
    pub service_type: ServiceType,
}

fn default_port() -> i32 {
    8080
}

impl Default for Exposure {
    fn default() -> Self {
        Self { port: default_port(), service_type: ServiceType::default() }
    }
}

/// Kubernetes Service types the gateway may use.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ServiceType {
    /// In-cluster only.
    #[default]
    ClusterIP,
    /// A port on every node.
    NodePort,
    /// A cloud or bare-metal load balancer.
    LoadBalancer,
}

/// Observed state of a workflow.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogicalAIWorkflowStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Progressing`, `Degraded`, `DesensitizationReduced`.
    #[serde(default)]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Entity types that reach the cloud unremoved: every type while desensitization is
    /// disabled, the ones `spec.desensitization.entities` leaves out otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unprotected_entities: Vec<EntityType>,
    /// The step graph the gateways run, one line per step in execution order: what it
    /// needs, when it runs, what it reads — including the edge draft the classic routing
    /// adds (see `steps`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub execution_plan: Vec<String>,
    /// Per-site gateways.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "named_list_schema::<WorkflowSiteStatus>")]
    pub sites: Vec<WorkflowSiteStatus>,
}

/// Observed state of one site's gateway.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowSiteStatus {
    /// Site name (from the EdgeLLM).
    pub name: String,
    /// In-cluster URL of the site's gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Whether the gateway is ready.
    #[serde(default)]
    pub ready: bool,
    /// The latest prediction of each `popularityPrediction` step, as the site's gateway
    /// published it (`GET /v1/popularity`), read again at every interval.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub popularity: Vec<SitePopularity>,
}

/// One `popularityPrediction` step's latest prediction at a site, and how its predictions
/// have scored so far.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SitePopularity {
    /// The step's name.
    pub step: String,
    /// Start of the interval the prediction is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_start: Option<Time>,
    /// The predicted most requested topics, most requested first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top: Vec<String>,
    /// What was published: `model`, `frequency` or `sequence` (with `publish: best`), or
    /// `fallback` (the model failed; the frequency baseline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Intervals scored so far (since the gateway started).
    #[serde(default)]
    pub evaluated_intervals: i64,
    /// Hit-rate@N of the published predictions over the scored intervals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hit_rate: Option<f64>,
    /// Hit-rate@N of the edge model's own predictions (intervals it answered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_hit_rate: Option<f64>,
    /// Hit-rate@N the frequency baseline would have had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_hit_rate: Option<f64>,
    /// Hit-rate@N the sequence baseline (Holt's linear trend) would have had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_hit_rate: Option<f64>,
}

// Hit rates are finite fractions (the gateway computes them from counts).
impl Eq for SitePopularity {}

#[cfg(test)]
mod tests {
    use super::EntityType;

    /// Every string value in a JSON schema (enum members, or `const`s of a `oneOf`).
    fn names(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v) {
                        ("const", serde_json::Value::String(s)) => out.push(s.clone()),
                        ("enum", serde_json::Value::Array(items)) => {
                            out.extend(items.iter().filter_map(|i| i.as_str().map(String::from)))
                        }
                        _ => names(v, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| names(i, out)),
            _ => {}
        }
    }

    #[test]
    fn all_lists_every_entity_type_at_its_index() {
        for (i, kind) in EntityType::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i, "{kind:?}");
        }
        let schema = serde_json::to_value(schemars::schema_for!(EntityType)).expect("schema");
        let mut listed = Vec::new();
        names(&schema, &mut listed);
        assert_eq!(listed.len(), EntityType::ALL.len(), "{listed:?}");
        for name in listed {
            let kind: EntityType = serde_json::from_value(serde_json::Value::String(name.clone())).expect("variant");
            assert!(EntityType::ALL.contains(&kind), "{name} is missing from EntityType::ALL");
        }
    }
}
