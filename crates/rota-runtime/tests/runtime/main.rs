//! The runtimes against the real thing: processes, this host's cgroups, and a Docker engine
//! where one is reachable (elsewhere the Docker tests print that they were skipped).

mod cosmos;
mod docker;
mod limits;
mod process;
mod registry;
