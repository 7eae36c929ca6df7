//! Integration tests: an in-process cluster (coordinator + workers + scripted model on
//! loopback, real gRPC and HTTP), real processes of the `jianzhen` binary, and the CLI's
//! handling of bad input. One test binary, so polars is linked once.

mod chaos;
mod cli;
mod common;
mod contamination;
mod data_fetch;
mod faults;
mod first_hour;
mod hidden_split;
mod hostile;
mod in_process;
mod item_model;
mod lease_contention;
mod left_out;
mod metrics;
mod netem_queue;
mod netns;
mod occupancy;
mod peer_reading;
mod processes;
mod provenance;
mod readme;
mod red_team;
mod report_html;
mod shutdown;
mod slurm;
mod store_conformance;
mod task_suites;
mod throttling;
