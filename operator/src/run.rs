//! `netgpt operator`: leader election, the controllers, and the `/metrics`, `/health` and
//! `/ready` endpoints.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::core::PartialObjectMeta;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Client};
use kube_lease_manager::LeaseManagerBuilder;
use netgpt_crds::{CloudLLM, EdgeLLM, LogicalAIWorkflow};
use tokio::sync::watch;

pub use netgpt_runtime::LogFormat;

use crate::controller::cache::{ChildCache, cached_metadata, cached_objects, children_config};
use crate::controller::{self, Caches, Context, pod_owner};
use crate::metrics::Metrics;
use crate::render::PodDefaults;
use crate::render::labels::Component;
use crate::render::policy::{DEFAULT_SCRAPER_PODS, MetricsScrapers, SelectorError};

/// Options of `netgpt operator`.
#[derive(clap::Args, Clone, Debug)]
pub struct OperatorArgs {
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "NETGPT_WATCH_NAMESPACE")]
    pub namespace: Option<String>,
    /// Address of the `/metrics`, `/health` and `/ready` endpoints (`--metrics-addr`, its
    /// earlier name, works too).
    #[arg(long, alias = "metrics-addr", value_name = "ADDR", default_value = "0.0.0.0:8080", env = "NETGPT_LISTEN")]
    pub listen: SocketAddr,
    /// Image of serving pods when a resource sets none.
    #[arg(long, env = "NETGPT_DEFAULT_IMAGE", default_value = concat!("ghcr.io/netgpt/netgpt:", env!("CARGO_PKG_VERSION")))]
    pub default_image: String,
    /// Image of serving pods that run on GPUs (`spec.serving.device` resolved to CUDA) when
    /// a resource sets none: the CUDA build (Dockerfile.cuda).
    #[arg(long, env = "NETGPT_DEFAULT_CUDA_IMAGE", default_value = concat!("ghcr.io/netgpt/netgpt:", env!("CARGO_PKG_VERSION"), "-cuda"))]
    pub default_cuda_image: String,
    /// Elect a leader through a coordination.k8s.io/v1 Lease so several replicas are safe.
    /// `--leader-elect` alone means true; `--leader-elect=false` (as Kubernetes' own
    /// components spell it) runs without a Lease, for a single replica.
    #[arg(
        long,
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = clap::ArgAction::Set,
        env = "NETGPT_LEADER_ELECT"
    )]
    pub leader_elect: bool,
    /// Name of the leader Lease.
    #[arg(long, default_value = "netgpt-operator", env = "NETGPT_LEASE_NAME")]
    pub lease_name: String,
    /// Namespace of the leader Lease (default: the pod's namespace, else `default`).
    #[arg(long, env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// How long a dead leader blocks a takeover, in seconds.
    #[arg(long, alias = "lease-duration", default_value_t = 15, env = "NETGPT_LEASE_DURATION_SECONDS")]
    pub lease_duration_seconds: u64,
    /// This replica's identity in the Lease (default: the pod name).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Log format of the operator, rendered into every pod it creates (`NETGPT_LOG_FORMAT`),
    /// so a JSON-logging control plane gets JSON-logging workloads. Set from the global
    /// `--log-format` flag.
    #[arg(skip)]
    pub log_format: LogFormat,
    /// Labels (`key=value,…`) of the namespaces whose scraper pods may reach the model
    /// servers' metrics; empty: every namespace.
    #[arg(long, default_value = "", env = "NETGPT_METRICS_SCRAPER_NAMESPACES")]
    pub metrics_scraper_namespaces: String,
    /// Labels (`key=value,…`) of the pods that may scrape the model servers' metrics, past
    /// their NetworkPolicy (the metrics share the API port, so keep this narrow); empty:
    /// no pod.
    #[arg(long, default_value = DEFAULT_SCRAPER_PODS, env = "NETGPT_METRICS_SCRAPER_PODS")]
    pub metrics_scraper_pods: String,
}

