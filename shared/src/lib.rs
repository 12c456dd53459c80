//! tis-sync: the nightly TCS sync jobs and the ESR exporter as Lambda functions, and the same
//! code behind the `tis-sync` CLI.
//!
//! - `jobs`: what each job computes (one file per job) and the job names.
//! - `runner`: the one runner every job goes through (ledger, lock, retries, events).
//! - `ledger`: the run ledger and the per-job lock.
//! - `invocation`: the function input shapes (console, schedule, follow-up).
//! - `context`: dependencies built once at init (the Lambda side is the `functions` crate).
//! - `functions`: the stack's functions by name (binary, database role, secret); `logins`: each
//!   function's database login and secret.
//! - `db`, `config`, `events`, `migrate`, `telemetry`: plumbing.

pub mod config;
pub mod context;
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
pub mod retry;
pub mod runner;
pub mod search;
pub mod secret;
pub mod status;
pub mod telemetry;
pub mod watchdog;

pub use error::{Error, Result};
