//! Applies a changed `adapters` list of the serving configuration to a running server.
//!
//! The operator renders the list into a ConfigMap mounted at `/etc/netgpt/serving.yaml`;
//! the kubelet swaps the mounted file in place when the ConfigMap changes (within its sync
//! period, about a minute). The server polls the file and diffs the list against the
//! adapters it loaded *from the configuration*: new or re-pointed names are (re)loaded,
//! removed names unloaded. Adapters loaded over the API are left alone unless the file
//! claims their name (the configuration wins, and manages the name from then on).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::registry::{AdapterRegistry, RegistryError};

/// Adapters the configuration file put in the registry, name → directory.
#[derive(Debug, Clone, Default)]
pub struct ConfigAdapters {
    managed: BTreeMap<String, PathBuf>,
}

/// What one reconciliation did.
#[derive(Debug, Default)]
pub struct ReloadReport {
    pub loaded: Vec<String>,
    pub unloaded: Vec<String>,
    /// Names that failed to load; the previous version, if any, keeps serving.
    pub failed: Vec<(String, RegistryError)>,
}

impl ConfigAdapters {
    /// Starts from the adapters loaded at start-up.
    pub fn new(loaded: impl IntoIterator<Item = (String, PathBuf)>) -> Self {
        Self { managed: loaded.into_iter().collect() }
    }

    /// Brings the registry to `wanted`.
    pub fn reconcile(&mut self, registry: &AdapterRegistry, wanted: &[(String, PathBuf)]) -> ReloadReport {
        let mut report = ReloadReport::default();
        let wanted: BTreeMap<&String, &PathBuf> = wanted.iter().map(|(n, p)| (n, p)).collect();
        let removed: Vec<String> = self.managed.keys().filter(|name| !wanted.contains_key(name)).cloned().collect();
        for name in removed {
            self.managed.remove(&name);
            if registry.unload_configured(&name).is_ok() {
                report.unloaded.push(name);
            }
        }
        for (name, path) in wanted {
            let current = self.managed.get(name) == Some(path) && registry.get(name).is_some();
            if current {
                continue;
            }
            match registry.load_configured(name, path) {
                Ok(_) => {
                    self.managed.insert(name.clone(), path.clone());
                    report.loaded.push(name.clone());
                }
                Err(error) => report.failed.push((name.clone(), error)),
            }
        }
        report
    }
}
