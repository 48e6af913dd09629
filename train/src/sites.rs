//! Where an adapter attaches in a base model, and how PEFT names it: one description per
//! architecture, so the adapter's matrices, the forward pass and the saved file agree on
//! shapes and names.

/// One adaptable projection of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The PEFT target-module name that selects it (`q_proj`, `c_attn`, `c_proj`, …); one
    /// name may select several sites (GPT-2's `c_proj` is the attention output and the
    /// MLP output).
    pub target: &'static str,
    /// Its path inside a block, as in the checkpoint (`self_attn.q_proj`, `mlp.c_proj`).
    pub module: &'static str,
    pub inputs: usize,
    pub outputs: usize,
}

/// Rows of a LoRA `B` that must be reordered before saving: a GGUF LLaMA's query and key
/// rows are in llama.cpp's RoPE order, PEFT files in Hugging Face's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QkRowOrder {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

/// Every adaptable projection of a base, in the order its forward pass indexes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterSites {
    /// `llama` or `gpt2`, for messages.
    pub family: &'static str,
    pub layers: usize,
    pub projections: Vec<Site>,
    /// PEFT key of block `l` is `base_model.model.{block_prefix}.{l}.{module}`.
    pub block_prefix: &'static str,
    /// PEFT's flag for `Conv1D` bases (GPT-2), whose weights are stored `[in, out]`; the
    /// LoRA matrices themselves are `A [r, in]`, `B [out, r]` either way.
    pub fan_in_fan_out: bool,
    /// Set for a GGUF LLaMA base.
    pub qk_row_order: Option<QkRowOrder>,
    /// What `--target-modules` means when it is not given.
    pub default_targets: &'static [&'static str],
}

impl AdapterSites {
    /// The PEFT names this base knows, without repeats.
    pub fn target_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = Vec::new();
        for site in &self.projections {
            if !names.contains(&site.target) {
                names.push(site.target);
            }
        }
        names
    }

    /// Indexes of the sites `target` selects (empty: unknown to this base).
    pub fn select(&self, target: &str) -> Vec<usize> {
        self.projections.iter().enumerate().filter(|(_, s)| s.target == target).map(|(i, _)| i).collect()
    }
}
