//! Controllers for EdgeLLM and CloudLLM and what they share: the context, server-side
//! apply of children, pruning by label, conditions and Events.

pub mod cache;
pub mod cloud;
pub mod edge;
pub mod popularity;
pub mod training;
pub mod workflow;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Debug;
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{Node, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};
use netgpt_crds::{CloudLLM, EdgeLLM};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::metrics::Metrics;
use crate::render::PodDefaults;
use crate::render::labels::Component;
use crate::render::policy::MetricsScrapers;
use crate::validate::FieldError;
use cache::{CacheError, CachedChild, ChildCache};

/// Field manager of every child object the operator applies.
pub const FIELD_MANAGER: &str = "netgpt-operator";
/// Field manager of status patches. Kubernetes 1.20 keeps one managedFields entry per
/// manager for the object and its status, so sharing one would make spec pruning
/// forget fields the operator dropped.
pub const STATUS_FIELD_MANAGER: &str = "netgpt-operator-status";
/// Periodic resync, on top of watch events.
pub const RESYNC: Duration = Duration::from_secs(300);
/// How often a reconcile with work in progress outside any watch looks again. Training
/// Jobs are polled rather than watched: a Job or its pod changing between steps reports
/// within this, and two more watch streams per controller are not worth it.
const POLL: Duration = Duration::from_secs(5);

/// Errors a reconcile can return; all are retried with back-off.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("serializing status: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("{0} has no namespace")]
    NoNamespace(String),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
}

/// Shared state of the controllers.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Metrics,
    /// What rendered pods inherit: images (when a resource sets none) and the log format.
    pub defaults: PodDefaults,
    /// Pods the models' isolation policies let scrape metrics (`None`: no pod).
    pub scrapers: Option<MetricsScrapers>,
    pub caches: Caches,
    /// Reads the gateways' popularity predictions for the workflows' status.
    pub http: reqwest::Client,
    failures: Mutex<HashMap<String, u32>>,
}

/// The watch caches the reconciles read instead of the API server.
pub struct Caches {
    pub edge: ChildCache,
    pub cloud: ChildCache,
    pub gateway: ChildCache,
    /// The EdgeLLM and CloudLLM controllers' own stores, read by workflow reconciles.
    pub edges: Store<EdgeLLM>,
    pub clouds: Store<CloudLLM>,
}

impl Caches {
    pub fn children(&self, component: Component) -> &ChildCache {
        match component {
            // Training Jobs belong to their EdgeLLM and are read from the API directly.
            Component::EdgeLlm | Component::AdapterTraining => &self.edge,
            Component::CloudLlm => &self.cloud,
            Component::Gateway => &self.gateway,
        }
    }

    /// The EdgeLLM `name`, from the cache or, when the cache has not seen it yet (created
    /// in the same instant as the workflow), from the API server.
    pub async fn edge(&self, client: &Client, namespace: &str, name: &str) -> Result<Option<EdgeLLM>, Error> {
        cached_or_fetched(&self.edges, client, namespace, name).await
    }

    /// The CloudLLM `name`, like [`Caches::edge`].
    pub async fn cloud(&self, client: &Client, namespace: &str, name: &str) -> Result<Option<CloudLLM>, Error> {
        cached_or_fetched(&self.clouds, client, namespace, name).await
    }
}

async fn cached_or_fetched<K>(
    store: &Store<K>,
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<K>, Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    if let Some(obj) = store.get(&ObjectRef::new(name).within(namespace)) {
        return Ok(Some((*obj).clone()));
    }
    Ok(Api::<K>::namespaced(client.clone(), namespace).get_opt(name).await?)
}

