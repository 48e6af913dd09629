//! What every NetGPT process shares, so each binary subcommand is a thin shell over its
//! component's crate: [`logging`] (`--log-format text|json`), [`shutdown`] (SIGTERM and
//! graceful drain), [`metrics`] (the Prometheus text exposition), [`http_error`] (the
//! OpenAI-style `{"error": {…}}` body every HTTP component answers with) and
//! [`model_store`] (the local model cache and `netgpt model pull`) and [`clock`] (Unix time
//! for response fields).
//!
//! This crate depends on no other NetGPT crate.

pub mod clock;
pub mod http_error;
pub mod logging;
pub mod metrics;
pub mod model_store;
pub mod shutdown;

pub use clock::unix_seconds;
pub use http_error::ErrorShape;
pub use logging::{LogArgs, LogFormat, init_tracing};
pub use shutdown::{GracefulServer, termination_signal};
