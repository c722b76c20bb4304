//! The rota data model: app specs (Cosmos JSON in and out), validation, the run state
//! machine, Quartz cron with time zones, and the shapes of the HTTP API.
//!
//! No IO, no async and no clock reads here: every function that needs "now" takes it as a
//! parameter, so the whole crate can be tested exhaustively. Time zones come from the tz
//! database bundled into the binary, so every replica computes the same fire times.

pub mod agent_api;
mod agent_wire;
pub mod api;
pub mod cosmos;
pub mod cron;
pub mod depend;
pub mod exit;
pub mod ids;
pub mod placement;
pub mod record;
pub mod run;
pub mod spec;
pub mod timefmt;

pub use exit::{ExitReason, Limits, Usage};
pub use ids::{AppKey, AppKeyParts, IdError, NodeId, RunId};
pub use record::{Attempt, Ending, Origin, ProcessRef, Run};
pub use run::{RunState, Transition, TransitionError};
pub use spec::{AppSpec, Catchup, Concurrency, SpecError};
