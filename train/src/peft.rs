//! Writes a trained adapter in PEFT's layout (`adapter_config.json` +
//! `adapter_model.safetensors`), the format `netgpt serve`, Hugging Face PEFT and
//! llama.cpp's `convert_lora_to_gguf.py` read.

use std::collections::HashMap;
use std::path::Path;

use candle_core::Tensor;

use crate::TrainError;
use crate::model::Adapter;

/// Undoes llama.cpp's Q/K row permutation on `lora_B` (`[heads * head_dim, r]`): per head,
/// rows `(head_dim/2, 2)` go back to `(2, head_dim/2)`. A GGUF base was trained in the
/// permuted order; PEFT files are in Hugging Face order.
pub fn unpermute_rows(b: &Tensor, heads: usize, head_dim: usize) -> candle_core::Result<Tensor> {
    let (out, rank) = b.dims2()?;
    if heads == 0 || out != heads * head_dim || !head_dim.is_multiple_of(2) {
        candle_core::bail!("cannot unpermute {out} rows into {heads} heads of {head_dim}");
    }
    b.reshape((heads, head_dim / 2, 2, rank))?.transpose(1, 2)?.contiguous()?.reshape((out, rank))
}

/// Saves `adapter` under `dir` (created if needed); `source` is the base it was trained
/// over (its file name is recorded).
pub fn save(dir: &Path, adapter: &Adapter, source: &Path) -> Result<(), TrainError> {
    let io = |e: std::io::Error| TrainError::Output(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let sites = &adapter.sites;
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    for (&(layer, index), pair) in &adapter.pairs {
        let site = &sites.projections[index];
        let prefix = format!("base_model.model.{}.{layer}.{}", sites.block_prefix, site.module);
        let mut b = pair.b.as_tensor().clone();
        if let Some(order) = sites.qk_row_order {
            b = match site.target {
                "q_proj" => unpermute_rows(&b, order.heads, order.head_dim)?,
                "k_proj" => unpermute_rows(&b, order.kv_heads, order.head_dim)?,
                _ => b,
            };
        }
        tensors.insert(format!("{prefix}.lora_A.weight"), pair.a.as_tensor().contiguous()?);
        tensors.insert(format!("{prefix}.lora_B.weight"), b.contiguous()?);
    }
    candle_core::safetensors::save(&tensors, dir.join("adapter_model.safetensors"))?;
    let config = serde_json::json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "r": adapter.spec.rank,
        "lora_alpha": adapter.spec.alpha,
        "lora_dropout": adapter.spec.dropout,
        "target_modules": adapter.spec.targets,
        "bias": "none",
        "fan_in_fan_out": sites.fan_in_fan_out,
        "use_rslora": false,
        "use_dora": false,
        "inference_mode": true,
        "init_lora_weights": true,
        "modules_to_save": null,
        "base_model_name_or_path": source.file_name().map(|n| n.to_string_lossy().into_owned()),
    });
    let text = serde_json::to_string_pretty(&config).map_err(|e| TrainError::Output(e.to_string()))?;
    std::fs::write(dir.join("adapter_config.json"), text).map_err(io)
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::unpermute_rows;

    #[test]
    fn unpermute_inverts_the_serving_permutation() {
        let b = Tensor::arange(0f32, 48.0, &Device::Cpu).unwrap().reshape((12, 4)).unwrap();
        let permuted = netgpt_inference::lora::load::permute_rows(&b, 2, 6).unwrap();
        assert_ne!(permuted.to_vec2::<f32>().unwrap(), b.to_vec2::<f32>().unwrap());
        let back = unpermute_rows(&permuted, 2, 6).unwrap();
        assert_eq!(back.to_vec2::<f32>().unwrap(), b.to_vec2::<f32>().unwrap());
    }
}
