//! Watch caches of the children one component owns, and what the operator last applied.
//!
//! The same watches that trigger reconciles fill these stores, so a reconcile reads its
//! children (Deployment status, pods' placement, what to prune) from memory instead of
//! listing them, and skips the apply of a child whose cached copy still carries what the
//! operator last wrote. At 1,000 objects this removes most of the API round trips: a
//! reconcile that finds nothing to change makes no request at all.
//!
//! The stores hold no `managedFields` (the largest part of a small object) and only
//! metadata for Services, ConfigMaps and NetworkPolicies, whose content the reconcile
//! never reads back.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::Duration;

use futures::Stream;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::render::labels::{COMPONENT_LABEL, Component, INSTANCE_LABEL, MANAGED_BY, MANAGED_BY_LABEL};

/// How long a reconcile waits for the first list of the child watches.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// Drops what no reconcile reads: field-manager bookkeeping and `kubectl apply`'s copy
/// of the whole object in an annotation.
pub fn slim_meta(meta: &mut ObjectMeta) {
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// Watcher configuration selecting one component's children.
pub fn children_config(component: Component) -> watcher::Config {
    watcher::Config::default()
        .labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY},{COMPONENT_LABEL}={}", component.as_str()))
}

/// A cache of full objects: the stream feeds a controller's trigger, the store answers reads.
pub fn cached_objects<K>(
    api: Api<K>,
    config: watcher::Config,
) -> (Store<K>, impl Stream<Item = Result<K, watcher::Error>>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, config)
        .default_backoff()
        .modify(|obj: &mut K| slim_meta(obj.meta_mut()))
        .reflect(writer)
        .applied_objects();
    (reader, stream)
}

/// A cache of metadata only (an `Api` of `PartialObjectMeta` watches metadata: the API
/// server sends no spec or data).
pub fn cached_metadata<K>(
    api: Api<PartialObjectMeta<K>>,
    config: watcher::Config,
) -> (Store<PartialObjectMeta<K>>, impl Stream<Item = Result<PartialObjectMeta<K>, watcher::Error>>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, config)
        .default_backoff()
        .modify(|obj: &mut PartialObjectMeta<K>| slim_meta(&mut obj.metadata))
        .reflect(writer)
        .applied_objects();
    (reader, stream)
}

/// What the operator last wrote to one child: the hash of the rendered object and the
/// version the API server gave back.
#[derive(Clone, Debug, PartialEq, Eq)]
struct AppliedRecord {
    hash: u64,
    generation: Option<i64>,
    resource_version: Option<String>,
}

/// The children of one component, as its watches last saw them.
pub struct ChildCache {
    pub component: Component,
    pub deployments: Store<Deployment>,
    pub services: Store<PartialObjectMeta<Service>>,
    pub config_maps: Store<PartialObjectMeta<ConfigMap>>,
    /// Models own their isolation policy, workflows their allowances into the models.
    pub policies: Store<PartialObjectMeta<NetworkPolicy>>,
    /// Gateways report readiness from their Deployments and keep no pod cache.
    pub pods: Option<Store<Pod>>,
    applied: Mutex<HashMap<ChildKey, AppliedRecord>>,
}

/// Errors reading the caches.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("the watches of {0} children did not list within {1:?}")]
    NotSynced(&'static str, Duration),
}

impl ChildCache {
    pub fn new(
        component: Component,
        deployments: Store<Deployment>,
        services: Store<PartialObjectMeta<Service>>,
        config_maps: Store<PartialObjectMeta<ConfigMap>>,
        policies: Store<PartialObjectMeta<NetworkPolicy>>,
        pods: Option<Store<Pod>>,
    ) -> Self {
        Self { component, deployments, services, config_maps, policies, pods, applied: Mutex::new(HashMap::new()) }
    }

    /// Waits until every store has its first list, so that "not cached" means "absent".
    pub async fn synced(&self) -> Result<(), CacheError> {
        let all = async {
            let _ = self.deployments.wait_until_ready().await;
            let _ = self.services.wait_until_ready().await;
            let _ = self.config_maps.wait_until_ready().await;
            let _ = self.policies.wait_until_ready().await;
            if let Some(p) = &self.pods {
                let _ = p.wait_until_ready().await;
            }
        };
        tokio::time::timeout(SYNC_TIMEOUT, all)
            .await
            .map_err(|_| CacheError::NotSynced(self.component.as_str(), SYNC_TIMEOUT))
    }

