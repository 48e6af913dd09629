//! Loading choices around the safetensors LLaMA: sharded checkpoints, device and dtype
//! selection (the CUDA path itself needs a GPU and is checked by the GPU benchmark's logit
//! comparison against transformers, docs/gpu.md).

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use netgpt_inference::hf_llama::HfLlama;
use netgpt_inference::loader::{DeviceSpec, LoadError, LoadOptions, ModelSource, WeightDType, load};
use netgpt_inference::model::logits_rows;

fn tiny() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-llama")
}

#[test]
fn sharded_checkpoint_loads_like_a_single_file() {
    let dir = tempdir("sharded");
    std::fs::copy(tiny().join("config.json"), dir.join("config.json")).expect("config");
    let tensors = candle_core::safetensors::load(tiny().join("model.safetensors"), &Device::Cpu).expect("tensors");
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let (first, second) = names.split_at(names.len() / 2);
    let mut weight_map = serde_json::Map::new();
    for (file, part) in [("model-00001-of-00002.safetensors", first), ("model-00002-of-00002.safetensors", second)] {
        let shard: HashMap<String, Tensor> = part.iter().map(|n| ((*n).clone(), tensors[*n].clone())).collect();
        candle_core::safetensors::save(&shard, dir.join(file)).expect("write shard");
        for name in part {
            weight_map.insert((*name).clone(), file.into());
        }
    }
    let index = serde_json::json!({ "metadata": {}, "weight_map": weight_map });
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).expect("index");

    let tokens = [1u32, 5, 9, 2];
    let whole = HfLlama::from_dir(&tiny(), &Device::Cpu).expect("single file");
    let sharded = HfLlama::from_dir(&dir, &Device::Cpu).expect("shards");
    let a = logits_rows(&whole.forward_all(&tokens).expect("forward")).expect("rows");
    let b = logits_rows(&sharded.forward_all(&tokens).expect("forward")).expect("rows");
    assert_eq!(a, b);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn shard_names_must_stay_inside_the_model_directory() {
    let dir = tempdir("escape");
    std::fs::copy(tiny().join("config.json"), dir.join("config.json")).expect("config");
    let index = serde_json::json!({ "weight_map": { "lm_head.weight": "../elsewhere.safetensors" } });
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).expect("index");
    let error = HfLlama::from_dir(&dir, &Device::Cpu).expect_err("escaping shard path");
    assert!(error.to_string().contains("outside the model directory"), "{error}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn cpu_runs_f32_only() {
    let error = HfLlama::from_dir_as(&tiny(), &Device::Cpu, DType::F16).expect_err("f16 on the CPU");
    assert!(error.to_string().contains("F16"), "{error}");
}

#[test]
fn device_flags_parse() {
    assert_eq!("cpu".parse::<DeviceSpec>(), Ok(DeviceSpec::Cpu));
    assert_eq!("cuda".parse::<DeviceSpec>(), Ok(DeviceSpec::Cuda(0)));
    assert_eq!("cuda:3".parse::<DeviceSpec>(), Ok(DeviceSpec::Cuda(3)));
    assert!("gpu".parse::<DeviceSpec>().is_err());
    assert!("cuda:x".parse::<DeviceSpec>().is_err());
    assert_eq!(DeviceSpec::Cuda(1).to_string(), "cuda:1");
}

#[test]
fn only_llama_safetensors_leave_the_cpu() {
    let options = LoadOptions { device: DeviceSpec::Cuda(0), ..LoadOptions::default() };
    let gguf = ModelSource::LlamaGguf(PathBuf::from("/nonexistent/model.gguf"));
    match load(&gguf, options) {
        Err(LoadError::Unsupported(message)) => assert!(message.contains("CPU only"), "{message}"),
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("a GGUF model loaded for CUDA"),
    }
    let options = LoadOptions { dtype: Some(WeightDType::F16), ..LoadOptions::default() };
    assert!(matches!(load(&gguf, options), Err(LoadError::Unsupported(_))));
}

#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_without_the_feature_says_how_to_get_it() {
    let source = ModelSource::LlamaSafetensors { dir: tiny(), tokenizer: None };
    let options = LoadOptions { device: DeviceSpec::Cuda(0), ..LoadOptions::default() };
    match load(&source, options) {
        Err(LoadError::Unsupported(message)) => assert!(message.contains("--features cuda"), "{message}"),
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("CUDA opened in a CPU-only build"),
    }
}

fn tempdir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netgpt-hf-llama-{label}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
