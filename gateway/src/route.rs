//! Pure pieces of the workflow: the prompt that asks the edge model to complete a user's
//! request with the site's location context, and edge confidence from token
//! log-probabilities. The routing itself is the workflow's step graph ([`crate::engine`]).

use netgpt_crds::ConfidenceMetric;
use netgpt_crds::config::SiteConfig;

/// Which path answered a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServedPath {
    /// The edge was confident enough (or the workflow has no cloud step).
    Edge,
    /// The desensitized prompt went to the cloud.
    Cloud,
    /// The cloud path failed or could not meet the latency budget; the edge answered.
    EdgeFallback,
}

impl ServedPath {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Edge => "edge",
            Self::Cloud => "cloud",
            Self::EdgeFallback => "edge-fallback",
        }
    }
}

/// Messages for the `promptCompletion` step: the edge model rewrites the user's concise
/// request into a complete one that carries the site's location context. Only the
/// granularity the profile gives (place name, district context) is used — never the
/// user's exact position, and not the cell id (network-internal). A one-shot example
/// keeps small edge models rewriting instead of answering.
pub fn completion_messages(site: &SiteConfig, prompt: &str) -> Vec<serde_json::Value> {
    let loc = &site.location;
    let place = loc.place_name.clone().unwrap_or_else(|| site.name.clone());
    let nearby = loc.context.as_deref().map(|c| format!(" Nearby: {c}")).unwrap_or_default();
    let system = "Rewrite a short request from a mobile user into one detailed question that mentions where the \
                  user is.\nExample:\nLocation: Brooklyn, New York. Nearby: Prospect Park, Barclays Center.\n\
                  Short request: where to run?\n\
                  Detailed question: What are good running routes near Prospect Park in Brooklyn, New York?";
    vec![
        serde_json::json!({"role": "system", "content": system}),
        serde_json::json!({"role": "user", "content": format!("Location: {place}.{nearby}\nShort request: {prompt}\nDetailed question:")}),
    ]
}

/// Cleans the edge model's rewrite and makes sure it names the site's area: the
/// comprehensive prompt must carry the location even when a small model drops it.
pub fn finish_completion(site: &SiteConfig, completion: &str, original: &str) -> String {
    let text = completion.trim();
    let text = text.strip_prefix("Detailed question:").unwrap_or(text).trim();
    let text = if text.is_empty() { original.trim() } else { text };
    let Some(place) = site.location.place_name.as_deref() else {
        return text.to_string();
    };
    // "Pudong, Shanghai" -> "Pudong": the most specific part must appear.
    let area = place.split(',').next().unwrap_or(place).trim();
    if area.is_empty() || text.to_lowercase().contains(&area.to_lowercase()) {
        text.to_string()
    } else {
        format!("{text} (I am in {place}.)")
    }
}

/// Confidence in [0, 1] from per-token log-probabilities; `None` without tokens.
pub fn confidence(logprobs: &[f64], metric: ConfidenceMetric) -> Option<f64> {
    if logprobs.is_empty() {
        return None;
    }
    let value = match metric {
        ConfidenceMetric::MeanTokenProbability => logprobs.iter().sum::<f64>() / logprobs.len() as f64,
        ConfidenceMetric::MinTokenProbability => logprobs.iter().copied().fold(f64::INFINITY, f64::min),
    };
    Some(value.exp().clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_always_names_the_area() {
        let site: SiteConfig = serde_json::from_value(serde_json::json!({
            "name": "a", "location": {"placeName": "Pudong, Shanghai", "cellId": "460-00-1"}
        }))
        .expect("site");
        assert_eq!(
            finish_completion(&site, "Detailed question: Good dinner in Pudong?", "x"),
            "Good dinner in Pudong?"
        );
        assert_eq!(
            finish_completion(&site, "Good dinner in Shanghai?", "x"),
            "Good dinner in Shanghai? (I am in Pudong, Shanghai.)"
        );
        assert_eq!(finish_completion(&site, "  ", "dinner?"), "dinner? (I am in Pudong, Shanghai.)");
        let messages = completion_messages(&site, "dinner?");
        let text = messages.iter().map(|m| m["content"].as_str().unwrap_or_default()).collect::<String>();
        assert!(text.contains("Pudong, Shanghai") && !text.contains("460-00-1"), "no cell id in prompts: {text}");
    }

    #[test]
    fn confidence_is_geometric_mean_or_minimum_probability() {
        let lp = [(0.9f64).ln(), (0.5f64).ln()];
        let mean = confidence(&lp, ConfidenceMetric::MeanTokenProbability).expect("some");
        assert!((mean - (0.45f64).sqrt()).abs() < 1e-9);
        let min = confidence(&lp, ConfidenceMetric::MinTokenProbability).expect("some");
        assert!((min - 0.5).abs() < 1e-9);
        assert_eq!(confidence(&[], ConfidenceMetric::MeanTokenProbability), None);
    }
}