impl Context {
    pub fn new(
        client: Client,
        recorder: Recorder,
        metrics: Metrics,
        defaults: PodDefaults,
        scrapers: Option<MetricsScrapers>,
        caches: Caches,
    ) -> Self {
        Self {
            client,
            recorder,
            metrics,
            defaults,
            scrapers,
            caches,
            http: reqwest::Client::new(),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Exponential back-off per object: 1 s, 2 s, 4 s … capped at 5 minutes.
    pub fn backoff(&self, key: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = failures.entry(key.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        Duration::from_secs(1u64 << (*n - 1).min(8)).min(Duration::from_secs(300))
    }

    fn reset_backoff(&self, key: &str) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }

    /// Publishes an Event about `regarding`; failures are logged, never fatal.
    pub async fn event(
        &self,
        regarding: &ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
        related: Option<ObjectReference>,
    ) {
        let event = Event {
            type_,
            reason: reason.to_string(),
            note: Some(note),
            action: action.to_string(),
            secondary: related,
        };
        if let Err(e) = self.recorder.publish(&event, regarding).await {
            tracing::warn!(error = %e, reason, "publishing event failed");
        }
    }
}

/// What server-side apply did to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Created,
    Updated,
    Unchanged,
}

/// Server-side applies `obj` (forcing ownership of its fields) unless the cache shows the
/// operator already applied exactly this and nobody changed it since; reports creation and
/// change with an Event. Returns the object the API server gave back, or `None` when
/// nothing was sent.
pub async fn apply_child<K>(
    ctx: &Context,
    cache: &ChildCache,
    owner: &ObjectReference,
    obj: &K,
) -> Result<Option<K>, Error>
where
    K: CachedChild
        + Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Serialize
        + DeserializeOwned
        + Clone
        + Debug,
{
    let namespace = obj.namespace().ok_or_else(|| Error::NoNamespace(obj.name_any()))?;
    let name = obj.name_any();
    if cache.unchanged(obj, &namespace, &name) {
        return Ok(None);
    }
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
    let known = cache.known::<K>(&namespace, &name);
    let after = api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(obj)).await?;
    // The caches are complete once synced, so a child neither cached nor applied by this
    // process did not exist. Objects with a generation (Deployments) change
    // resourceVersion on every status update by their controller; only a generation bump
    // means the apply changed them.
    let applied = if !known {
        Applied::Created
    } else if cache.wrote_nothing::<K>(&namespace, &name, after.meta()) {
        Applied::Unchanged
    } else {
        Applied::Updated
    };
    cache.remember(obj, after.meta());
    let kind = K::kind(&());
    if applied != Applied::Unchanged {
        let (reason, verb) = if applied == Applied::Created { ("Created", "created") } else { ("Updated", "updated") };
        ctx.metrics.children.with_label_values(&[kind.as_ref(), verb]).inc();
        tracing::info!(%kind, %namespace, %name, verb, "applied child");
        ctx.event(
            owner,
            EventType::Normal,
            reason,
            "Apply",
            format!("{verb} {kind} {name}"),
            Some(after.object_ref(&())),
        )
        .await;
    }
    Ok(Some(after))
}

/// Applies a Deployment and returns its current state (the API server's answer, or the
/// cached copy when nothing needed applying).
pub async fn apply_deployment(
    ctx: &Context,
    cache: &ChildCache,
    owner: &ObjectReference,
    deployment: &k8s_openapi::api::apps::v1::Deployment,
) -> Result<k8s_openapi::api::apps::v1::Deployment, Error> {
    let applied = apply_child(ctx, cache, owner, deployment).await?;
    let namespace = deployment.namespace().unwrap_or_default();
    Ok(applied.or_else(|| cache.deployment(&namespace, &deployment.name_any())).unwrap_or_else(|| deployment.clone()))
}

/// Deletes cached children of `instance` that this owner controls but no longer wants.
pub async fn prune_children<K>(
    ctx: &Context,
    cache: &ChildCache,
    owner: &ObjectReference,
    namespace: &str,
    instance: &str,
    keep: &HashSet<String>,
) -> Result<(), Error>
where
    K: CachedChild + Resource<Scope = NamespaceResourceScope, DynamicType = ()> + DeserializeOwned + Clone + Debug,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), namespace);
    let owner_uid = owner.uid.as_deref().unwrap_or_default();
    for meta in cache.owned_by::<K>(namespace, instance) {
        let name = meta.name.clone().unwrap_or_default();
        let owned = meta.owner_references.iter().flatten().any(|o| o.uid == owner_uid && o.controller == Some(true));
        if keep.contains(&name) || !owned || meta.deletion_timestamp.is_some() {
            continue;
        }
        match api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => {}
            // Already gone (the cache lags the deletion): nothing to prune.
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
        cache.forget::<K>(namespace, &name);
        let kind = K::kind(&());
        ctx.metrics.children.with_label_values(&[kind.as_ref(), "deleted"]).inc();
        tracing::info!(%kind, %namespace, %name, "pruned child");
        ctx.event(owner, EventType::Normal, "Deleted", "Prune", format!("deleted {kind} {name}"), None).await;
    }
    Ok(())
}

