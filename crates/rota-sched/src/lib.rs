//! The pure scheduling core of rota: which queued runs start now, on which nodes, and why
//! the others wait.
//!
//! The scheduler is a function, not a service. [`Scheduler::plan`] takes a [`Snapshot`]
//! (nodes, queues, running and queued runs, the previous reservations) and [`Params`] (the
//! plan id that seeds the node shuffle, the time, the knobs) and returns a [`Plan`]. No IO,
//! no async, no clock reads (`clippy.toml` bans them), no global randomness: the same
//! snapshot and params give the same plan, so a plan can be replayed from the logs. The
//! server takes the snapshot, asks for a plan, re-checks it against fresh state with
//! [`Scheduler::recheck`], and commits what still fits as one write.
//!
//! ```text
//!  Snapshot ─┬─ nodes (capacity, free, attributes, ready/draining/down)
//!            ├─ queues (weight, quota, guaranteed minimum, preemption)
//!            ├─ running runs ──────────────▶ queue usage, UNIQUE/GROUP_BY counts, victims
//!            ├─ queued runs (Arc<Request>: app, demand, constraints, profile)
//!            └─ reservations of the previous plan
//!  Params ──── plan id (seed), now, sampling, reserve_after, explain_top
//!      │
//!      ▼
//!  Round: ids → indices, amounts → integer vectors, attributes interned,
//!         nodes sorted by id then shuffled with the seed          (once per plan)
//!      │
//!      ▼
//!  Turns: the queue below its guarantee first, then the smallest weighted
//!         dominant share (DRF); inside a queue priority, schedule time, id
//!      │   one run at a time; a queue whose runs cannot be placed is passed
//!      ▼   over and the next-least-used is served (the Cosmos rule)
//!  Class of the run (once per request and plan): profile resolved by name
//!      │   in the Registry, constraints compiled (LIKE regexes once), every node
//!      │   asked by the static filters ──▶ eligible nodes, tallies, static scores
//!      ▼
//!  Admission ── larger than every node / than the quota / no node matches ──▶ Rejection
//!      │
//!  Quota ────── queue would go over its quota ──▶ waits (OverQuota)
//!      │
//!  Search ───── dynamic filters (resources, UNIQUE, GROUP_BY) and weighted
//!      │        scorers over a window of eligible nodes (K feasible ones in the
//!      │        shuffled order, or all), kept up to date as runs are placed
//!      │        ──▶ Placement (free capacity updated)
//!      ▼ none
//!  Preemption ─ queue below its guarantee, preemption on: evict runs of
//!      │        queues above their share ──▶ Preemption + Placement
//!      ▼ none
//!  Wait ─────── diagnosed once per class ("no node has 8 cores free; best node n3
//!               has 2 cores"); waited longer than reserve_after ──▶ Reservation
//!      │
//!      ▼
//!  Plan { placements (by_node() for dispatch), preemptions, reservations,
//!         rejections, explanations }
//!      │
//!      ▼   (the server, against fresh state)
//!  Scheduler::recheck(plan, fresh) ──▶ Recheck { preemptions, accepted, refused }
//! ```
//!
//! How the server drives it, each round of its scheduling loop:
//!
//! 1. Build a [`Snapshot`]: one [`Node`] per agent (capacity, free, attributes, state); the
//!    queue settings ([`Queue`]: weight, quota, guaranteed minimum, preemption); one
//!    `Arc<Request>` per app version ([`Request::from_spec`]) shared by its runs; every
//!    running run ([`RunningRun`]) and every queued run whose retry backoff is over
//!    ([`QueuedRun`], with `queued_at` for reservations); and the previous plan's
//!    [`Plan::reservations`], kept in memory from round to round.
//! 2. `plan = scheduler.plan(&snapshot, &Params::new(plan_id, now))`, with a plan id that
//!    grows (and is logged) so that the plan can be replayed.
//! 3. Re-read fresh state, `scheduler.recheck(&plan, &fresh)`, and commit in one write the
//!    [`Recheck::preemptions`] (end the victims `preempted`, re-queue them), the
//!    [`Recheck::accepted`] placements (dispatched per node, as [`Plan::by_node`] groups
//!    them) and the [`Plan::rejections`] (`reason.to_string()` is the sentence to record).
//! 4. Keep [`Plan::explanation`] per run for `rota why RUN`, and show [`queue_shares`] in
//!    `rota queues`.
//!
//! Plugins: a [`Filter`] answers fit, unfit with a [`Reason`], or never fits; a [`Scorer`]
//! answers 0 to 100, weighted by the run's placement profile. Both register by name in a
//! [`Registry`]; the built-in names are the ones `rota_model::placement` validates app specs
//! against.
//!
//! Cost: per class (the runs sharing one `Arc<Request>`) and plan, one pass of the static
//! filters over every node; per run, a rescoring of the nodes that changed since the class's
//! last search, plus a new window when the class's window is used up: O(K) nodes with
//! sampling, every eligible node otherwise (see [`Sampling`]). `cargo bench -p rota-sched`
//! measures it.
//!
//! The [`sim`] module replays a trace of arrivals over simulated nodes in virtual time, the
//! way the server's loop would, and reports shares, utilization and waits.

mod class;
mod explain;
mod explained;
mod fair;
mod filters;
mod hash;
mod params;
mod plan;
mod planner;
mod plugin;
mod preempt;
mod recheck;
mod resources;
mod round;
mod scorers;
mod search;
mod shares;
mod shuffle;
pub mod sim;
mod snapshot;
mod state;

pub use explain::{Candidate, Explanation, FilterTally, Outcome, RejectReason, ScorerScore, Wait};
pub use params::{Params, Sampling};
pub use plan::{Placement, Plan, Preemption, Rejection, Reservation};
pub use planner::Scheduler;
pub use plugin::{At, Filter, Reason, Registry, Scorer, Verdict};
pub use recheck::Recheck;
pub use resources::{Limits, Resources};
pub use shares::{QueueShare, queue_shares};
pub use snapshot::{Node, NodeState, Queue, QueuedRun, Request, RunningRun, Snapshot};
