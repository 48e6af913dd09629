//! How a model, tokenizer or adapter reaches the serving container: a read-only volume
//! for pre-staged files (`file://`, `hostpath://`, `pvc://`), or an init container running
//! `netgpt fetch` into a shared emptyDir for `http(s)://` sources.

use k8s_openapi::api::core::v1::{
    Container, HostPathVolumeSource, PersistentVolumeClaimVolumeSource, Volume, VolumeMount,
};
use netgpt_crds::ArtifactSource;

use super::RenderError;

/// Where fetched (http) artifacts are written inside the pod.
pub const FETCH_DIR: &str = "/var/lib/netgpt/fetched";
/// Where PersistentVolumeClaims are mounted, one directory per claim.
pub const PVC_DIR: &str = "/var/lib/netgpt/pvc";
/// Name of the emptyDir volume holding fetched artifacts.
pub const FETCH_VOLUME: &str = "fetched";

/// The emptyDir fetched artifacts land in, and the mount that reads them (read-only for a
/// server; the steps of a training Job mount it as init containers do).
pub fn fetch_volume(read_only: bool) -> (Volume, VolumeMount) {
    let volume = Volume {
        name: FETCH_VOLUME.to_string(),
        empty_dir: Some(k8s_openapi::api::core::v1::EmptyDirVolumeSource::default()),
        ..Default::default()
    };
    let mount = VolumeMount {
        name: FETCH_VOLUME.to_string(),
        mount_path: FETCH_DIR.to_string(),
        read_only: read_only.then_some(true),
        ..Default::default()
    };
    (volume, mount)
}

/// Whether an artifact is one file or a directory of files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArtifactKind {
    /// A single file (GGUF model, `tokenizer.json`).
    File,
    /// A directory; over http(s) these files are fetched from under the URL, and the
    /// `sha256` (when given) checks the first one, the weights.
    Directory(&'static [&'static str]),
}

/// Files of a PEFT adapter directory, weights first.
pub const ADAPTER_FILES: &[&str] = &["adapter_model.safetensors", "adapter_config.json"];
/// Files of a Hugging Face safetensors model directory, weights first.
pub const SAFETENSORS_MODEL_FILES: &[&str] = &["model.safetensors", "config.json", "tokenizer.json"];

/// What the pod needs for one artifact.
#[derive(Debug, Default)]
pub struct StagedArtifact {
    pub volumes: Vec<Volume>,
    pub mounts: Vec<VolumeMount>,
    pub init_containers: Vec<Container>,
    /// `true` when the artifact lands in the shared fetch volume.
    pub uses_fetch_volume: bool,
    /// Path of the artifact inside the serving container.
    pub local_path: String,
}

