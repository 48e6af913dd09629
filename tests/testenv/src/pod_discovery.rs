//! Test-bed stand-in for Prometheus' Kubernetes service discovery (`role: pod`).
//!
//! Debian's `prometheus` package, the only Prometheus this machine can install, is built
//! without the Kubernetes discovery mechanism (`kubernetes_sd_configs` is an unknown
//! field there). This module serves Prometheus' `http_sd_configs` endpoint with the target
//! groups Kubernetes discovery would produce for `role: pod` — one target per container
//! port, `__address__` = `<pod IP>:<port>`, and the same `__meta_kubernetes_*` labels,
//! read live from the apiserver — so the relabelling a user copies from `docs/metrics.md`
//! runs unchanged against real pods. Test-bed code only: the product never uses it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Prometheus' label-name sanitising (`strutil.SanitizeLabelName`): every character
/// outside `[a-zA-Z0-9_]` becomes `_`.
fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

/// The target groups of Kubernetes discovery's `role: pod` for these pods.
pub fn target_groups(pods: &[Pod]) -> Value {
    let mut groups = Vec::new();
    for pod in pods {
        let Some(status) = &pod.status else { continue };
        let Some(ip) = status.pod_ip.as_deref() else { continue };
        let Some(spec) = &pod.spec else { continue };
        let mut pod_labels: BTreeMap<String, String> = BTreeMap::new();
        pod_labels.insert("__meta_kubernetes_namespace".into(), pod.namespace().unwrap_or_default());
        pod_labels.insert("__meta_kubernetes_pod_name".into(), pod.name_any());
        pod_labels.insert("__meta_kubernetes_pod_ip".into(), ip.to_string());
        pod_labels.insert("__meta_kubernetes_pod_uid".into(), pod.uid().unwrap_or_default());
        pod_labels.insert("__meta_kubernetes_pod_node_name".into(), spec.node_name.clone().unwrap_or_default());
        pod_labels.insert("__meta_kubernetes_pod_host_ip".into(), status.host_ip.clone().unwrap_or_default());
        pod_labels.insert("__meta_kubernetes_pod_phase".into(), status.phase.clone().unwrap_or_default());
        let ready = status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "Ready")
            .map_or("unknown".to_string(), |c| c.status.to_lowercase());
        pod_labels.insert("__meta_kubernetes_pod_ready".into(), ready);
        for (key, value) in pod.labels() {
            pod_labels.insert(format!("__meta_kubernetes_pod_label_{}", sanitize(key)), value.clone());
            pod_labels.insert(format!("__meta_kubernetes_pod_labelpresent_{}", sanitize(key)), "true".into());
        }
        for (key, value) in pod.annotations() {
            pod_labels.insert(format!("__meta_kubernetes_pod_annotation_{}", sanitize(key)), value.clone());
            pod_labels.insert(format!("__meta_kubernetes_pod_annotationpresent_{}", sanitize(key)), "true".into());
        }
        for container in &spec.containers {
            for port in container.ports.iter().flatten() {
                let mut labels = pod_labels.clone();
                labels.insert("__meta_kubernetes_pod_container_name".into(), container.name.clone());
                labels.insert(
                    "__meta_kubernetes_pod_container_image".into(),
                    container.image.clone().unwrap_or_default(),
                );
                labels.insert("__meta_kubernetes_pod_container_init".into(), "false".into());
                labels
                    .insert("__meta_kubernetes_pod_container_port_name".into(), port.name.clone().unwrap_or_default());
                labels.insert("__meta_kubernetes_pod_container_port_number".into(), port.container_port.to_string());
                labels.insert(
                    "__meta_kubernetes_pod_container_port_protocol".into(),
                    port.protocol.clone().unwrap_or_else(|| "TCP".into()),
                );
                groups.push(json!({"targets": [format!("{ip}:{}", port.container_port)], "labels": labels}));
            }
        }
    }
    Value::Array(groups)
}

/// Serves the target groups of the pods in `namespaces` on a loopback port; returns the
/// `http_sd_configs` URL. Runs until the runtime stops.
pub async fn serve(client: Client, namespaces: Vec<String>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port for pod discovery");
    let url = format!("http://{}/targets", listener.local_addr().expect("bound"));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let client = client.clone();
            let namespaces = namespaces.clone();
            tokio::spawn(async move {
                // One small GET per connection; the request itself carries nothing we need.
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let mut pods = Vec::new();
                for ns in &namespaces {
                    if let Ok(list) = Api::<Pod>::namespaced(client.clone(), ns).list(&ListParams::default()).await {
                        pods.extend(list.items);
                    }
                }
                let body = target_groups(&pods).to_string();
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    url
}
