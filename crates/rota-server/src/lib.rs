//! The rota server: the HTTP API, and the loops that the leader runs (the cron timer, the
//! scheduling loop, the agents' reports).
//!
//! ```text
//!  HTTP /v1 ──▶ Store::submit ──▶ state machine ──watch──▶ scheduler ──▶ agent
//!                   ▲                                          │
//!  cron timer ──────┘◀───────────── reports ◀──────────────────┘
//! ```

mod config;
mod context;
mod cron_loop;
mod dev;
mod error;
mod http;
mod liveness;
mod reports;
mod request_cache;
mod scheduler;

pub use config::{MemberStart, Membership, ServerConfig};
pub use dev::{DevError, run_dev};
pub use error::{ApiError, ErrorCode};