/// Errors that stop the operator.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("connecting to Kubernetes: {0}")]
    Client(#[from] kube::Error),
    #[error("leader election: {0}")]
    Lease(#[from] kube_lease_manager::LeaseManagerError),
    #[error("serving metrics on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("lost the leader lease; exiting so a fresh replica can take over")]
    LostLease,
    #[error("--metrics-scraper-namespaces/--metrics-scraper-pods: {0}")]
    Scrapers(#[from] SelectorError),
}

#[derive(Clone)]
struct Health {
    metrics: Metrics,
    ready: Arc<AtomicBool>,
}

/// Runs until SIGTERM/SIGINT.
pub async fn run(args: OperatorArgs) -> Result<(), RunError> {
    run_until(args, netgpt_runtime::termination_signal(), |_| {}).await
}

/// Runs until `shutdown` resolves. `on_bound` receives the metrics address actually bound
/// (useful with port 0).
pub async fn run_until(
    args: OperatorArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(SocketAddr),
) -> Result<(), RunError> {
    // Checked before anything starts: a bad selector would fail every model's reconcile.
    let scrapers = MetricsScrapers::from_selectors(&args.metrics_scraper_namespaces, &args.metrics_scraper_pods)?;
    let client = Client::try_default().await?;
    let metrics = Metrics::new();
    let ready = Arc::new(AtomicBool::new(false));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|source| RunError::Bind { addr: args.listen, source })?;
    let bound = listener.local_addr().map_err(|source| RunError::Bind { addr: args.listen, source })?;
    on_bound(bound);
    let app = Router::new()
        .route(
            "/metrics",
            get(|State(h): State<Health>| async move { netgpt_runtime::metrics::response(h.metrics.registry()) }),
        )
        .route("/health", get(|| async { "ok" }))
        .route(
            "/ready",
            get(|State(h): State<Health>| async move {
                if h.ready.load(Ordering::Relaxed) {
                    (StatusCode::OK, "ready")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "not ready")
                }
            }),
        )
        .with_state(Health { metrics: metrics.clone(), ready: ready.clone() });
    let mut http_stop = stop_rx.clone();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = http_stop.wait_for(|s| *s).await;
            })
            .await;
    });

    let identity = args.identity.clone().unwrap_or_else(default_identity);
    let result = if args.leader_elect {
        let lease_ns = args.lease_namespace.clone().unwrap_or_else(|| "default".to_string());
        let manager = LeaseManagerBuilder::new(client.clone(), &args.lease_name)
            .with_namespace(&lease_ns)
            .with_identity(&identity)
            .with_duration(args.lease_duration_seconds)
            .with_grace(args.lease_duration_seconds.div_ceil(3).max(1))
            .build()
            .await?;
        let (mut leader_rx, lease_task) = manager.watch().await;
        // A standby replica is healthy and ready: it is doing its job by waiting.
        ready.store(true, Ordering::Relaxed);
        tracing::info!(%identity, lease = %args.lease_name, namespace = %lease_ns, "waiting for leadership");
        let mut stop = stop_rx.clone();
        let became_leader = tokio::select! {
            r = leader_rx.wait_for(|l| *l) => r.is_ok(),
            _ = stop.wait_for(|s| *s) => false,
        };
        let outcome = if became_leader {
            tracing::info!(%identity, "acquired leadership");
            metrics.leader.set(1);
            let mut lost_rx = leader_rx.clone();
            let lost = async move {
                let _ = lost_rx.wait_for(|l| !*l).await;
            };
            let mut stop = stop_rx.clone();
            let stopped = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            let lost_lease = Arc::new(AtomicBool::new(false));
            let flag = lost_lease.clone();
            let until = async move {
                tokio::select! {
                    _ = lost => flag.store(true, Ordering::Relaxed),
                    _ = stopped => {}
                }
            };
            run_controllers(client, &args, &identity, metrics.clone(), scrapers, until).await;
            metrics.leader.set(0);
            if lost_lease.load(Ordering::Relaxed) { Err(RunError::LostLease) } else { Ok(()) }
        } else {
            Ok(())
        };
        // Dropping the receiver makes the lease task release the lease for the next leader.
        drop(leader_rx);
        let _ = lease_task.await;
        outcome
    } else {
        ready.store(true, Ordering::Relaxed);
        let mut stop = stop_rx.clone();
        run_controllers(client, &args, &identity, metrics.clone(), scrapers, async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await;
        Ok(())
    };
    ready.store(false, Ordering::Relaxed);
    server.abort();
    result
}

fn default_identity() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| format!("netgpt-operator-{}", std::process::id()))
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Workflows in the same namespace whose reference (picked by `field`) names `target`.
fn referencing<K: kube::Resource>(
    store: &kube::runtime::reflector::Store<LogicalAIWorkflow>,
    target: &K,
    field: impl Fn(&LogicalAIWorkflow) -> &String,
) -> Vec<kube::runtime::reflector::ObjectRef<LogicalAIWorkflow>> {
    let (name, namespace) = (target.meta().name.clone(), target.meta().namespace.clone());
    store
        .state()
        .iter()
        .filter(|wf| wf.metadata.namespace == namespace && Some(field(wf)) == name.as_ref())
        .map(|wf| kube::runtime::reflector::ObjectRef::from_obj(wf.as_ref()))
        .collect()
}

/// Triggers coalesced within this window make one reconcile: creating an object's
/// children fires a watch event per child, and status updates of Deployments follow.
const DEBOUNCE: Duration = Duration::from_millis(500);

