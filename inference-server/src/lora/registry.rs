//! The named adapters a server serves, with limits, path confinement and hot
//! load/unload.
//!
//! The map holds `Arc`s: a request clones the `Arc` of the adapter its `model` names when
//! it is admitted and keeps it to the end, so replacing or unloading a name affects only
//! later requests, and an unloaded adapter's memory is freed when its last request ends.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use super::load::{AdapterLimits, LoraAdapter, LoraError, LoraLayout};
use crate::metrics::Metrics;

/// Errors of registry operations; the HTTP layer maps each to a status.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("the base model is not loaded yet")]
    NotReady,
    #[error("this model cannot serve LoRA adapters: {0}")]
    Unsupported(String),
    #[error("invalid adapter name {0:?}: use 1-128 letters, digits, '.', '_', '-', ':' or '/'")]
    InvalidName(String),
    #[error("{0:?} is the base model's name")]
    BaseName(String),
    #[error("adapter {0:?} is already loaded (pass \"replace\": true to replace it)")]
    Exists(String),
    #[error("adapter {0:?} is not loaded")]
    NotFound(String),
    #[error("loading adapters over the API is disabled (no adapter directory is configured)")]
    LoadingDisabled,
    #[error("adapter path {0:?} is not inside the adapter directory")]
    OutsideRoot(String),
    #[error("{loaded} adapters are loaded, the limit is {max}")]
    TooMany { loaded: usize, max: usize },
    #[error("adapters would take {bytes} bytes, more than the limit of {max}")]
    TooLarge { bytes: u64, max: u64 },
    #[error("adapter {name:?}: {source}")]
    Load {
        name: String,
        #[source]
        source: LoraError,
    },
}

/// The served adapters of one base model.
pub struct AdapterRegistry {
    base_name: String,
    limits: AdapterLimits,
    /// API loads must resolve inside this directory (none: API loads are refused).
    root: Option<PathBuf>,
    /// Set once the base model has loaded (adapters are fitted onto it).
    layout: OnceLock<Result<LoraLayout, String>>,
    adapters: RwLock<BTreeMap<String, Arc<LoraAdapter>>>,
    /// Serializes loads, so limits are checked against a settled state.
    loading: Mutex<()>,
    metrics: Metrics,
}

impl AdapterRegistry {
    pub fn new(base_name: String, limits: AdapterLimits, root: Option<PathBuf>, metrics: Metrics) -> Self {
        Self {
            base_name,
            limits,
            root,
            layout: OnceLock::new(),
            adapters: RwLock::new(BTreeMap::new()),
            loading: Mutex::new(()),
            metrics,
        }
    }

    /// Records what the loaded base offers adapters (`None`: it cannot take any).
    pub fn set_layout(&self, layout: Option<LoraLayout>, family: &str) {
        let _ = self.layout.set(layout.ok_or_else(|| format!("{family} has no adapter support")));
    }

    /// The adapter served under `name`.
    pub fn get(&self, name: &str) -> Option<Arc<LoraAdapter>> {
        self.read().get(name).cloned()
    }

    /// Every adapter, by name.
    pub fn list(&self) -> Vec<Arc<LoraAdapter>> {
        self.read().values().cloned().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<LoraAdapter>>> {
        // A poisoned lock only means a panic elsewhere while holding it; the map itself
        // is always consistent (single insert/remove calls).
        self.adapters.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<LoraAdapter>>> {
        self.adapters.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolves a path given to the API inside the adapter directory: relative paths are
    /// taken from it, `..` is refused outright (so the answer never tells whether something
    /// exists outside), and the canonical result (symlinks resolved) must stay inside it.
    pub fn confine(&self, requested: &str) -> Result<PathBuf, RegistryError> {
        let root = self.root.as_ref().ok_or(RegistryError::LoadingDisabled)?;
        let outside = || RegistryError::OutsideRoot(requested.to_string());
        let relative = Path::new(requested);
        if relative.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
            return Err(outside());
        }
        let joined = root.join(relative);
        if !joined.starts_with(root) {
            return Err(outside());
        }
        let root = root.canonicalize().map_err(|_| outside())?;
        let path = joined.canonicalize().map_err(|source| RegistryError::Load {
            name: requested.to_string(),
            source: LoraError::Read { path: PathBuf::from(requested), source },
        })?;
        if path.starts_with(&root) { Ok(path) } else { Err(outside()) }
    }

    /// Loads the adapter in `dir` as `name`. An existing `name` is replaced only when
    /// `replace` is set; requests already running keep the old version.
    pub fn load(&self, name: &str, dir: &Path, replace: bool) -> Result<Arc<LoraAdapter>, RegistryError> {
        validate_name(name)?;
        if name == self.base_name {
            return Err(RegistryError::BaseName(name.to_string()));
        }
        let layout = match self.layout.get() {
            None => return Err(RegistryError::NotReady),
            Some(Err(reason)) => return Err(RegistryError::Unsupported(reason.clone())),
            Some(Ok(layout)) => layout,
        };
        let _loading = self.loading.lock().unwrap_or_else(|e| e.into_inner());
        if !replace && self.read().contains_key(name) {
            return Err(RegistryError::Exists(name.to_string()));
        }
        let adapter = LoraAdapter::load(name, dir, layout, &self.limits)
            .map_err(|source| RegistryError::Load { name: name.to_string(), source })?;
        let adapter = Arc::new(adapter);
        let mut adapters = self.write();
        let replaced = adapters.get(name).map_or(0, |a| a.bytes);
        let loaded = adapters.len() + usize::from(!adapters.contains_key(name));
        if loaded > self.limits.max_adapters {
            return Err(RegistryError::TooMany { loaded: adapters.len(), max: self.limits.max_adapters });
        }
        let bytes = adapters.values().map(|a| a.bytes).sum::<u64>() - replaced + adapter.bytes;
        if bytes > self.limits.max_bytes {
            return Err(RegistryError::TooLarge { bytes, max: self.limits.max_bytes });
        }
        adapters.insert(name.to_string(), adapter.clone());
        self.metrics.adapters_loaded.set(adapters.len() as i64);
        self.metrics.adapter_memory_bytes.with_label_values(&[name]).set(adapter.bytes as i64);
        self.metrics.adapter_load_duration.observe(adapter.load_duration.as_secs_f64());
        tracing::info!(
            adapter = name,
            path = %dir.display(),
            rank = adapter.config.r,
            modules = adapter.module_count(),
            bytes = adapter.bytes,
            seconds = adapter.load_duration.as_secs_f64(),
            "adapter loaded"
        );
        Ok(adapter)
    }

    /// Stops serving `name`. Requests that already hold it finish with it.
    pub fn unload(&self, name: &str) -> Result<Arc<LoraAdapter>, RegistryError> {
        let mut adapters = self.write();
        let removed = adapters.remove(name).ok_or_else(|| RegistryError::NotFound(name.to_string()))?;
        self.metrics.adapters_loaded.set(adapters.len() as i64);
        let _ = self.metrics.adapter_memory_bytes.remove_label_values(&[name]);
        tracing::info!(adapter = name, "adapter unloaded");
        Ok(removed)
    }
}

fn validate_name(name: &str) -> Result<(), RegistryError> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/'));
    if valid { Ok(()) } else { Err(RegistryError::InvalidName(name.to_string())) }
}
