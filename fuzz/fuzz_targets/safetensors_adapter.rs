//! Arbitrary bytes as a PEFT adapter's `adapter_model.safetensors` through
//! `LoraAdapter::load` (safetensors parsing, name and shape checks, Q/K row permutation),
//! onto a small LLaMA layout. Malformed files must be errors, never panics or allocations
//! beyond the file's size.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use netgpt_inference::lora::load::{CONFIG_FILE, WEIGHTS_FILE};
use netgpt_inference::lora::{AdapterOptions, LoraAdapter, LoraLayout};

const CONFIG: &str = r#"{"peft_type": "LORA", "r": 2, "lora_alpha": 4,
  "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}"#;

fn adapter_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = std::path::Path::new("/dev/shm");
        let base = if base.is_dir() { base.to_path_buf() } else { std::env::temp_dir() };
        let dir = base.join(format!("netgpt-fuzz-adapter-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the adapter directory");
        std::fs::write(dir.join(CONFIG_FILE), CONFIG).expect("write adapter_config.json");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = adapter_dir();
    std::fs::write(dir.join(WEIGHTS_FILE), data).expect("write the weights");
    // 2 layers, hidden 8, intermediate 16, 2 heads of 4, 1 KV head, GGUF Q/K row order.
    let layout = LoraLayout::llama(2, 8, 16, 2, 1, 4, true);
    let limits = AdapterOptions { max_bytes: 1 << 20, ..AdapterOptions::default() };
    if let Ok(adapter) = LoraAdapter::load("fuzz", dir, &layout, &limits) {
        assert!(adapter.module_count() > 0);
        assert!(adapter.bytes <= 4 * data.len() as u64 * 2, "prepared size out of proportion to the file");
    }
});
