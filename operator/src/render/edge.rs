//! EdgeLLM → per site: ConfigMap + Deployment + Service, pinned to the site's nodes,
//! carrying only that site's adapter (location-scoped adapter placement).

use kube::{Resource, ResourceExt};
use netgpt_crds::config::SiteConfig;
use netgpt_crds::{EdgeLLM, ServingDevice};

use super::labels::Component;
use super::pod::{ServingChildren, ServingWorkload, render};
use super::{PodDefaults, RenderError, stage_serving};

/// Children of one site.
pub struct SiteChildren {
    pub site: String,
    pub children: ServingChildren,
}

/// Name of a site's Deployment, Service and ConfigMap.
pub fn site_object_name(edge_name: &str, site: &str) -> String {
    format!("{edge_name}-{site}")
}

/// Renders every site of an EdgeLLM. `edge` must come from the apiserver (it needs a uid
/// for the owner reference).
pub fn render_edge(edge: &EdgeLLM, defaults: &PodDefaults) -> Result<Vec<SiteChildren>, RenderError> {
    let name = edge.name_any();
    let namespace = edge.namespace().unwrap_or_default();
    let owner = edge.controller_owner_ref(&()).ok_or_else(|| RenderError::Config("object has no uid".into()))?;
    let device = ServingDevice::resolve(edge.spec.serving.as_ref(), edge.spec.resources.as_ref());
    let image = defaults.serving(edge.spec.image.as_deref(), device);
    let served_name = edge.spec.model.served_name.clone().unwrap_or_else(|| name.clone());
    let mut out = Vec::with_capacity(edge.spec.sites.len());
    for site in &edge.spec.sites {
        let adapters: Vec<_> = edge
            .spec
            .adapters
            .iter()
            .enumerate()
            .filter(|(_, a)| site.adapter.as_deref() == Some(a.name.as_str()))
            .collect();
        let site_config =
            SiteConfig { name: site.name.clone(), location: site.location.clone(), adapter: site.adapter.clone() };
        let (config_yaml, artifacts) = stage_serving(
            &edge.spec.model,
            &served_name,
            &adapters,
            Some(site_config),
            edge.spec.serving.as_ref(),
            device,
            image,
        )?;
        let children = render(ServingWorkload {
            name: site_object_name(&name, &site.name),
            namespace: namespace.clone(),
            component: Component::EdgeLlm,
            instance: &name,
            site: Some(&site.name),
            owner: owner.clone(),
            replicas: site.replicas,
            image,
            node_selector: site.node_selector.clone(),
            placement: edge.spec.placement.as_ref(),
            resources: edge.spec.resources.as_ref(),
            config_yaml,
            artifacts,
            env: defaults.env(),
        });
        out.push(SiteChildren { site: site.name.clone(), children });
    }
    Ok(out)
}
