//! CloudLLM reconcile: validate, apply the children (the isolation NetworkPolicy first,
//! so no serving pod is ever reachable before it), report status.
//!
//! No finalizer, for the same reason as EdgeLLM: owner references let the garbage
//! collector remove every child.

use std::sync::Arc;

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use netgpt_crds::status::condition_type::{DEGRADED, PROGRESSING, READY};
use netgpt_crds::{CloudLLM, CloudLLMStatus};

use super::{
    Context, Error, Reconciled, apply_child, apply_deployment, condition, instrumented, list_nodes, patch_status,
    pod_placement, reject_invalid,
};
use crate::render::cloud::render_cloud;
use crate::render::labels::Component;
use crate::render::pod::service_url;
use crate::render::policy::render_cloud_isolation;
use crate::validate::{FieldError, needs_nodes, validate_cloud};

const KIND: &str = "CloudLLM";

pub async fn reconcile(cloud: Arc<CloudLLM>, ctx: Arc<Context>) -> Result<Action, Error> {
    instrumented(&ctx, cloud.as_ref(), KIND, reconcile_inner(&cloud, &ctx)).await
}

async fn reconcile_inner(cloud: &CloudLLM, ctx: &Context) -> Result<Reconciled, Error> {
    let name = cloud.name_any();
    let namespace = cloud.namespace().ok_or_else(|| Error::NoNamespace(name.clone()))?;
    let api: Api<CloudLLM> = Api::namespaced(ctx.client.clone(), &namespace);
    let generation = cloud.meta().generation;
    let previous = cloud.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default();
    let owner = cloud.object_ref(&());

    let nodes = if needs_nodes(cloud.spec.resources.as_ref()) { list_nodes(&ctx.client).await? } else { Vec::new() };
    let mut errors = validate_cloud(&name, &cloud.spec, &nodes);
    let rendered = if errors.is_empty() {
        render_cloud(cloud, &ctx.defaults)
            .and_then(|children| Ok((children, render_cloud_isolation(cloud, ctx.scrapers.as_ref())?)))
            .map_err(|e| errors.push(FieldError { field: e.field().to_string(), message: e.to_string() }))
            .ok()
    } else {
        None
    };
    let Some((children, isolation)) = rendered else {
        return reject_invalid(ctx, cloud, &previous, &errors).await;
    };

    let cache = ctx.caches.children(Component::CloudLlm);
    cache.synced().await?;
    apply_child(ctx, cache, &owner, &isolation).await?;
    apply_child(ctx, cache, &owner, &children.config_map).await?;
    let deployment = apply_deployment(ctx, cache, &owner, &children.deployment).await?;
    apply_child(ctx, cache, &owner, &children.service).await?;

    let placement = pod_placement(cache, &namespace, &name);
    let pods = placement.get("");
    let replicas = cloud.spec.replicas;
    let st = deployment.status.clone().unwrap_or_default();
    let ready = st.ready_replicas.unwrap_or(0);
    let rolling =
        st.observed_generation < deployment.metadata.generation || st.updated_replicas.unwrap_or(0) < replicas;
    let unschedulable = pods.and_then(|p| p.unschedulable.clone());
    let conditions = vec![
        if ready >= replicas {
            condition(&previous, READY, true, "AllReplicasReady", "serving", generation)
        } else {
            condition(&previous, READY, false, "WaitingForPods", format!("{ready}/{replicas} ready"), generation)
        },
        if rolling {
            condition(&previous, PROGRESSING, true, "RollingOut", "rolling out the current spec", generation)
        } else {
            condition(&previous, PROGRESSING, false, "Converged", "running the current spec", generation)
        },
        match unschedulable {
            None => condition(&previous, DEGRADED, false, "AsExpected", "", generation),
            Some(reason) => condition(&previous, DEGRADED, true, "Unschedulable", reason, generation),
        },
    ];
    let status = CloudLLMStatus {
        observed_generation: generation,
        conditions,
        replicas,
        ready_replicas: ready,
        nodes: pods.map(|p| p.nodes.iter().cloned().collect::<Vec<_>>()).unwrap_or_default(),
        endpoint: Some(service_url(&name, &namespace)),
    };
    patch_status(&api, &name, cloud.status.as_ref(), &status).await?;
    Ok(Reconciled::Converging)
}
