//! The named adapters a server serves, with limits, path confinement and hot
//! load/unload.
//!
//! The map holds `Arc`s: a request clones the `Arc` of the adapter its `model` names when
//! it is admitted and keeps it to the end, so replacing or unloading a name affects only
//! later requests, and an unloaded adapter's memory is freed when its last request ends.
//!
//! Each adapter remembers its [`Origin`]: what the serving configuration declares (file or
//! `--lora`) is the configuration's to change, so the API may neither replace nor unload
//! it (otherwise a pod would silently serve something other than what its EdgeLLM says,
//! until the next restart).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use super::load::{AdapterOptions, LoraAdapter, LoraError, LoraLayout};
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
    #[error(
        "adapter {0:?} is managed by the serving configuration; change its `adapters` (or --lora) to replace or remove it"
    )]
    Managed(String),
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

/// Who put an adapter in the registry, and so who may replace or remove it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The serving configuration (its `adapters`, or `--lora`).
    Config,
    /// `POST /v1/adapters` or vLLM's load route.
    Api,
}

struct Entry {
    adapter: Arc<LoraAdapter>,
    origin: Origin,
}

type Entries = BTreeMap<String, Entry>;

/// The served adapters of one base model.
pub struct AdapterRegistry {
    base_name: String,
    options: AdapterOptions,
    /// API loads must resolve inside this directory (none: API loads are refused).
    root: Option<PathBuf>,
    /// Set once the base model has loaded (adapters are fitted onto it).
    layout: OnceLock<Result<LoraLayout, String>>,
    adapters: RwLock<Entries>,
    /// Serializes loads, so limits are checked against a settled state.
    loading: Mutex<()>,
    metrics: Metrics,
}

impl AdapterRegistry {
    pub fn new(base_name: String, options: AdapterOptions, root: Option<PathBuf>, metrics: Metrics) -> Self {
        Self {
            base_name,
            options,
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
        self.read().get(name).map(|entry| entry.adapter.clone())
    }

    /// Every adapter, by name.
    pub fn list(&self) -> Vec<Arc<LoraAdapter>> {
        self.read().values().map(|entry| entry.adapter.clone()).collect()
    }

    /// Where the adapter served under `name` came from.
    pub fn origin(&self, name: &str) -> Option<Origin> {
        self.read().get(name).map(|entry| entry.origin)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Entries> {
        // A poisoned lock only means a panic elsewhere while holding it; the map itself
        // is always consistent (single insert/remove calls).
        self.adapters.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Entries> {
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

    /// Loads an adapter the serving configuration declares as `name`, replacing whatever
    /// is served under that name (an API-loaded one included: the configuration wins).
    pub fn load_configured(&self, name: &str, dir: &Path) -> Result<Arc<LoraAdapter>, RegistryError> {
        self.load(name, dir, true, Origin::Config)
    }

    /// Loads the adapter in `dir` as `name` for the API. An existing `name` is replaced
    /// only when `replace` is set, and never when the configuration manages it; requests
    /// already running keep the old version.
    pub fn load_from_api(&self, name: &str, dir: &Path, replace: bool) -> Result<Arc<LoraAdapter>, RegistryError> {
        self.load(name, dir, replace, Origin::Api)
    }

    fn load(&self, name: &str, dir: &Path, replace: bool, origin: Origin) -> Result<Arc<LoraAdapter>, RegistryError> {
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
        // Checked before the (slow) load so a refusal is cheap, and again under the write
        // lock: a configuration reload may have claimed the name meanwhile.
        check_replaceable(&self.read(), name, replace, origin)?;
        let adapter = LoraAdapter::load(name, dir, layout, &self.options)
            .map_err(|source| RegistryError::Load { name: name.to_string(), source })?;
        let adapter = Arc::new(adapter);
        let mut adapters = self.write();
        check_replaceable(&adapters, name, replace, origin)?;
        let replaced = adapters.get(name).map_or(0, |e| e.adapter.bytes);
        let loaded = adapters.len() + usize::from(!adapters.contains_key(name));
        if loaded > self.options.max_adapters {
            return Err(RegistryError::TooMany { loaded: adapters.len(), max: self.options.max_adapters });
        }
        let bytes = adapters.values().map(|e| e.adapter.bytes).sum::<u64>() - replaced + adapter.bytes;
        if bytes > self.options.max_bytes {
            return Err(RegistryError::TooLarge { bytes, max: self.options.max_bytes });
        }
        adapters.insert(name.to_string(), Entry { adapter: adapter.clone(), origin });
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
            ?origin,
            "adapter loaded"
        );
        Ok(adapter)
    }

    /// Stops serving `name` because the configuration no longer declares it.
    pub fn unload_configured(&self, name: &str) -> Result<Arc<LoraAdapter>, RegistryError> {
        self.unload(name, Origin::Config)
    }

    /// Stops serving `name` for the API; adapters the configuration manages are refused.
    pub fn unload_from_api(&self, name: &str) -> Result<Arc<LoraAdapter>, RegistryError> {
        self.unload(name, Origin::Api)
    }

    /// Requests that already hold the adapter finish with it.
    fn unload(&self, name: &str, by: Origin) -> Result<Arc<LoraAdapter>, RegistryError> {
        let mut adapters = self.write();
        match adapters.get(name) {
            None => return Err(RegistryError::NotFound(name.to_string())),
            Some(entry) if by == Origin::Api && entry.origin == Origin::Config => {
                return Err(RegistryError::Managed(name.to_string()));
            }
            Some(_) => {}
        }
        let removed = adapters.remove(name).ok_or_else(|| RegistryError::NotFound(name.to_string()))?;
        self.metrics.adapters_loaded.set(adapters.len() as i64);
        let _ = self.metrics.adapter_memory_bytes.remove_label_values(&[name]);
        tracing::info!(adapter = name, ?by, "adapter unloaded");
        Ok(removed.adapter)
    }
}

/// Whether a load by `origin` may put an adapter under `name`.
fn check_replaceable(adapters: &Entries, name: &str, replace: bool, origin: Origin) -> Result<(), RegistryError> {
    match adapters.get(name) {
        None => Ok(()),
        Some(entry) if origin == Origin::Api && entry.origin == Origin::Config => {
            Err(RegistryError::Managed(name.to_string()))
        }
        Some(_) if !replace => Err(RegistryError::Exists(name.to_string())),
        Some(_) => Ok(()),
    }
}

fn validate_name(name: &str) -> Result<(), RegistryError> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/'));
    if valid { Ok(()) } else { Err(RegistryError::InvalidName(name.to_string())) }
}
