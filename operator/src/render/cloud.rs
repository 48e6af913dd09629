//! CloudLLM → ConfigMap + Deployment + Service on the cloud pool, with every adapter.

use std::collections::BTreeMap;

use kube::{Resource, ResourceExt};
use netgpt_crds::{CloudLLM, ServingDevice};

use super::labels::Component;
use super::pod::{ServingChildren, ServingWorkload, render};
use super::{PodDefaults, RenderError, ServerAdapters, stage_serving};

/// Renders a CloudLLM. `cloud` must come from the apiserver (it needs a uid).
pub fn render_cloud(cloud: &CloudLLM, defaults: &PodDefaults) -> Result<ServingChildren, RenderError> {
    let name = cloud.name_any();
    let owner = cloud.controller_owner_ref(&()).ok_or_else(|| RenderError::Config("object has no uid".into()))?;
    let device = ServingDevice::resolve(cloud.spec.serving.as_ref(), cloud.spec.resources.as_ref());
    let image = defaults.serving(cloud.spec.image.as_deref(), device);
    let served_name = cloud.spec.model.served_name.clone().unwrap_or_else(|| name.clone());
    let adapters: Vec<_> = cloud.spec.adapters.iter().enumerate().collect();
    let (config_yaml, artifacts) = stage_serving(
        &cloud.spec.model,
        &served_name,
        ServerAdapters { declared: adapters, trained: None },
        None,
        cloud.spec.serving.as_ref(),
        device,
        image,
    )?;
    Ok(render(ServingWorkload {
        name: name.clone(),
        namespace: cloud.namespace().unwrap_or_default(),
        component: Component::CloudLlm,
        instance: &name,
        site: None,
        owner,
        replicas: cloud.spec.replicas,
        image,
        node_selector: BTreeMap::new(),
        placement: cloud.spec.placement.as_ref(),
        resources: cloud.spec.resources.as_ref(),
        config_yaml,
        artifacts,
        env: defaults.env(),
    }))
}