/// Pods of a resource, grouped by the `netgpt.io/site` label ("" when none): the nodes
/// they were bound to and any scheduling failure.
#[derive(Default, Debug)]
pub struct PodPlacement {
    pub nodes: BTreeSet<String>,
    pub unschedulable: Option<String>,
}

pub fn pod_placement(cache: &ChildCache, namespace: &str, instance: &str) -> HashMap<String, PodPlacement> {
    let mut out: HashMap<String, PodPlacement> = HashMap::new();
    for pod in cache.pods_of(namespace, instance) {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let site = pod.labels().get(crate::render::labels::SITE_LABEL).cloned().unwrap_or_default();
        let entry = out.entry(site).or_default();
        if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) {
            entry.nodes.insert(node);
        }
        let unschedulable = pod.status.as_ref().and_then(|s| s.conditions.as_ref()).and_then(|cs| {
            cs.iter().find(|c| {
                c.type_ == "PodScheduled" && c.status == "False" && c.reason.as_deref() == Some("Unschedulable")
            })
        });
        if let Some(c) = unschedulable {
            entry.unschedulable = Some(c.message.clone().unwrap_or_else(|| "pod is unschedulable".into()));
        }
    }
    out
}

/// Lists nodes, for validation of GPU requests.
pub async fn list_nodes(client: &Client) -> Result<Vec<Node>, Error> {
    Ok(Api::<Node>::all(client.clone()).list(&ListParams::default()).await?.items)
}

/// Builds a condition, keeping `lastTransitionTime` when the status did not change.
pub fn condition(
    previous: &[Condition],
    type_: &str,
    status: bool,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
) -> Condition {
    let status = if status { "True" } else { "False" }.to_string();
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| Time(Timestamp::now()));
    Condition {
        type_: type_.to_string(),
        status,
        reason: reason.to_string(),
        message: message.into(),
        observed_generation: generation,
        last_transition_time,
    }
}

/// Conditions for a spec that failed validation.
pub fn invalid_spec_conditions(
    previous: &[Condition],
    errors: &[FieldError],
    generation: Option<i64>,
) -> Vec<Condition> {
    use netgpt_crds::status::condition_type::{DEGRADED, PROGRESSING, READY};
    let message = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
    vec![
        condition(previous, READY, false, "InvalidSpec", message.clone(), generation),
        condition(previous, PROGRESSING, false, "InvalidSpec", "waiting for a valid spec", generation),
        condition(previous, DEGRADED, true, "InvalidSpec", message, generation),
    ]
}

/// Records the invalid spec: one Warning Event per broken field.
pub async fn report_invalid(ctx: &Context, owner: &ObjectReference, errors: &[FieldError]) {
    for e in errors {
        tracing::warn!(field = %e.field, message = %e.message, "invalid spec");
        // The action carries the field so that distinct problems are distinct Events
        // (the recorder folds repeats of the same key into one series, keeping its note).
        ctx.event(owner, EventType::Warning, "InvalidSpec", &format!("Validate {}", e.field), e.to_string(), None)
            .await;
    }
}

/// Writes `status` with the status field manager, unless `current` (the status the
/// reconciled object carries) already says the same: a write would only wake every
/// watcher of the object for nothing.
pub async fn patch_status<K, S>(api: &Api<K>, name: &str, current: Option<&S>, status: &S) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + DeserializeOwned + Clone + Debug,
    S: Serialize + PartialEq,
{
    if current == Some(status) {
        return Ok(());
    }
    let body = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    match api.patch_status(name, &PatchParams::apply(STATUS_FIELD_MANAGER).force(), &Patch::Apply(&body)).await {
        // Deleted while we reconciled: nothing left to report on.
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        other => other.map(|_| ()).map_err(Error::from),
    }
}

