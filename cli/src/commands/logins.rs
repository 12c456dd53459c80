//! `tis-sync logins`: each function's own database login, written to its secret.

use serde_json::json;
use shared::{logins, Error};

use super::{Here, Outcome, Output};

#[derive(clap::Args)]
pub struct Logins {
    /// The template's DatabaseSecretPrefix, e.g. tis-sync/prod/database/.
    #[arg(long)]
    secret_prefix: String,
    /// Tells these logins from another environment's in the same Postgres cluster
    /// (roles are cluster-wide): the login of esr-intake is tis_sync_esr_intake_<environment>.
    #[arg(long)]
    environment: String,
    /// The host the functions connect to, when it is not the one DATABASE_URL names (for
    /// example when this runs through a tunnel).
    #[arg(long)]
    secret_host: Option<String>,
    #[arg(long)]
    secret_port: Option<u16>,
}

impl Logins {
    pub async fn execute(self) -> Outcome {
        let mut here = Here::connect().await?;
        let config = here.runner.runner().database().config();
        let endpoint = logins::Endpoint {
            host: self.secret_host.unwrap_or_else(|| first_host(&config)),
            port: self.secret_port.or_else(|| config.get_ports().first().copied()).unwrap_or(5432),
            dbname: config.get_dbname().unwrap_or("postgres").to_string(),
        };
        // sync-migrate applies the migrations as the owner this runs as.
        let owner = logins::Owner {
            username: config.get_user().unwrap_or_default().to_string(),
            password: config.get_password().map(|p| String::from_utf8_lossy(p).into_owned()).ok_or_else(|| {
                Error::Config("DATABASE_URL has no password: sync-migrate's secret needs the owner's".into())
            })?,
        };
        let aws = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
        let secrets = aws_sdk_secretsmanager::Client::new(&aws);
        let issued = logins::issue_all(
            &mut here.session.client,
            &secrets,
            &self.secret_prefix,
            &self.environment,
            &endpoint,
            owner,
        )
        .await?;
        for login in &issued {
            eprintln!("{}: login {} in secret {}", login.function, login.login, login.secret);
        }
        Ok(Output::Json(json!({ "logins": issued })))
    }
}

/// The first TCP host of a connection config (the one the CLI connected to).
fn first_host(config: &tokio_postgres::Config) -> String {
    config
        .get_hosts()
        .iter()
        .find_map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => Some(name.clone()),
            #[allow(unreachable_patterns)]
            _ => None,
        })
        .unwrap_or_else(|| "localhost".into())
}
