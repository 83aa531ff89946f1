//! The export file: JSON Lines, one record per line, each with a `kind`; the first line names
//! the format and its version. Members are snake_case and take the REST API's shapes (a pool
//! is the body of `POST /v1/identity-pools`), so an operator reading a file reads what the API
//! documents. Unknown members are refused, naming the nearest known one.
//!
//! Order (so the same data always gives the same bytes): the header; OpenID Connect providers
//! by key; SAML providers by name; pools by id; then each pool's identities by id, pools in id order. Inside a record,
//! maps are sorted by key and logins by provider, then subject.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use idbroker_api::pools::{PoolRequest, PrincipalTagsBody, RolesBody};
use idbroker_api::unknown_field;
use idbroker_domain::login::LoginRef;
use idbroker_domain::oidc_provider::OidcProvider;
use idbroker_domain::saml_provider::SamlProvider;
use idbroker_domain::{IdentityId, IdentityPool, IdentityPoolId};
use idbroker_http::rest::contract;
use idbroker_service::SamlReading;
use idbroker_service::transfer::{IdentityRecord, PoolSnapshot};
use serde::{Deserialize, Serialize};

/// The `kind` of the first line.
pub const HEADER_KIND: &str = "idbroker-export";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;
/// Longest line read, in bytes (a pool with every list at its limit fits well within it).
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub provider: String,
    pub subject: String,
}

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Record {
    #[serde(rename = "idbroker-export")]
    Header { version: u32 },
    /// A registered OpenID Connect provider (`/v1/oidc-providers`).
    OidcProvider {
        issuer: String,
        client_ids: Vec<String>,
    },
    /// A registered SAML provider (`/v1/saml-providers`): its name (its ARN's last part, the
    /// id that is kept) and the IdP's metadata as registered.
    SamlProvider {
        name: String,
        metadata: String,
        legacy_sha1: bool,
        /// Absent (and in exports older than it): the NameID is the subject.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject_attribute: Option<String>,
    },
    Pool {
        identity_pool_id: String,
        /// With `identity_pool_tags`; `developer_provider_name` is set once and kept. Boxed:
        /// the largest member by far.
        pool: Box<PoolRequest>,
        roles: RolesBody,
        /// Provider name → its principal-tag map.
        principal_tags: BTreeMap<String, PrincipalTagsBody>,
    },
    Identity {
        identity_id: String,
        identity_pool_id: String,
        /// RFC 3339, milliseconds, UTC.
        created_at: String,
        last_modified_at: String,
        /// Merged into another identity: kept, no longer usable.
        disabled: bool,
        /// Logins of public and OpenID Connect providers and user pools (never tokens).
        logins: Vec<Login>,
        /// The pool's developer provider's user ids linked to this identity.
        developer_user_ids: Vec<String>,
    },
}

impl Record {
    pub fn header() -> Self {
        Self::Header { version: VERSION }
    }

    pub fn provider(provider: &OidcProvider) -> Self {
        Self::OidcProvider {
            issuer: provider.issuer.clone(),
            client_ids: provider.client_ids.clone(),
        }
    }

    pub fn saml_provider(provider: &SamlProvider) -> Self {
        Self::SamlProvider {
            name: provider.name.clone(),
            metadata: provider.metadata.clone(),
            legacy_sha1: provider.legacy_sha1,
            subject_attribute: provider.subject_attribute.clone(),
        }
    }

    pub fn pool(snapshot: &PoolSnapshot) -> Self {
        let mut pool = pool_request(&snapshot.pool);
        pool.identity_pool_tags = Some(snapshot.pool.tags.clone());
        Self::Pool {
            identity_pool_id: snapshot.pool.id.to_string(),
            pool: Box::new(pool),
            roles: contract::roles_body(snapshot.roles.clone()),
            principal_tags: snapshot
                .principal_tag_maps
                .iter()
                .map(|(provider, map)| {
                    (provider.clone(), contract::principal_tags_body(map.clone()))
                })
                .collect(),
        }
    }

    pub fn identity(record: &IdentityRecord) -> Self {
        Self::Identity {
            identity_id: record.id.to_string(),
            identity_pool_id: record.pool_id.to_string(),
            created_at: timestamp(record.created_at),
            last_modified_at: timestamp(record.last_modified_at),
            disabled: record.disabled,
            logins: record
                .logins
                .iter()
                .map(|l| Login {
                    provider: l.provider.clone(),
                    subject: l.subject.clone(),
                })
                .collect(),
            developer_user_ids: record.developer_user_ids.clone(),
        }
    }

    /// One line of JSON, without the newline.
    pub fn to_line(&self) -> anyhow::Result<String> {
        Ok(serde_json::to_string(self)?)
    }

    /// Parses one line; the message says what is wrong without serde's line and column
    /// (always line 1 here: the caller names the file's line).
    pub fn parse(line: &str) -> anyhow::Result<Self> {
        serde_json::from_str(line).map_err(|e| {
            let text = e.to_string();
            let text = text
                .rsplit_once(" at line ")
                .map_or(text.as_str(), |(head, _)| head)
                .to_owned();
            let reason = match unknown_field::parse(&text) {
                Some(unknown) => unknown.message(idbroker_http::echo::field_name),
                None => idbroker_http::echo::field_name(&text),
            };
            anyhow::anyhow!("{reason}")
        })
    }
}

