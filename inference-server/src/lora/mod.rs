//! LoRA adapters: many low-rank adapters on one shared (possibly quantized) base model,
//! chosen per request.
//!
//! - [`config`] reads PEFT's `adapter_config.json`;
//! - [`load`] maps `adapter_model.safetensors` onto the base's projections, checks that
//!   it fits and prepares the matrices (scale folded in, GGUF Q/K row permutation);
//! - [`apply`] adds the bypass `(alpha/r)·(x Aᵀ) Bᵀ` to a projection's output, per
//!   sequence of a batched step;
//! - `gpu` (feature `cuda`) keeps a CUDA base's adapters on the GPU, and `gpu_step`
//!   applies a step's mix of adapters with gathered low-rank launches per projection group;
//! - [`registry`] holds the named adapters the server serves, with limits and hot
//!   load/unload. Requests hold an `Arc` of the adapter they started with, so replacing
//!   or unloading one never changes a generation in flight;
//! - [`reload`] applies a changed `adapters` list of the configuration file;
//! - [`admin`] decides who may load and unload adapters over HTTP.

pub mod admin;
pub mod apply;
pub mod config;
#[cfg(feature = "cuda")]
pub mod gpu;
#[cfg(feature = "cuda")]
pub mod gpu_step;
pub mod load;
pub mod registry;
pub mod reload;
pub mod target;

pub use admin::{AdminAccess, AdminError, AdminToken};
pub use apply::LoraStep;
pub use config::AdapterConfig;
pub use load::{
    AdapterDevice, AdapterOptions, HostPrecision, LoraAdapter, LoraError, LoraLayout, ModuleShape, QkPermutation,
};
pub use registry::{AdapterRegistry, Origin, RegistryError};
pub use reload::ConfigAdapters;
pub use target::Target;
