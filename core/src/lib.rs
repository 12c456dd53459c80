//! tis-sync's vocabulary and the decisions that need no I/O, each defined once:
//!
//! - `job`: the jobs by name; `function`: the stack's functions (binary, role, secret);
//! - `graph`: the job graph (schedules, follow-ups, fan-in);
//! - `run`: what starts a run and what becomes of it; `event`: the events on the job bus;
//! - `esr`: the ESR export command, the kinds of file, their layout, window and schedules;
//! - `reval`: the revalidation feeds' dates and messages;
//! - `progress`: when long work says how far it is, and what it says;
//! - `preflight`: the checks after a deploy, and the probe each function answers;
//! - `search_domain`: the OpenSearch domain's state and whether a rebuild may start;
//! - `search_index`: the indexes' names, and which of them a rebuild may delete;
//! - `search_access`: what the search domain must let each function do;
//! - `tcs`: the TCS tables and columns the jobs read or write;
//! - `date`: dates in input (one format, one guard, one reading of `scheduledTime`).
//!
//! Nothing here reads a clock it is not given, a database or the network: the library
//! (`shared`) does that and asks this crate what follows.

#[macro_use]
mod vocabulary;

pub mod date;
pub mod esr;
pub mod event;
pub mod function;
pub mod graph;
pub mod job;
pub mod preflight;
pub mod progress;
pub mod reval;
pub mod run;
pub mod search_access;
pub mod search_domain;
pub mod search_index;
pub mod tcs;
pub mod watch;

pub use function::Function;
pub use job::JobName;
pub use run::{RunStatus, Trigger};

/// Input that does not say what it must: the message names what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

pub type Result<T> = std::result::Result<T, InvalidInput>;
