//! PEFT's `adapter_config.json`: the fields that decide how an adapter is applied.

use serde::Deserialize;

/// `target_modules`: a list of module names, or one regular expression (PEFT's two forms).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum TargetModules {
    Names(Vec<String>),
    Pattern(String),
}

/// The LoRA fields of `adapter_config.json`; everything else PEFT writes is ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct AdapterConfig {
    #[serde(default = "default_peft_type")]
    pub peft_type: String,
    pub r: usize,
    pub lora_alpha: f64,
    #[serde(default)]
    pub target_modules: Option<TargetModules>,
    /// True for GPT-2's `Conv1D` (weights stored `[in, out]`). It only changes how PEFT
    /// *merges* the delta into the weight; `lora_A`/`lora_B` are `[r, in]`/`[out, r]`
    /// either way, so the bypass ignores it.
    #[serde(default)]
    pub fan_in_fan_out: bool,
    #[serde(default = "default_bias")]
    pub bias: String,
    #[serde(default)]
    pub use_rslora: bool,
    #[serde(default)]
    pub use_dora: bool,
    #[serde(default)]
    pub modules_to_save: Option<Vec<String>>,
    #[serde(default)]
    pub rank_pattern: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    pub alpha_pattern: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    pub base_model_name_or_path: Option<String>,
}

fn default_peft_type() -> String {
    "LORA".into()
}

fn default_bias() -> String {
    "none".into()
}

impl AdapterConfig {
    /// Parses `adapter_config.json` and refuses the PEFT features the bypass does not
    /// implement (a silently ignored feature would change the model's answers).
    pub fn parse(text: &str) -> Result<Self, String> {
        let config: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if !config.peft_type.eq_ignore_ascii_case("LORA") {
            return Err(format!("peft_type {:?} is not LORA", config.peft_type));
        }
        if config.r == 0 {
            return Err("r must be at least 1".into());
        }
        if !(config.lora_alpha.is_finite()) {
            return Err("lora_alpha must be a finite number".into());
        }
        if config.bias != "none" {
            return Err(format!("bias {:?} is not supported (only \"none\")", config.bias));
        }
        if config.use_dora {
            return Err("DoRA adapters (use_dora) are not supported".into());
        }
        if config.modules_to_save.as_ref().is_some_and(|m| !m.is_empty()) {
            return Err("modules_to_save (fully trained extra modules) is not supported".into());
        }
        for (field, pattern) in [("rank_pattern", &config.rank_pattern), ("alpha_pattern", &config.alpha_pattern)] {
            if pattern.as_ref().is_some_and(|p| !p.is_empty()) {
                return Err(format!("{field} (per-module ranks or alphas) is not supported"));
            }
        }
        Ok(config)
    }

    /// The factor of the bypass: `alpha / r`, or `alpha / sqrt(r)` for rank-stabilized LoRA.
    pub fn scale(&self) -> f64 {
        if self.use_rslora { self.lora_alpha / (self.r as f64).sqrt() } else { self.lora_alpha / self.r as f64 }
    }

    /// Module names listed in `target_modules` (empty for a pattern or when absent).
    pub fn target_names(&self) -> &[String] {
        match &self.target_modules {
            Some(TargetModules::Names(names)) => names,
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_peft_fields_and_scale() {
        let config = AdapterConfig::parse(
            r#"{"peft_type":"LORA","r":8,"lora_alpha":16,"target_modules":["q_proj","v_proj"],
                "fan_in_fan_out":false,"bias":"none","use_dora":false,"modules_to_save":null,
                "rank_pattern":{},"alpha_pattern":{},"task_type":"CAUSAL_LM"}"#,
        )
        .expect("config");
        assert_eq!(config.r, 8);
        assert_eq!(config.scale(), 2.0);
        assert_eq!(config.target_names(), ["q_proj", "v_proj"]);
        let rs = AdapterConfig::parse(r#"{"r":4,"lora_alpha":8,"use_rslora":true,"target_modules":"q_proj"}"#)
            .expect("config");
        assert_eq!(rs.scale(), 4.0);
        assert!(rs.target_names().is_empty());
    }

    #[test]
    fn refuses_unsupported_features() {
        for text in [
            r#"{"r":4,"lora_alpha":8,"bias":"all"}"#,
            r#"{"r":4,"lora_alpha":8,"use_dora":true}"#,
            r#"{"r":4,"lora_alpha":8,"modules_to_save":["lm_head"]}"#,
            r#"{"r":4,"lora_alpha":8,"rank_pattern":{"q_proj":2}}"#,
            r#"{"r":0,"lora_alpha":8}"#,
            r#"{"peft_type":"IA3","r":4,"lora_alpha":8}"#,
            r#"{"lora_alpha":8}"#,
        ] {
            assert!(AdapterConfig::parse(text).is_err(), "{text}");
        }
    }
}