/// Plans how `source` reaches the container. `id` names its volume / init container and
/// must be a DNS label of at most 56 characters; `mount_dir` is where it appears.
pub fn stage(
    source: &ArtifactSource,
    id: &str,
    mount_dir: &str,
    kind: ArtifactKind,
    image: &str,
    field: &str,
) -> Result<StagedArtifact, RenderError> {
    let uri = source.uri.as_str();
    let invalid = |reason: &str| RenderError::InvalidSource { field: field.to_string(), reason: reason.to_string() };
    if let Some(path) = uri.strip_prefix("file://").or_else(|| uri.strip_prefix("hostpath://")) {
        if !path.starts_with('/') || path.len() < 2 {
            return Err(invalid("a file:// or hostpath:// source needs an absolute path"));
        }
        let path = path.trim_end_matches('/');
        let base = base_name(path).ok_or_else(|| invalid("the path has no file name"))?;
        let local_path = format!("{mount_dir}/{base}");
        let host_path_type = match kind {
            ArtifactKind::File => "File",
            ArtifactKind::Directory(_) => "Directory",
        };
        return Ok(StagedArtifact {
            volumes: vec![Volume {
                name: id.to_string(),
                host_path: Some(HostPathVolumeSource {
                    path: path.to_string(),
                    type_: Some(host_path_type.to_string()),
                }),
                ..Default::default()
            }],
            mounts: vec![read_only_mount(id, &local_path, None)],
            local_path,
            ..Default::default()
        });
    }
    if let Some(rest) = uri.strip_prefix("pvc://") {
        let (claim, sub_path) = rest.split_once('/').ok_or_else(|| invalid("expected pvc://<claim>/<path>"))?;
        let sub_path = sub_path.trim_matches('/');
        if claim.is_empty() || sub_path.is_empty() || sub_path.split('/').any(|s| s == "..") {
            return Err(invalid("expected pvc://<claim>/<path> with a path inside the claim"));
        }
        // The whole claim is mounted once (no subPath) and shared by every artifact on
        // it: adding or switching adapters on the same claim then changes only the
        // serving configuration, which the server reloads without a restart (the kubelet
        // updates ConfigMap volumes in place; subPath mounts would never update).
        let volume = claim_volume_name(claim);
        let claim_dir = format!("{PVC_DIR}/{claim}");
        return Ok(StagedArtifact {
            volumes: vec![Volume {
                name: volume.clone(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: claim.to_string(),
                    read_only: Some(true),
                }),
                ..Default::default()
            }],
            mounts: vec![read_only_mount(&volume, &claim_dir, None)],
            local_path: format!("{claim_dir}/{sub_path}"),
            ..Default::default()
        });
    }
    if uri.starts_with("https://") || uri.starts_with("http://") {
        let url = uri.trim_end_matches('/');
        let mut downloads: Vec<Download<'_>> = Vec::new();
        let local_path = match kind {
            ArtifactKind::File => {
                let base = base_name(url).ok_or_else(|| invalid("the URL has no file name"))?;
                let dest = format!("{FETCH_DIR}/{id}/{base}");
                downloads.push(Download { url: url.to_string(), dest: dest.clone(), sha256: source.sha256.as_deref() });
                dest
            }
            ArtifactKind::Directory(files) => {
                let dir = format!("{FETCH_DIR}/{id}");
                for (i, f) in files.iter().enumerate() {
                    downloads.push(Download {
                        url: format!("{url}/{f}"),
                        dest: format!("{dir}/{f}"),
                        sha256: if i == 0 { source.sha256.as_deref() } else { None },
                    });
                }
                dir
            }
        };
        let init_containers = downloads
            .into_iter()
            .enumerate()
            .map(|(i, d)| fetch_container(&format!("fetch-{id}-{i}"), image, &d.url, &d.dest, d.sha256))
            .collect();
        return Ok(StagedArtifact { init_containers, uses_fetch_volume: true, local_path, ..Default::default() });
    }
    Err(invalid("unsupported scheme (use file://, hostpath://, pvc:// or http(s)://)"))
}

/// One file an init container downloads.
struct Download<'a> {
    url: String,
    dest: String,
    sha256: Option<&'a str>,
}

/// A valid, stable volume name for a claim (claim names may be longer than volume names
/// and contain dots).
fn claim_volume_name(claim: &str) -> String {
    let hash = super::fnv1a(claim.as_bytes());
    let readable: String = claim.chars().map(|c| if c == '.' { '-' } else { c }).take(40).collect();
    format!("pvc-{}-{:08x}", readable.trim_end_matches('-'), hash as u32)
}

fn base_name(path: &str) -> Option<&str> {
    path.rsplit('/').next().filter(|b| !b.is_empty() && *b != "..")
}

fn read_only_mount(volume: &str, path: &str, sub_path: Option<&str>) -> VolumeMount {
    VolumeMount {
        name: volume.to_string(),
        mount_path: path.to_string(),
        read_only: Some(true),
        sub_path: sub_path.map(str::to_string),
        ..Default::default()
    }
}

fn fetch_container(name: &str, image: &str, url: &str, dest: &str, sha256: Option<&str>) -> Container {
    let mut args = vec!["fetch".to_string(), url.to_string(), dest.to_string()];
    if let Some(sha) = sha256 {
        args.push("--sha256".to_string());
        args.push(sha.to_string());
    }
    Container {
        name: name.to_string(),
        image: Some(image.to_string()),
        args: Some(args),
        volume_mounts: Some(vec![VolumeMount {
            name: FETCH_VOLUME.to_string(),
            mount_path: FETCH_DIR.to_string(),
            ..Default::default()
        }]),
        security_context: Some(super::security::container_security_context()),
        ..Default::default()
    }
}