    /// The cached Deployment `name` in `namespace`.
    pub fn deployment(&self, namespace: &str, name: &str) -> Option<Deployment> {
        self.deployments.get(&ObjectRef::new(name).within(namespace)).map(|d| (*d).clone())
    }

    /// Cached metadata of a child of kind `K`.
    pub fn meta<K: CachedChild>(&self, namespace: &str, name: &str) -> Option<ObjectMeta> {
        K::cached_meta(self, namespace, name)
    }

    /// Whether applying `desired` would write nothing: the operator applied exactly this
    /// before and the cached object still carries the version it got back, with the
    /// labels, annotations and owner the operator set (anyone else's edit changes the
    /// version, so drift is re-applied).
    pub fn unchanged<K: CachedChild + Serialize>(&self, desired: &K, namespace: &str, name: &str) -> bool {
        let Some(cached) = self.meta::<K>(namespace, name) else { return false };
        let Some(record) = self.record::<K>(namespace, name) else { return false };
        let version_matches = match record.generation {
            Some(g) => cached.generation == Some(g),
            None => cached.resource_version.is_some() && cached.resource_version == record.resource_version,
        };
        version_matches
            && record.hash == hash_of(desired)
            && contains(cached.labels.as_ref(), desired.meta().labels.as_ref())
            && contains(cached.annotations.as_ref(), desired.meta().annotations.as_ref())
            && desired.meta().owner_references.iter().flatten().all(|want| {
                cached
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|have| have.uid == want.uid && have.controller == want.controller)
            })
    }

    /// Whether an apply that returned `after` wrote nothing, judged by the versions known
    /// before it (the cached one and the one the operator last got back): a write always
    /// yields a version neither of them has.
    pub fn wrote_nothing<K: CachedChild>(&self, namespace: &str, name: &str, after: &ObjectMeta) -> bool {
        let record = self.record::<K>(namespace, name);
        let cached = self.meta::<K>(namespace, name);
        match after.generation {
            Some(g) => {
                record.as_ref().is_some_and(|r| r.generation == Some(g))
                    || cached.as_ref().is_some_and(|c| c.generation == Some(g))
            }
            None => {
                let rv = after.resource_version.as_ref();
                record.as_ref().is_some_and(|r| r.resource_version.as_ref() == rv)
                    || cached.as_ref().is_some_and(|c| c.resource_version.as_ref() == rv)
            }
        }
    }

    /// Whether the child was unknown before this apply (neither cached nor applied by this
    /// process): the apply created it.
    pub fn known<K: CachedChild>(&self, namespace: &str, name: &str) -> bool {
        self.record::<K>(namespace, name).is_some() || self.meta::<K>(namespace, name).is_some()
    }

    /// Remembers what the operator applied and what came back.
    pub fn remember<K: CachedChild + Serialize>(&self, desired: &K, after: &ObjectMeta) {
        let (Some(namespace), Some(name)) = (after.namespace.as_deref(), after.name.as_deref()) else { return };
        let record = AppliedRecord {
            hash: hash_of(desired),
            generation: after.generation,
            resource_version: after.resource_version.clone(),
        };
        let mut applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        applied.insert(key::<K>(namespace, name), record);
        // Children of deleted owners are garbage-collected without the operator seeing
        // it; drop their records once they outnumber the cached children (checked every
        // 1,024 records: counting the stores copies their indexes).
        if !applied.len().is_multiple_of(1024) {
            return;
        }
        let cached = self.deployments.state().len()
            + self.services.state().len()
            + self.config_maps.state().len()
            + self.policies.state().len();
        if applied.len() > 2 * cached + 1024 {
            applied.retain(|key, _| match key.kind.as_str() {
                "Deployment" => Deployment::cached_meta(self, &key.namespace, &key.name).is_some(),
                "Service" => Service::cached_meta(self, &key.namespace, &key.name).is_some(),
                "ConfigMap" => ConfigMap::cached_meta(self, &key.namespace, &key.name).is_some(),
                "NetworkPolicy" => NetworkPolicy::cached_meta(self, &key.namespace, &key.name).is_some(),
                _ => false,
            });
        }
    }

    /// Forgets a child the operator deleted.
    pub fn forget<K: CachedChild>(&self, namespace: &str, name: &str) {
        self.applied.lock().unwrap_or_else(|p| p.into_inner()).remove(&key::<K>(namespace, name));
    }

    fn record<K: CachedChild>(&self, namespace: &str, name: &str) -> Option<AppliedRecord> {
        self.applied.lock().unwrap_or_else(|p| p.into_inner()).get(&key::<K>(namespace, name)).cloned()
    }

    /// Cached children of kind `K` in `namespace` labelled as `instance`'s.
    pub fn owned_by<K: CachedChild>(&self, namespace: &str, instance: &str) -> Vec<ObjectMeta> {
        K::cached_all(self)
            .into_iter()
            .filter(|m| m.namespace.as_deref() == Some(namespace) && has_instance(m, instance))
            .collect()
    }

    /// Cached pods of `instance` in `namespace`.
    pub fn pods_of(&self, namespace: &str, instance: &str) -> Vec<std::sync::Arc<Pod>> {
        let Some(pods) = &self.pods else { return Vec::new() };
        pods.state_filter(|p| p.metadata.namespace.as_deref() == Some(namespace) && has_instance(&p.metadata, instance))
    }
}

