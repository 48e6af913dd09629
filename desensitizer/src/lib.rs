//! `netgpt desensitize`: the data-desensitization sidecar in front of the cloud model.
//!
//! Layout: [`detect`] finds personal data in text (pure functions, one module per entity
//! family, overlaps resolved in favour of the more specific/validated entity), [`actions`]
//! replaces what was found (`redact`, `mask`, `pseudonymize`), [`vault`] remembers which
//! pseudonym stands for which value within one request, [`restore`] puts originals back
//! into the cloud's answer (also when a placeholder is split across SSE chunks),
//! [`request`] and [`response`] walk OpenAI request/response bodies, [`proxy`] is the axum
//! sidecar, [`metrics`] its Prometheus metrics, [`eval`] scores detection on a labelled
//! corpus and [`cli`] is the `netgpt desensitize` command line.
//!
//! The gateway can use the same code in-process:
//! ```no_run
//! use netgpt_desensitizer::{Desensitizer, Restorer};
//! # fn demo(mut body: serde_json::Value) -> Result<(), netgpt_desensitizer::DesensitizeError> {
//! let desensitizer = Desensitizer::new(Default::default());
//! let outcome = desensitizer.desensitize_chat(&mut body)?;
//! let restorer = Restorer::new(std::sync::Arc::new(outcome.vault));
//! let answer = restorer.restore("Hello [PERSON_1]");
//! # let _ = answer; Ok(()) }
//! ```

pub mod actions;
pub mod cli;
pub mod detect;
pub mod entity;
pub mod error;
pub mod eval;
pub mod metrics;
pub mod ner;
pub mod proxy;
pub mod request;
pub mod response;
pub mod restore;
pub mod vault;

pub use actions::Desensitizer;
pub use cli::{DesensitizeArgs, run};
pub use detect::{Detection, Detector};
pub use error::DesensitizeError;
pub use request::Outcome;
pub use response::{SseRestorer, restore_json};
pub use restore::{Restorer, StreamRestorer};
pub use vault::Vault;
