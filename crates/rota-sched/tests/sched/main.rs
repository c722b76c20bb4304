//! The scheduling core, from the outside: scenarios, properties, simulations.

mod builders;
mod explanations;
mod placement;
mod preemption;
mod properties;
mod queues;
mod recheck;
mod reservations;
mod simulation;
