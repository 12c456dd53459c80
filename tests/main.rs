//! Every integration test, one module per area, in one binary (one link of the AWS SDKs and
//! opensearch, not one per area). They run against the real local stack that `make test`
//! starts: Postgres, ministack with template.yaml deployed, cargo lambda watch, osmem-server.

mod access_matrix;
mod architecture;
mod bench;
mod cli;
mod cloud;
mod custom_resource;
mod database_roles;
mod database_tls;
mod esr;
mod events;
mod function;
mod graph;
mod migrations;
mod operations;
mod person_owner;
mod posts_index;
mod preflight;
mod real_test_data;
mod reval_feeds;
mod runner;
mod search;
mod search_domain;
mod status_jobs;
mod template;
mod trusts;
