//! The chart's Grafana dashboards, read the way Grafana reads them: their panels and
//! their PromQL with the template variables substituted. Shared by the dashboard tests on
//! loopback processes and on the real node.

use std::path::PathBuf;

use serde_json::Value;

use crate::repo_root;

/// Every dashboard of the chart: (file name, JSON), sorted by name.
pub fn dashboard_files() -> Vec<(String, Value)> {
    let dir = repo_root().join("charts/netgpt/dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("dashboard file");
            let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.file_name().expect("name").to_string_lossy().into_owned(), value)
        })
        .collect()
}

/// Replaces Grafana's variables (`$name`, `${name}`, `${name:format}`, `[[name]]`) the way
/// Grafana would for "All" (`.*`) and fixed intervals; Err(name) for an unknown variable.
pub fn substitute_variables(expr: &str, variables: &[String]) -> Result<String, String> {
    let value = |name: &str| -> Result<&str, String> {
        match name {
            "__rate_interval" => Ok("1m"),
            "__interval" => Ok("15s"),
            "__interval_ms" => Ok("15000"),
            "__range" => Ok("5m"),
            "__range_s" => Ok("300"),
            "__range_ms" => Ok("300000"),
            _ if variables.iter().any(|v| v == name) => Ok(".*"),
            _ => Err(name.to_string()),
        }
    };
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::new();
    let mut rest = expr;
    while let Some(pos) = rest.find(['$', '[']) {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(braced) = tail.strip_prefix("${") {
            let close = braced.find('}').ok_or_else(|| format!("unclosed ${{ in {expr}"))?;
            let name = braced[..close].split(':').next().unwrap_or_default();
            out.push_str(value(name)?);
            rest = &braced[close + 1..];
        } else if let Some(bracketed) = tail.strip_prefix("[[") {
            let close = bracketed.find("]]").ok_or_else(|| format!("unclosed [[ in {expr}"))?;
            out.push_str(value(bracketed[..close].split(':').next().unwrap_or_default())?);
            rest = &bracketed[close + 2..];
        } else if let Some(named) = tail.strip_prefix('$') {
            let len = named.find(|c: char| !is_name(c)).unwrap_or(named.len());
            out.push_str(value(&named[..len])?);
            rest = &named[len..];
        } else {
            out.push('[');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Every panel, including those nested in collapsed rows.
pub fn all_panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        out.push(panel);
        for nested in panel["panels"].as_array().into_iter().flatten() {
            out.push(nested);
        }
    }
    out
}

/// Names of a dashboard's template variables.
pub fn template_variables(dashboard: &Value) -> Vec<String> {
    dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect()
}
