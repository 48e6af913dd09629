//! `netgpt gateway`: one per site. Runs a LogicalAIWorkflow for each OpenAI chat request:
//! the site's edge LLM completes the concise prompt with the site's location context and
//! drafts an answer; when its confidence (from token log-probabilities) reaches the
//! threshold the edge answers, otherwise the completed prompt goes through the
//! desensitizer sidecar to the cloud LLM. The gateway never talks to the cloud directly,
//! and answers at the edge whenever the cloud path fails or cannot meet the budget.
//!
//! The latency budget (`routing.latencyBudgetMs`) bounds what happens before the client
//! gets its first byte: the edge steps, then the cloud's whole answer or, when streamed,
//! its first byte (until then the edge can still answer instead). A stream that has
//! started is not cut for being long: each further chunk must come within
//! `--stream-idle-timeout-seconds` (30 s) of the previous one, else the stream ends with
//! an error event. On SIGTERM the gateway drains like `netgpt serve`.

pub mod engine;
pub mod forecast;
pub mod intent;
pub mod metrics;
pub mod popularity;
pub mod route;
pub mod server;

pub use server::{GatewayArgs, GatewayError, GatewaySettings, RunningGateway, run, start, start_with};
