//! Writes the learned stage's weights, dequantized to f32 under their Hugging Face names,
//! as one safetensors file: the starting point of the adapter's training script
//! (`desensitizer/training/train_ner_adapter.py`), so that it trains against the
//! numbers the sidecar runs rather than a float checkpoint it never sees.
//!
//! ```sh
//! cargo run --release -p netgpt-desensitizer --example ner_weights -- \
//!     ~/.cache/netgpt/models/pii-rampart-1.4.0 /tmp/rampart-f32.safetensors
//! ```

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), Some(out)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: ner_weights MODEL_DIR OUT.safetensors");
    };
    let weights = netgpt_desensitizer::ner::dequantized_weights(&PathBuf::from(dir))?;
    candle_core::safetensors::save(&weights, PathBuf::from(&out))?;
    eprintln!("{} tensors written to {}", weights.len(), PathBuf::from(out).display());
    Ok(())
}
