//! `netgpt gateway`: one per site. Runs a LogicalAIWorkflow for each OpenAI chat request:
//! the site's edge LLM completes the concise prompt with the site's location context and
//! drafts an answer; when its confidence (from token log-probabilities) reaches the
//! threshold the edge answers, otherwise the completed prompt goes through the
//! desensitizer sidecar to the cloud LLM. The gateway never talks to the cloud directly,
//! and answers at the edge whenever the cloud path fails or cannot meet the budget.

pub mod metrics;
pub mod route;
pub mod server;

pub use server::{GatewayArgs, GatewayError, RunningGateway, run, start};