/// A controller of `K` whose own cache drops what reconciles never read.
fn slim_controller<K>(api: Api<K>) -> Controller<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let (reader, stream) = cached_objects(api, watcher::Config::default());
    Controller::for_stream(stream, reader).with_config(kube::runtime::controller::Config::default().debounce(DEBOUNCE))
}

/// A trigger stream of the objects of kind `K` that `config` selects, with back-off.
/// (`Controller::watches` has none: an unreachable API server is retried in a tight loop,
/// which starved the controllers through an apiserver restart.)
fn trigger_watch<K>(client: &Client, ns: Option<&str>, config: watcher::Config) -> Watch<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + 'static,
{
    watcher::watcher(api::<K>(client, ns), config).default_backoff().touched_objects().boxed()
}

/// One watch's trigger stream.
type Watch<K> = futures::stream::BoxStream<'static, Result<K, watcher::Error>>;

/// The child watches of one component: the streams that trigger its reconciles.
struct ChildWatches {
    deployments: Watch<Deployment>,
    services: Watch<PartialObjectMeta<Service>>,
    config_maps: Watch<PartialObjectMeta<ConfigMap>>,
    pods: Option<Watch<Pod>>,
    policies: Watch<PartialObjectMeta<NetworkPolicy>>,
}

/// The child watches of one component and the cache they fill.
fn child_watches(client: &Client, ns: Option<&str>, component: Component) -> (ChildCache, ChildWatches) {
    let config = children_config(component);
    let (deployments, deployment_stream) = cached_objects(api::<Deployment>(client, ns), config.clone());
    let (services, service_stream) = cached_metadata(api::<PartialObjectMeta<Service>>(client, ns), config.clone());
    let (config_maps, config_map_stream) =
        cached_metadata(api::<PartialObjectMeta<ConfigMap>>(client, ns), config.clone());
    // Every component owns NetworkPolicies (models their isolation, workflows their
    // allowances). Gateways report readiness from their Deployments alone; model servers
    // report where their pods landed.
    let (policies, policy_stream) =
        cached_metadata(api::<PartialObjectMeta<NetworkPolicy>>(client, ns), config.clone());
    let (pods, pod_stream) = if component == Component::Gateway {
        (None, None)
    } else {
        let (store, stream) = cached_objects(api::<Pod>(client, ns), config);
        (Some(store), Some(stream.boxed()))
    };
    let cache = ChildCache::new(component, deployments, services, config_maps, policies, pods);
    let watches = ChildWatches {
        deployments: deployment_stream.boxed(),
        services: service_stream.boxed(),
        config_maps: config_map_stream.boxed(),
        pods: pod_stream,
        policies: policy_stream.boxed(),
    };
    (cache, watches)
}

