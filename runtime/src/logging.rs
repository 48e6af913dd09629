//! Logging set-up shared by every subcommand: `--log-format text|json` (environment
//! `NETGPT_LOG_FORMAT`, which the operator renders into every pod it creates so that a
//! JSON-logging control plane gets JSON-logging workloads), filtered by `RUST_LOG`.

/// Log output formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (colours only on a terminal).
    #[default]
    Text,
    /// One JSON object per line, for log pipelines.
    Json,
}

impl LogFormat {
    /// `NETGPT_LOG_FORMAT` (`json`, else text), for processes started without flags.
    pub fn from_env() -> Self {
        match std::env::var(LOG_FORMAT_ENV) {
            Ok(format) if format.eq_ignore_ascii_case("json") => Self::Json,
            _ => Self::Text,
        }
    }

    /// The value `--log-format` and `NETGPT_LOG_FORMAT` take for this format.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Json => "json",
        }
    }
}

/// The environment variable behind `--log-format`.
pub const LOG_FORMAT_ENV: &str = "NETGPT_LOG_FORMAT";

/// `--log-format`, flattened into every subcommand's arguments.
#[derive(clap::Args, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogArgs {
    /// Log format: `text`, or `json` (one object per line).
    #[arg(long, value_enum, default_value = "text", env = LOG_FORMAT_ENV, global = true)]
    pub log_format: LogFormat,
}

/// Logs to stderr in `format`, filtered by `RUST_LOG` (else `default_filter`, e.g.
/// `info`). Colours only on a terminal: in a pod, escape codes would end up in `kubectl
/// logs` and every log pipeline. Only the first call in a process takes effect.
pub fn init_tracing(format: LogFormat, default_filter: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        log: LogArgs,
    }

    #[test]
    fn log_format_flag_parses_both_values_and_refuses_others() {
        assert_eq!(
            Cli::try_parse_from(["x", "--log-format", "json"]).map(|c| c.log.log_format).ok(),
            Some(LogFormat::Json)
        );
        assert_eq!(
            Cli::try_parse_from(["x", "--log-format", "text"]).map(|c| c.log.log_format).ok(),
            Some(LogFormat::Text)
        );
        assert!(Cli::try_parse_from(["x", "--log-format", "yaml"]).is_err());
        assert_eq!(LogFormat::Json.as_str(), "json");
    }
}
