//! Publishing to a RabbitMQ broker over AMQP 0-9-1: where TIS's revalidation feeds go (TIS runs
//! RabbitMQ on Amazon MQ, and TCS reads the feed there; docs/revalidation-feeds.md).
//!
//! - TLS only (`amqps://`), verified against the platform's roots (Amazon MQ's certificates are
//!   publicly trusted) plus, for a local broker, `REVAL_BROKER_CA_FILE`.
//! - The login from Secrets Manager (`{"username": …, "password": …}`), read at every connect,
//!   so a rotated password is picked up by the next run; locally it may be in the URL.
//! - Publisher confirms, and every message `mandatory`: a message counts as sent only when the
//!   broker acknowledged it *and* routed it to a queue. A message the broker returns (no queue
//!   bound for its routing key) or refuses fails the send, naming the exchange and key.
//! - Messages are what Spring AMQP's Jackson converter reads (TCS's listener): `content_type`
//!   `application/json`, UTF-8, persistent.

use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::tcp::OwnedTLSConfig;
use lapin::uri::{AMQPScheme, AMQPUri, AMQPUserInfo};
use lapin::Confirmation;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde::Deserialize;

use crate::error::{Cause, Error, Result};

/// A connect that neither succeeds nor fails (a security group dropping packets) gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a batch waits for the broker's confirms.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(60);

/// Where and how to publish; built at init, connected once per run.
#[derive(Clone)]
pub struct Broker {
    uri: AMQPUri,
    login: Option<BrokerSecret>,
    ca_pem: Option<String>,
    exchange: String,
    routing_key: String,
}

/// The broker's login in Secrets Manager.
#[derive(Clone)]
pub struct BrokerSecret {
    pub client: aws_sdk_secretsmanager::Client,
    /// Its name or ARN.
    pub id: String,
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

impl Broker {
    /// `url` is `amqps://host:port/vhost`, with the login in it only when `login` is `None`.
    pub fn new(
        url: &str,
        login: Option<BrokerSecret>,
        ca_file: Option<&str>,
        exchange: String,
        routing_key: String,
    ) -> Result<Self> {
        let uri: AMQPUri =
            url.parse().map_err(|e| Error::Config(format!("REVAL_BROKER_URL is not an AMQP URI: {e}")))?;
        if uri.scheme != AMQPScheme::AMQPS {
            return Err(Error::Config(
                "REVAL_BROKER_URL must be amqps:// (the broker is reached over TLS only)".into(),
            ));
        }
        if login.is_some() && url.contains('@') {
            return Err(Error::Config(
                "REVAL_BROKER_URL holds a login and REVAL_BROKER_SECRET names one: keep the login in the secret".into(),
            ));
        }
        let ca_pem = ca_file
            .map(|path| {
                std::fs::read_to_string(path).map_err(|e| Error::Config(format!("REVAL_BROKER_CA_FILE {path}: {e}")))
            })
            .transpose()?;
        Ok(Broker { uri, login, ca_pem, exchange, routing_key })
    }

    /// `host:port/vhost`, for messages (never the login).
    pub fn describe(&self) -> String {
        let vhost = if self.uri.vhost.is_empty() { "/" } else { &self.uri.vhost };
        format!("{}:{} vhost {vhost}", self.uri.authority.host, self.uri.authority.port)
    }

    fn error(&self, reason: impl Into<Cause>) -> Error {
        Error::Broker { broker: self.describe(), exchange: self.exchange.clone(), reason: reason.into() }
    }

    /// A connection and a channel in confirm mode.
    pub async fn connect(&self) -> Result<Publisher<'_>> {
        let mut uri = self.uri.clone();
        if let Some(secret) = &self.login {
            let login = read_login(secret).await?;
            uri.authority.userinfo = AMQPUserInfo { username: login.username, password: login.password };
        }
        let tls = OwnedTLSConfig { identity: None, cert_chain: self.ca_pem.clone() };
        let runtime = lapin::runtime::default_runtime().map_err(|e| self.error(Cause::of(e)))?;
        let connect = Connection::connect_uri_with_config(uri, ConnectionProperties::default(), tls, runtime);
        let connection = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| self.error(format!("no connection within {} s", CONNECT_TIMEOUT.as_secs())))?
            .map_err(|e| self.error(Cause::of(e)))?;
        let channel = connection.create_channel().await.map_err(|e| self.error(Cause::of(e)))?;
        channel.confirm_select(ConfirmSelectOptions::default()).await.map_err(|e| self.error(Cause::of(e)))?;
        Ok(Publisher { broker: self, connection, channel })
    }
}