/// Runs the EdgeLLM and CloudLLM controllers until `until` resolves, then drains them.
async fn run_controllers(
    client: Client,
    args: &OperatorArgs,
    identity: &str,
    metrics: Metrics,
    scrapers: Option<MetricsScrapers>,
    until: impl Future<Output = ()> + Send + 'static,
) {
    let reporter = Reporter { controller: "netgpt-operator".into(), instance: Some(identity.to_string()) };
    let recorder = Recorder::new(client.clone(), reporter);
    let ns = args.namespace.as_deref();
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        until.await;
        let _ = stop_tx.send(true);
    });
    let stop = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    let edge = slim_controller(api::<EdgeLLM>(&client, ns));
    let cloud = slim_controller(api::<CloudLLM>(&client, ns));
    let workflows = slim_controller(api::<LogicalAIWorkflow>(&client, ns));
    let (edge_store, cloud_store, wf_store) = (edge.store(), cloud.store(), workflows.store());
    let (edge_cache, edge_watches) = child_watches(&client, ns, Component::EdgeLlm);
    let (cloud_cache, cloud_watches) = child_watches(&client, ns, Component::CloudLlm);
    let (gateway_cache, gateway_watches) = child_watches(&client, ns, Component::Gateway);
    let caches = Caches {
        edge: edge_cache,
        cloud: cloud_cache,
        gateway: gateway_cache,
        edges: edge_store.clone(),
        clouds: cloud_store.clone(),
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        recorder,
        metrics.clone(),
        PodDefaults {
            cpu_image: args.default_image.clone(),
            cuda_image: args.default_cuda_image.clone(),
            log_format: args.log_format.as_str().to_string(),
        },
        scrapers,
        caches,
    ));

    let edge_metrics = metrics.clone();
    let edge = edge
        .owns_stream(edge_watches.deployments)
        .owns_stream(edge_watches.services)
        .owns_stream(edge_watches.config_maps)
        .owns_stream(edge_watches.policies)
        .watches_stream(futures::stream::iter(edge_watches.pods).flatten(), |pod| {
            pod_owner::<EdgeLLM>(&pod, Component::EdgeLlm)
        })
        .graceful_shutdown_on(stop(stop_rx.clone()))
        .run(controller::edge::reconcile, controller::error_policy, ctx.clone())
        .for_each(move |_| {
            edge_metrics.managed.with_label_values(&["EdgeLLM"]).set(edge_store.state().len() as i64);
            futures::future::ready(())
        });

    let cloud_metrics = metrics.clone();
    let cloud = cloud
        .owns_stream(cloud_watches.deployments)
        .owns_stream(cloud_watches.services)
        .owns_stream(cloud_watches.config_maps)
        .owns_stream(cloud_watches.policies)
        .watches_stream(futures::stream::iter(cloud_watches.pods).flatten(), |pod| {
            pod_owner::<CloudLLM>(&pod, Component::CloudLlm)
        })
        .graceful_shutdown_on(stop(stop_rx.clone()))
        .run(controller::cloud::reconcile, controller::error_policy, ctx.clone())
        .for_each(move |_| {
            cloud_metrics.managed.with_label_values(&["CloudLLM"]).set(cloud_store.state().len() as i64);
            futures::future::ready(())
        });

    let (by_edge, by_cloud) = (wf_store.clone(), wf_store.clone());
    let wf_metrics = metrics.clone();
    let workflows = workflows
        .owns_stream(gateway_watches.deployments)
        .owns_stream(gateway_watches.services)
        .owns_stream(gateway_watches.config_maps)
        .owns_stream(gateway_watches.policies)
        // A change to a referenced EdgeLLM/CloudLLM (sites, readiness) re-renders the workflow.
        .watches_stream(trigger_watch::<EdgeLLM>(&client, ns, watcher::Config::default()), move |edge| {
            referencing(&by_edge, &edge, |wf| &wf.spec.edge_ref.name)
        })
        .watches_stream(trigger_watch::<CloudLLM>(&client, ns, watcher::Config::default()), move |cloud| {
            referencing(&by_cloud, &cloud, |wf| &wf.spec.cloud_ref.name)
        })
        .graceful_shutdown_on(stop(stop_rx.clone()))
        .run(controller::workflow::reconcile, controller::error_policy, ctx.clone())
        .for_each(move |_| {
            wf_metrics.managed.with_label_values(&["LogicalAIWorkflow"]).set(wf_store.state().len() as i64);
            futures::future::ready(())
        });

    tracing::info!(namespace = ns.unwrap_or("<all>"), "controllers running");
    futures::join!(edge, cloud, workflows);
    tracing::info!("controllers stopped");
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: OperatorArgs,
    }

    #[test]
    fn scraper_flags_parse_as_the_chart_renders_them() {
        // The chart passes an empty value for "every namespace" / "no scraper".
        let cli = Cli::try_parse_from(["operator", "--metrics-scraper-namespaces=", "--metrics-scraper-pods="])
            .expect("empty values parse");
        let scrapers =
            MetricsScrapers::from_selectors(&cli.args.metrics_scraper_namespaces, &cli.args.metrics_scraper_pods);
        assert_eq!(scrapers, Ok(None), "an empty pod selector admits nobody");
        // Unset, the flags admit Prometheus pods from any namespace.
        let cli = Cli::try_parse_from(["operator"]).expect("defaults");
        let scrapers =
            MetricsScrapers::from_selectors(&cli.args.metrics_scraper_namespaces, &cli.args.metrics_scraper_pods)
                .expect("valid")
                .expect("some scrapers");
        assert!(scrapers.namespaces.is_empty());
        assert_eq!(scrapers.pods["app.kubernetes.io/name"], "prometheus");
    }

    #[test]
    fn booleans_are_plain_switches_durations_carry_their_unit_and_old_names_still_work() {
        let plain = Cli::try_parse_from(["operator", "--leader-elect"]).expect("a plain switch");
        assert!(plain.args.leader_elect);
        let off = Cli::try_parse_from(["operator", "--leader-elect=false"]).expect("Kubernetes' spelling");
        assert!(!off.args.leader_elect);
        let cli = Cli::try_parse_from(["operator", "--listen", "127.0.0.1:9000", "--lease-duration-seconds", "7"])
            .expect("new names");
        assert_eq!((cli.args.listen, cli.args.lease_duration_seconds), ("127.0.0.1:9000".parse().expect("addr"), 7));
        let old = Cli::try_parse_from(["operator", "--metrics-addr", "127.0.0.1:9001", "--lease-duration", "8"])
            .expect("earlier names");
        assert_eq!((old.args.listen, old.args.lease_duration_seconds), ("127.0.0.1:9001".parse().expect("addr"), 8));
    }
}
