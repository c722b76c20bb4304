//! End-to-end tests: the real `rota dev` on loopback, driven by the real CLI.

mod bad_input;
mod bench_smoke;
mod cluster;
mod config;
mod cosmos_contract;
mod cosmos_dropin;
mod cosmos_files;
mod crash_recovery;
mod cron_and_logs;
mod depends;
mod docker;
mod fairness;
mod harness;
mod isolation;
mod partition;
mod raft;
mod raft_membership;
mod repair_and_replay;
mod scheduling;
mod timeouts_and_kill;
