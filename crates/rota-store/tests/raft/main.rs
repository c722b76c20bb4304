//! Raft replication of the store: members in one process, talking real HTTP on loopback.
//!
//! Each member is a [`Cluster`](rota_store::Cluster) behind a tiny axum server bound to
//! port 0; "stopping" a member shuts its Raft core down and makes its server answer 503
//! (as a dead process would fail every RPC), and "restarting" reopens the same directory
//! behind the same address.

mod catch_up;
mod failover;
mod harness;
mod membership;
mod replication;