/// Key identifying an object for back-off bookkeeping.
pub fn object_key<K: Resource<DynamicType = ()>>(obj: &K) -> String {
    format!(
        "{}/{}/{}",
        K::kind(&()),
        obj.meta().namespace.as_deref().unwrap_or_default(),
        obj.meta().name.as_deref().unwrap_or_default()
    )
}

/// How a reconcile ended.
pub enum Reconciled {
    /// Children applied and status written; resync periodically.
    Converging,
    /// Like `Converging`, but something runs that no watch reports step by step (an
    /// adapter-training Job moving through its steps): look again soon.
    Polling,
    /// Like `Converging`, but status follows something that changes on a clock of its
    /// own (the gateways' popularity predictions): look again after this.
    Refresh(Duration),
    /// The spec broke a rule; nothing was touched until it changes.
    InvalidSpec,
}

/// Runs one reconcile with the bookkeeping every controller shares: duration and result
/// metrics, back-off reset on success, and the requeue policy.
pub async fn instrumented<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    obj: &K,
    kind: &str,
    reconcile: impl std::future::Future<Output = Result<Reconciled, Error>>,
) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    let result = reconcile.await;
    ctx.metrics.reconcile_duration.with_label_values(&[kind]).observe(started.elapsed().as_secs_f64());
    let label = match &result {
        Ok(Reconciled::Converging | Reconciled::Polling | Reconciled::Refresh(_)) => "success",
        Ok(Reconciled::InvalidSpec) => "invalid_spec",
        Err(_) => "error",
    };
    ctx.metrics.reconciles.with_label_values(&[kind, label]).inc();
    if result.is_ok() {
        ctx.reset_backoff(&object_key(obj));
    }
    result.map(|r| match r {
        Reconciled::Converging => Action::requeue(RESYNC),
        Reconciled::Polling => Action::requeue(POLL),
        Reconciled::Refresh(after) => Action::requeue(after),
        Reconciled::InvalidSpec => Action::await_change(),
    })
}

/// Reports an invalid spec (Events naming each field, `InvalidSpec` conditions) without
/// touching any child.
pub async fn reject_invalid<K>(
    ctx: &Context,
    obj: &K,
    previous: &[Condition],
    errors: &[FieldError],
) -> Result<Reconciled, Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + DeserializeOwned + Clone + Debug,
{
    let name = obj.name_any();
    let namespace = obj.namespace().ok_or_else(|| Error::NoNamespace(name.clone()))?;
    let generation = obj.meta().generation;
    report_invalid(ctx, &obj.object_ref(&()), errors).await;
    let status = InvalidSpecStatus {
        observed_generation: generation,
        conditions: invalid_spec_conditions(previous, errors, generation),
    };
    patch_status(&Api::<K>::namespaced(ctx.client.clone(), &namespace), &name, None, &status).await?;
    Ok(Reconciled::InvalidSpec)
}

/// What an invalid spec leaves in any kind's status: the conditions saying why, for the
/// generation they judge (the fields the last valid reconcile wrote are dropped with it:
/// they described a spec that no longer exists).
#[derive(Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct InvalidSpecStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    observed_generation: Option<i64>,
    conditions: Vec<Condition>,
}

/// The error policy of every controller: log and retry with exponential back-off.
pub fn error_policy<K: Resource<DynamicType = ()>>(
    obj: std::sync::Arc<K>,
    error: &Error,
    ctx: std::sync::Arc<Context>,
) -> Action {
    let key = object_key(obj.as_ref());
    let delay = ctx.backoff(&key);
    tracing::warn!(object = %key, %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// Maps a serving pod to the custom resource it belongs to (pods are owned by
/// ReplicaSets, not by the resource, so the controller maps them by label).
pub fn pod_owner<K: Resource<DynamicType = ()>>(
    pod: &impl ResourceExt,
    component: crate::render::labels::Component,
) -> Option<kube::runtime::reflector::ObjectRef<K>> {
    use crate::render::labels::{COMPONENT_LABEL, INSTANCE_LABEL};
    let labels = pod.labels();
    if labels.get(COMPONENT_LABEL).map(String::as_str) != Some(component.as_str()) {
        return None;
    }
    let instance = labels.get(INSTANCE_LABEL)?;
    Some(kube::runtime::reflector::ObjectRef::new(instance).within(&pod.namespace()?))
}
