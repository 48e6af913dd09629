//! The projections adapters can target, shared by loading and applying them.

/// A projection an adapter can target. LLaMA: `q/k/v/o_proj`, `gate/up/down_proj`;
/// GPT-2: `attn.c_attn`, `attn.c_proj`, `mlp.c_fc`, `mlp.c_proj`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
    CAttn,
    AttnProj,
    CFc,
    MlpProj,
}

impl Target {
    /// How many targets there are (a table indexed by `target as usize` has this length).
    pub const COUNT: usize = Target::MlpProj as usize + 1;
}
