//! One decoder layer's weights as loaded, shared by the CPU forward step (`super`) and
//! the CUDA one (`super::cuda`, which fuses them at load).

use candle_nn::{Linear, RmsNorm};

/// The projections and norms of one LLaMA decoder layer.
#[derive(Debug, Clone)]
pub(crate) struct Layer {
    pub(crate) input_norm: RmsNorm,
    pub(crate) q_proj: Linear,
    pub(crate) k_proj: Linear,
    pub(crate) v_proj: Linear,
    pub(crate) o_proj: Linear,
    pub(crate) post_attention_norm: RmsNorm,
    pub(crate) gate_proj: Linear,
    pub(crate) up_proj: Linear,
    pub(crate) down_proj: Linear,
}