/// A record's contents as the domain's values, checked for shape (the service checks rules).
pub enum Item {
    Header(u32),
    Provider {
        issuer: String,
        client_ids: Vec<String>,
    },
    SamlProvider {
        name: String,
        metadata: String,
        reading: SamlReading,
    },
    Pool(Box<PoolSnapshot>),
    Identity(IdentityRecord),
}

impl TryFrom<Record> for Item {
    type Error = anyhow::Error;

    fn try_from(record: Record) -> anyhow::Result<Self> {
        Ok(match record {
            Record::Header { version } => Self::Header(version),
            Record::OidcProvider { issuer, client_ids } => Self::Provider { issuer, client_ids },
            Record::SamlProvider {
                name,
                metadata,
                legacy_sha1,
                subject_attribute,
            } => Self::SamlProvider {
                name,
                metadata,
                reading: SamlReading {
                    legacy_sha1,
                    subject_attribute,
                },
            },
            Record::Pool {
                identity_pool_id,
                pool,
                roles,
                principal_tags,
            } => {
                let id = IdentityPoolId::parse("identity_pool_id", &identity_pool_id)?;
                // Files written before lifetimes or exchange audiences existed have none:
                // unset, the defaults.
                let (config, tags, extensions) = contract::pool_config(*pool);
                Self::Pool(Box::new(PoolSnapshot {
                    pool: IdentityPool {
                        id,
                        config,
                        tags: tags.unwrap_or_default(),
                        lifetimes: extensions.lifetimes,
                        exchange_audiences: extensions.exchange_audiences,
                    },
                    roles: contract::pool_roles(roles),
                    principal_tag_maps: principal_tags
                        .into_iter()
                        .map(|(provider, body)| (provider, contract::principal_tag_map(body)))
                        .collect(),
                }))
            }
            Record::Identity {
                identity_id,
                identity_pool_id,
                created_at,
                last_modified_at,
                disabled,
                logins,
                developer_user_ids,
            } => Self::Identity(IdentityRecord {
                id: IdentityId::parse("identity_id", &identity_id)?,
                pool_id: IdentityPoolId::parse("identity_pool_id", &identity_pool_id)?,
                created_at: parse_timestamp("created_at", &created_at)?,
                last_modified_at: parse_timestamp("last_modified_at", &last_modified_at)?,
                disabled,
                logins: logins
                    .into_iter()
                    .map(|l| LoginRef {
                        provider: l.provider,
                        subject: l.subject,
                    })
                    .collect(),
                developer_user_ids,
            }),
        })
    }
}

fn pool_request(pool: &IdentityPool) -> PoolRequest {
    let response = contract::pool_response(pool.clone());
    PoolRequest {
        identity_pool_name: response.identity_pool_name,
        allow_unauthenticated_identities: response.allow_unauthenticated_identities,
        allow_classic_flow: response.allow_classic_flow,
        supported_login_providers: response.supported_login_providers,
        developer_provider_name: response.developer_provider_name,
        open_id_connect_provider_arns: response.open_id_connect_provider_arns,
        cognito_identity_providers: response.cognito_identity_providers,
        saml_provider_arns: response.saml_provider_arns,
        identity_pool_tags: None,
        credential_duration_seconds: response.credential_duration_seconds,
        token_lifetime_seconds: response.token_lifetime_seconds,
        max_token_lifetime_seconds: response.max_token_lifetime_seconds,
        credential_reuse_seconds: response.credential_reuse_seconds,
        exchange_audiences: response.exchange_audiences,
    }
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_timestamp(field: &str, text: &str) -> anyhow::Result<DateTime<Utc>> {
    let at = DateTime::parse_from_rfc3339(text)
        .with_context(|| format!("{field} is not an RFC 3339 time"))?
        .with_timezone(&Utc);
    // Stored in milliseconds: finer precision would not come back out the same.
    if at.timestamp_subsec_nanos() % 1_000_000 != 0 {
        bail!("{field} has more precision than milliseconds");
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_the_documented_line() {
        assert_eq!(
            Record::header().to_line().unwrap(),
            r#"{"kind":"idbroker-export","version":1}"#
        );
    }

    #[test]
    fn unknown_members_and_kinds_are_refused_by_name() {
        let err = Record::parse(r#"{"kind":"oidc_provider","issuer":"https://a","client_id":[]}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("client_id") && err.contains("client_ids"),
            "{err}"
        );
        let err = Record::parse(r#"{"kind":"user","name":"x"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant"), "{err}");
        let err = Record::parse(
            r#"{"kind":"pool","identity_pool_id":"us-east-1:1","pool":{"identity_pool_name":"p","allow_unauthenticated_identities":true,"colour":"red"},"roles":{},"principal_tags":{}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn timestamps_finer_than_milliseconds_are_refused() {
        assert!(parse_timestamp("created_at", "2026-01-01T00:00:00.123Z").is_ok());
        assert!(parse_timestamp("created_at", "2026-01-01T00:00:00.1234Z").is_err());
        assert!(parse_timestamp("created_at", "yesterday").is_err());
    }
}
