//! tis-sync's services over Postgres and AWS: the runner, the jobs, the exporter, the watchdog
//! and status, and their adapters. The vocabulary and the decisions without I/O are
//! `sync_core`'s; the Lambda side is the `functions` crate; the command line is `cli`.
//!
//! - `runner`: the one runner every job goes through (ledger, lock, retries, events, fan-in);
//!   `runner::follow_ups`: who starts a success's follow-ups (the bus's rules, or this process).
//! - `jobs`: what each job computes (one file per job); `search`: the index port and adapter.
//! - `ledger`: the run ledger and the per-job lock; `migrate`: the schema (`shared/migrations`).
//! - `esr`: dispatch, export and intake over the database, S3 and SQS.
//! - `watchdog`: gathers the night's facts and acts on `sync_core::watch`; `status`: the view.
//! - `preflight`: each function's checks of its own paths, and the stack's (sync-preflight).
//! - `invocation`: reading the function inputs (console, schedule, follow-up).
//! - `context`: what a process builds once at init; `config`: the environment's settings.
//! - `db`, `secret`, `logins`: Postgres, each function's secret and database login.
//! - `queue`: sending to SQS in batches (the dispatcher, the revalidation feeds on SQS).
//! - `broker`: publishing to RabbitMQ with confirms (the revalidation feeds as TIS reads them).
//! - `events`, `emf`, `retry`, `deadline`, `telemetry`, `error`: plumbing; `crash_point`: where
//!   the soak kills a process between two writes (debug builds only).

pub mod broker;
pub mod config;
pub mod context;
pub mod crash_point;
pub mod db;
pub mod deadline;
pub mod emf;
pub mod error;
pub mod esr;
pub mod events;
pub mod invocation;
pub mod jobs;
pub mod ledger;
pub mod logins;
pub mod migrate;
pub mod preflight;
pub mod queue;
pub mod retry;
pub mod runner;
pub mod search;
pub mod secret;
pub mod status;
pub mod telemetry;
pub mod watchdog;

pub use error::{Error, Result};
