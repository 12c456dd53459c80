//! Each function's database login: a role that can log in and is a member of the function's
//! role (which the migrations create, holding exactly its grants), and the login's credentials
//! in the function's secret, where the function reads them at init.
//!
//! The password is set as a SCRAM verifier computed here, so the password itself never reaches
//! the server (nor its statement log), as psql's `\password` does.

use serde::Serialize;
use tokio_postgres::GenericClient;

use crate::error::{Cause, Error, Result};
use sync_core::Function;

/// Where the functions reach the database: written into every secret beside the login.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub dbname: String,
}

/// A login just made or renewed.
pub struct Login {
    pub function: Function,
    pub username: String,
    pub password: String,
}

/// The login that owns the project's schemas: what sync-migrate applies the migrations as.
pub struct Owner {
    pub username: String,
    pub password: String,
}

/// What `tis-sync logins` reports: never the password.
#[derive(Debug, Serialize)]
pub struct Issued {
    pub function: String,
    pub login: String,
    pub secret: String,
}

/// The login's name: the function's role and the environment, so that several environments
/// (or the local demo and tests) can share one Postgres cluster, whose roles are cluster-wide.
pub fn login_name(function: Function, environment: &str) -> Result<String> {
    let role = own_role(function)?;
    let valid = !environment.is_empty()
        && environment.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !valid {
        return Err(Error::InvalidInput(format!(
            "environment '{environment}': use lower-case letters, digits and underscores (e.g. prod, stage)"
        )));
    }
    let name = format!("{role}_{environment}");
    if name.len() > 63 {
        return Err(Error::InvalidInput(format!(
            "environment '{environment}' is too long: the login {name} exceeds Postgres's 63 characters"
        )));
    }
    Ok(name)
}

fn own_role(function: Function) -> Result<String> {
    function.database_role().ok_or_else(|| {
        Error::Invariant(format!("{function} has no role of its own: it reaches the database as the owner"))
    })
}

/// Creates the function's login (or renews its password) as a member of its role. Run it in a
/// transaction with storing the secret, so a failed store leaves the old password in force.
pub async fn grant(client: &impl GenericClient, function: Function, environment: &str) -> Result<Login> {
    let db = |e| Error::database(format!("the database login of {function}"), e);
    let (role, username) = (own_role(function)?, login_name(function, environment)?);
    let role_exists = client.query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role]).await.map_err(db)?;
    if role_exists.is_none() {
        return Err(Error::Config(format!("the role {role} does not exist: run `tis-sync migrate` first")));
    }
    let exists = client.query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&username]).await.map_err(db)?;
    // Both names were checked above: role names are constants and the login is [a-z0-9_].
    let create = if exists.is_some() { "ALTER" } else { "CREATE" };
    let password = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
    client
        .batch_execute(&format!(
            "{create} ROLE \"{username}\" LOGIN INHERIT PASSWORD '{verifier}';
             GRANT \"{role}\" TO \"{username}\";"
        ))
        .await
        .map_err(db)?;
    Ok(Login { function, username, password })
}

/// Writes the login into the function's secret (creating the secret when it is missing), in
/// the RDS format the functions and Secrets Manager's rotation read.
pub async fn store(
    secrets: &aws_sdk_secretsmanager::Client,
    secret_prefix: &str,
    endpoint: &Endpoint,
    login: &Login,
) -> Result<Issued> {
    let name = login.function.secret_name(secret_prefix);
    let value = serde_json::json!({
        "engine": "postgres",
        "host": endpoint.host,
        "port": endpoint.port,
        "dbname": endpoint.dbname,
        "username": login.username,
        "password": login.password,
    })
    .to_string();
    let failed = |reason: Cause| Error::Secret { secret: name.clone(), reason };
    let created = secrets.create_secret().name(&name).secret_string(&value).send().await;
    if let Err(error) = created {
        let exists = error.as_service_error().is_some_and(|e| e.is_resource_exists_exception());
        if !exists {
            return Err(failed(Cause::aws(error)));
        }
        secrets
            .put_secret_value()
            .secret_id(&name)
            .secret_string(&value)
            .send()
            .await
            .map_err(|e| failed(Cause::aws(e)))?;
    }
    Ok(Issued { function: login.function.name().into(), login: login.username.clone(), secret: name })
}

/// Every function's login, each renewed and stored in its own transaction; sync-migrate's
/// secret gets `owner`, the login this runs as (the owner of the project's schemas, whose
/// password it does not change).
pub async fn issue_all(
    client: &mut tokio_postgres::Client,
    secrets: &aws_sdk_secretsmanager::Client,
    secret_prefix: &str,
    environment: &str,
    endpoint: &Endpoint,
    owner: Owner,
) -> Result<Vec<Issued>> {
    let owner = Login { function: Function::SyncMigrate, username: owner.username, password: owner.password };
    let mut issued = vec![store(secrets, secret_prefix, endpoint, &owner).await?];
    for function in Function::all().filter(|f| f.database_role().is_some()) {
        let db = |e| Error::database(format!("the database login of {function}"), e);
        let tx = client.transaction().await.map_err(db)?;
        let login = grant(&tx, function, environment).await?;
        issued.push(store(secrets, secret_prefix, endpoint, &login).await?);
        tx.commit().await.map_err(db)?;
    }
    Ok(issued)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_core::JobName;

    #[test]
    fn login_names_carry_the_role_and_the_environment() {
        assert_eq!(login_name(Function::EsrIntake, "prod").unwrap(), "tis_sync_esr_intake_prod");
        let longest = Function::Job(JobName::PersonPlacementEmployingBodyTrust);
        assert!(login_name(longest, "stage_two").is_ok());
        let error = login_name(longest, "a_very_long_environment").unwrap_err().to_string();
        assert!(error.contains("63"), "{error}");
        for bad in ["", "Prod", "pro-d", "p'; drop"] {
            assert!(login_name(Function::EsrIntake, bad).is_err(), "{bad}");
        }
    }
}
