//! `status.sites[].popularity`: the workflow's `popularityPrediction` steps run in the site
//! gateways; the reconcile reads each ready gateway's `GET /v1/popularity` and copies the
//! latest prediction and its scores into the status, once per interval.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use netgpt_crds::SitePopularity;
use serde_json::Value;

/// How long a gateway may take to answer: it answers from memory.
const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// Reads a site gateway's predictions (`endpoint`: the gateway Service's URL).
pub async fn read_site_popularity(http: &reqwest::Client, endpoint: &str) -> Result<Vec<SitePopularity>, String> {
    let url = format!("{}/v1/popularity", endpoint.trim_end_matches('/'));
    let response = http.get(&url).timeout(READ_TIMEOUT).send().await.map_err(|e| format!("{url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{url} answered {}", response.status()));
    }
    let view: Value = response.json().await.map_err(|e| format!("{url}: {e}"))?;
    Ok(site_popularity(&view))
}

/// The status entries of a gateway's `/v1/popularity` view, one per step.
pub fn site_popularity(view: &Value) -> Vec<SitePopularity> {
    let steps = view["steps"].as_array().map(Vec::as_slice).unwrap_or_default();
    steps
        .iter()
        .map(|step| {
            let prediction = &step["prediction"];
            let rate = |predictor: &str| step["evaluation"]["hitRate"][predictor].as_f64().filter(|r| r.is_finite());
            SitePopularity {
                step: step["step"].as_str().unwrap_or_default().to_string(),
                interval_start: prediction["intervalStart"]
                    .as_i64()
                    .and_then(|s| Timestamp::from_second(s).ok())
                    .map(Time),
                top: prediction["top"]
                    .as_array()
                    .map(|t| t.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                    .unwrap_or_default(),
                source: prediction["source"].as_str().map(str::to_string),
                evaluated_intervals: step["evaluation"]["intervals"].as_i64().unwrap_or(0),
                hit_rate: rate("step"),
                model_hit_rate: rate("model"),
                frequency_hit_rate: rate("frequency"),
                sequence_hit_rate: rate("sequence"),
            }
        })
        .collect()
}

/// How often the status follows the gateways: the shortest interval, at least every 5 s
/// and at most as rarely as the periodic resync.
pub fn refresh_period(intervals: impl Iterator<Item = i32>, resync: Duration) -> Option<Duration> {
    intervals.map(|s| Duration::from_secs(s.max(5) as u64)).min().map(|d| d.min(resync))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateway_view_becomes_status() {
        let view = serde_json::json!({"steps": [{
            "step": "forecast", "intervalSeconds": 60,
            "prediction": {"intervalStart": 1_800_000_000, "top": ["food", "coffee"], "source": "model"},
            "evaluation": {"intervals": 4, "places": 8, "hitRate": {"step": 0.75, "model": 0.625, "frequency": 0.5, "sequence": null}}
        }]});
        let status = site_popularity(&view);
        assert_eq!(status.len(), 1);
        let s = &status[0];
        assert_eq!(
            (s.step.as_str(), s.top.as_slice(), s.source.as_deref()),
            ("forecast", &["food".to_string(), "coffee".to_string()][..], Some("model"))
        );
        assert_eq!(
            (s.evaluated_intervals, s.hit_rate, s.model_hit_rate, s.frequency_hit_rate, s.sequence_hit_rate),
            (4, Some(0.75), Some(0.625), Some(0.5), None)
        );
        let start = serde_json::to_value(&s.interval_start).expect("time");
        assert_eq!(start, "2027-01-15T08:00:00Z");
        assert!(site_popularity(&serde_json::json!({"error": {}})).is_empty());
    }

    #[test]
    fn the_status_follows_the_shortest_interval_within_bounds() {
        let resync = Duration::from_secs(300);
        assert_eq!(refresh_period([600, 60].into_iter(), resync), Some(Duration::from_secs(60)));
        assert_eq!(refresh_period([1].into_iter(), resync), Some(Duration::from_secs(5)));
        assert_eq!(refresh_period([3600].into_iter(), resync), Some(resync));
        assert_eq!(refresh_period(std::iter::empty(), resync), None);
    }
}