fn has_instance(meta: &ObjectMeta, instance: &str) -> bool {
    meta.labels.as_ref().and_then(|l| l.get(INSTANCE_LABEL)).map(String::as_str) == Some(instance)
}

/// Identifies one child across kinds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ChildKey {
    kind: String,
    namespace: String,
    name: String,
}

fn key<K: Resource<DynamicType = ()>>(namespace: &str, name: &str) -> ChildKey {
    ChildKey { kind: K::kind(&()).into_owned(), namespace: namespace.to_string(), name: name.to_string() }
}

fn contains(have: Option<&BTreeMap<String, String>>, want: Option<&BTreeMap<String, String>>) -> bool {
    want.into_iter().flatten().all(|(k, v)| have.and_then(|h| h.get(k)) == Some(v))
}

/// Hash of the rendered object: equal renders give equal hashes within one process.
fn hash_of<K: Serialize>(obj: &K) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    // Serializing a rendered object cannot fail (no maps with non-string keys); an error
    // hashes as empty, which only makes the next apply go through.
    serde_json::to_vec(obj).unwrap_or_default().hash(&mut hasher);
    hasher.finish()
}

/// A child kind the caches hold.
pub trait CachedChild: Resource<DynamicType = ()> {
    fn cached_meta(cache: &ChildCache, namespace: &str, name: &str) -> Option<ObjectMeta>;
    fn cached_all(cache: &ChildCache) -> Vec<ObjectMeta>;
}

impl CachedChild for Deployment {
    fn cached_meta(cache: &ChildCache, namespace: &str, name: &str) -> Option<ObjectMeta> {
        cache.deployments.get(&ObjectRef::new(name).within(namespace)).map(|d| d.metadata.clone())
    }
    fn cached_all(cache: &ChildCache) -> Vec<ObjectMeta> {
        cache.deployments.state().iter().map(|d| d.metadata.clone()).collect()
    }
}

macro_rules! metadata_child {
    ($kind:ty, |$c:ident| $get:expr) => {
        impl CachedChild for $kind {
            fn cached_meta($c: &ChildCache, namespace: &str, name: &str) -> Option<ObjectMeta> {
                let store: Option<&Store<PartialObjectMeta<$kind>>> = $get;
                store?.get(&ObjectRef::new(name).within(namespace)).map(|m| m.metadata.clone())
            }
            fn cached_all($c: &ChildCache) -> Vec<ObjectMeta> {
                let store: Option<&Store<PartialObjectMeta<$kind>>> = $get;
                store.map(|s| s.state().iter().map(|m| m.metadata.clone()).collect()).unwrap_or_default()
            }
        }
    };
}

metadata_child!(Service, |c| Some(&c.services));
metadata_child!(ConfigMap, |c| Some(&c.config_maps));
metadata_child!(NetworkPolicy, |c| Some(&c.policies));