async fn read_login(secret: &BrokerSecret) -> Result<Login> {
    let text = crate::secret::read_string(&secret.client, &secret.id).await?;
    // Serde's message could quote a value of the secret: say only what was expected.
    serde_json::from_str(&text).map_err(|_| Error::Secret {
        secret: secret.id.clone(),
        reason: "not a broker login: expected {\"username\": …, \"password\": …}".into(),
    })
}

/// One run's connection.
pub struct Publisher<'a> {
    broker: &'a Broker,
    connection: Connection,
    channel: lapin::Channel,
}

impl Publisher<'_> {
    /// Publishes `bodies` (JSON) and waits for the broker's confirms; `Ok` once the broker took
    /// every one and routed it to a queue.
    pub async fn publish(&self, bodies: &[String]) -> Result<()> {
        let broker = self.broker;
        let properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_content_encoding("UTF-8".into())
            .with_delivery_mode(2);
        let options = BasicPublishOptions { mandatory: true, ..BasicPublishOptions::default() };
        let mut confirms = Vec::with_capacity(bodies.len());
        for body in bodies {
            let confirm = self
                .channel
                .basic_publish(
                    broker.exchange.as_str().into(),
                    broker.routing_key.as_str().into(),
                    options,
                    body.as_bytes(),
                    properties.clone(),
                )
                .await
                .map_err(|e| broker.error(Cause::of(e)))?;
            confirms.push(confirm);
        }
        let all = async {
            for confirm in confirms {
                match confirm.await.map_err(|e| broker.error(Cause::of(e)))? {
                    Confirmation::Ack(None) => {}
                    Confirmation::Ack(Some(returned)) | Confirmation::Nack(Some(returned)) => {
                        return Err(broker.error(format!(
                            "the broker returned a message ({} {}): no queue is bound to exchange {} for routing key {}",
                            returned.reply_code, returned.reply_text, broker.exchange, broker.routing_key
                        )));
                    }
                    Confirmation::Nack(None) => return Err(broker.error("the broker refused a message (nack)")),
                    Confirmation::NotRequested => {
                        return Err(Error::Invariant("publisher confirms were not enabled on the channel".into()))
                    }
                }
            }
            Ok(())
        };
        tokio::time::timeout(CONFIRM_TIMEOUT, all)
            .await
            .map_err(|_| broker.error(format!("no confirms within {} s", CONFIRM_TIMEOUT.as_secs())))?
    }

    /// Closes the connection; everything published was confirmed already.
    pub async fn close(self) {
        if let Err(e) = self.connection.close(200, "done".into()).await {
            tracing::warn!(broker = %self.broker.describe(), error = %e, "closing the broker connection");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker(url: &str) -> Result<Broker> {
        Broker::new(url, None, None, "reval.exchange".into(), "reval.trainee.update".into())
    }

    #[test]
    fn only_a_tls_endpoint_is_taken_and_its_description_carries_no_login() {
        let error = broker("amqp://guest:guest@localhost:5672/%2f").err().unwrap().to_string();
        assert!(error.contains("must be amqps://"), "{error}");
        let error = broker("not a uri").err().unwrap().to_string();
        assert!(error.contains("REVAL_BROKER_URL is not an AMQP URI"), "{error}");
        let described = broker("amqps://user:secret@b-1.mq.eu-west-2.amazonaws.com:5671/%2f").unwrap().describe();
        assert_eq!(described, "b-1.mq.eu-west-2.amazonaws.com:5671 vhost /");
    }
}
