//! Secrets in Secrets Manager: each function's own database secret, in the RDS format, and the
//! reading every secret of the project goes through.

use serde::Deserialize;

use crate::error::{Cause, Error, Result};

#[derive(Deserialize)]
struct RdsSecret {
    host: String,
    port: Option<u16>,
    username: String,
    password: String,
    dbname: Option<String>,
}

/// A Secrets Manager secret with the database credentials, read at init and again when the
/// database refuses its password (the secret was rotated while the function stayed warm).
#[derive(Clone)]
pub struct DatabaseSecret {
    client: aws_sdk_secretsmanager::Client,
    /// Its name or ARN.
    id: String,
}

impl DatabaseSecret {
    pub fn new(client: aws_sdk_secretsmanager::Client, id: String) -> Self {
        DatabaseSecret { client, id }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The connection settings the secret holds now. TLS is required.
    pub async fn read(&self) -> Result<tokio_postgres::Config> {
        let secret_error = |reason: Cause| Error::Secret { secret: self.id.clone(), reason };
        let text = read_string(&self.client, &self.id).await?;
        let secret: RdsSecret = serde_json::from_str(&text)
            .map_err(|e| secret_error(format!("not an RDS credentials secret: {e}").into()))?;
        let mut config = tokio_postgres::Config::new();
        config
            .host(&secret.host)
            .port(secret.port.unwrap_or(5432))
            .user(&secret.username)
            .password(secret.password)
            .dbname(secret.dbname.as_deref().unwrap_or("tcs"))
            .ssl_mode(tokio_postgres::config::SslMode::Require);
        Ok(config)
    }
}

/// The string value secret `id` holds now; an error names the secret, never its value.
pub async fn read_string(client: &aws_sdk_secretsmanager::Client, id: &str) -> Result<String> {
    let secret_error = |reason: Cause| Error::Secret { secret: id.to_string(), reason };
    let value = client.get_secret_value().secret_id(id).send().await.map_err(|e| secret_error(Cause::aws(e)))?;
    value.secret_string().map(String::from).ok_or_else(|| secret_error("the secret has no string value".into()))
}
