//! EdgeLLM → per site: ConfigMap + Deployment + Service, pinned to the site's nodes,
//! carrying only that site's adapter (location-scoped adapter placement).

use std::collections::BTreeMap;

use kube::{Resource, ResourceExt};
use netgpt_crds::config::SiteConfig;
use netgpt_crds::{EdgeLLM, ServingDevice};

use super::artifacts::StagedArtifact;
use super::labels::{Component, site_object_name};
use super::pod::{ServingChildren, ServingWorkload, render};
use super::training::training_volume;
use super::{PodDefaults, RenderError, ServerAdapters, stage_serving};

/// Children of one site.
pub struct SiteChildren {
    pub site: String,
    pub children: ServingChildren,
}

/// Renders every site of an EdgeLLM. `edge` must come from the apiserver (it needs a uid
/// for the owner reference). `trained` maps a site to the adapter its training produced
/// (name, directory under the training volume); sites that train mount that volume from
/// the start, so a new adapter changes only the serving configuration, which the server
/// re-reads: it is hot-loaded without a restart.
pub fn render_edge(
    edge: &EdgeLLM,
    defaults: &PodDefaults,
    trained: &BTreeMap<String, (String, String)>,
) -> Result<Vec<SiteChildren>, RenderError> {
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
        let trained_adapter = trained.get(&site.name).filter(|_| site.train_adapter);
        let adapter = site.adapter.clone().or_else(|| trained_adapter.map(|(name, _)| name.clone()));
        let site_config = SiteConfig { name: site.name.clone(), location: site.location.clone(), adapter };
        let (config_yaml, mut artifacts) = stage_serving(
            &edge.spec.model,
            &served_name,
            ServerAdapters { declared: adapters, trained: trained_adapter.cloned() },
            Some(site_config),
            edge.spec.serving.as_ref(),
            device,
            image,
        )?;
        if let (true, Some(training)) = (site.train_adapter, &edge.spec.training) {
            let (volume, mount) = training_volume(&training.storage, true);
            artifacts.push(StagedArtifact { volumes: vec![volume], mounts: vec![mount], ..Default::default() });
        }
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
