//! Identifiers: regions, account ids, identity-pool and identity ids, and pool ARNs.
//!
//! Pool and identity ids are `<region>:<uuid>` when we mint them. When a client sends one we
//! check only the model's pattern (`[\w-]+:[0-9a-f-]+`, 1–55 characters): a well-formed id that
//! names nothing is a ResourceNotFoundException, not a validation error.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::validation::{Validated, ValidationError, check_len, is_word};

/// An AWS region name such as `us-east-1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Region(String);

impl Region {
    pub fn parse(value: &str) -> Validated<Self> {
        let ok = !value.is_empty()
            && value.len() <= 32
            && value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !value.starts_with('-')
            && !value.ends_with('-');
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValidationError::message(format!(
                "'{value}' is not a region name like us-east-1"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(value: &str) -> Validated<Self> {
        if value.len() == 12 && value.chars().all(|c| c.is_ascii_digit()) {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValidationError::message(format!(
                "'{value}' is not a 12-digit AWS account id"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks the model's pattern for pool and identity ids: `[\w-]+:[0-9a-f-]+`, 1–55 chars.
fn check_region_uuid_pattern(field: &str, value: &str) -> Validated {
    check_len(field, value, 1, 55)?;
    let well_formed = value.split_once(':').is_some_and(|(region, id)| {
        !region.is_empty()
            && region.chars().all(|c| is_word(c) || c == '-')
            && !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c) || c == '-')
    });
    if well_formed {
        Ok(())
    } else {
        Err(ValidationError::constraint(
            field,
            value,
            "Member must satisfy regular expression pattern: [\\w-]+:[0-9a-f-]+",
        ))
    }
}

macro_rules! region_scoped_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A fresh id in `region`; `uuid` comes from the caller so this stays pure.
            pub fn new(region: &Region, uuid: Uuid) -> Self {
                Self(format!("{}:{}", region.as_str(), uuid.hyphenated()))
            }

            /// Parses a client-supplied id, checking only the model's pattern.
            pub fn parse(field: &str, value: &str) -> Validated<Self> {
                check_region_uuid_pattern(field, value)?;
                Ok(Self(value.to_owned()))
            }

            /// Wraps an id read back from our own store.
            pub fn from_trusted(value: String) -> Self {
                Self(value)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The region part (before the colon).
            pub fn region(&self) -> &str {
                self.0.split_once(':').map_or("", |(region, _)| region)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

region_scoped_id!(
    /// `IdentityPoolId`: `<region>:<uuid>`.
    IdentityPoolId
);
region_scoped_id!(
    /// `IdentityId`: `<pool region>:<uuid>`.
    IdentityId
);

impl IdentityId {
    /// A fresh identity id of `pool`: in the pool's region (as Cognito makes them), which is
    /// not this idbroker's own for a pool imported or copied from another region.
    pub fn in_pool(pool: &IdentityPoolId, uuid: Uuid) -> Self {
        Self(format!("{}:{}", pool.region(), uuid.hyphenated()))
    }
}

/// `arn:aws:cognito-identity:<region>:<account>:identitypool/<IdentityPoolId>`, the resource
/// name used by the tagging operations and, later, by the token's pool-ARN claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolArn {
    pub partition: String,
    pub region: String,
    pub account: String,
    pub pool_id: IdentityPoolId,
}

impl PoolArn {
    pub fn new(region: &Region, account: &AccountId, pool_id: &IdentityPoolId) -> Self {
        Self {
            partition: "aws".to_owned(),
            region: region.as_str().to_owned(),
            account: account.as_str().to_owned(),
            pool_id: pool_id.clone(),
        }
    }

    /// Parses a `ResourceArn` member (20–2048 characters) naming an identity pool.
    pub fn parse(field: &str, value: &str) -> Validated<Self> {
        check_len(field, value, 20, 2048)?;
        let bad = || {
            ValidationError::message(format!(
                "Invalid ResourceArn '{value}': expected arn:aws:cognito-identity:<region>:<account>:identitypool/<IdentityPoolId>"
            ))
        };
        let mut parts = value.splitn(6, ':');
        let (
            Some("arn"),
            Some(partition),
            Some("cognito-identity"),
            Some(region),
            Some(account),
            Some(rest),
        ) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        )
        else {
            return Err(bad());
        };
        let pool = rest.strip_prefix("identitypool/").ok_or_else(bad)?;
        let pool_id = IdentityPoolId::parse(field, pool).map_err(|_| bad())?;
        Ok(Self {
            partition: partition.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            pool_id,
        })
    }

    /// Whether this ARN lives in our partition, region and account.
    pub fn is_ours(&self, region: &Region, account: &AccountId) -> bool {
        self.partition == "aws"
            && self.region == region.as_str()
            && self.account == account.as_str()
    }
}

impl fmt::Display for PoolArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:cognito-identity:{}:{}:identitypool/{}",
            self.partition, self.region, self.account, self.pool_id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region() -> Region {
        Region::parse("eu-west-1").unwrap()
    }

    #[test]
    fn a_new_pool_id_is_region_colon_uuid_and_parses_back() {
        let id = IdentityPoolId::new(&region(), Uuid::nil());
        assert_eq!(
            id.as_str(),
            "eu-west-1:00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(
            IdentityPoolId::parse("identityPoolId", id.as_str()).unwrap(),
            id
        );
    }

    #[test]
    fn ids_outside_the_model_pattern_are_rejected() {
        for bad in [
            "",
            "nocolon",
            "us-east-1:XYZ",
            ":abc",
            "us east:abc",
            &format!("us-east-1:{}", "a".repeat(60)),
        ] {
            assert!(
                IdentityId::parse("identityId", bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn a_well_formed_id_that_is_not_a_uuid_still_parses() {
        assert!(IdentityId::parse("identityId", "us-east-1:abc-123").is_ok());
    }

    #[test]
    fn pool_arns_round_trip_and_know_their_owner() {
        let account = AccountId::parse("123456789012").unwrap();
        let pool = IdentityPoolId::new(&region(), Uuid::nil());
        let arn = PoolArn::new(&region(), &account, &pool);
        let parsed = PoolArn::parse("resourceArn", &arn.to_string()).unwrap();
        assert_eq!(parsed, arn);
        assert!(parsed.is_ours(&region(), &account));
        assert!(!parsed.is_ours(&Region::parse("us-east-1").unwrap(), &account));
    }

    #[test]
    fn arns_of_other_services_are_rejected() {
        assert!(PoolArn::parse("resourceArn", "arn:aws:iam::123456789012:role/foo").is_err());
        assert!(
            PoolArn::parse(
                "resourceArn",
                "arn:aws:cognito-identity:us-east-1:1:userpool/x"
            )
            .is_err()
        );
    }

    #[test]
    fn account_ids_have_twelve_digits() {
        assert!(AccountId::parse("000000000000").is_ok());
        assert!(AccountId::parse("12345").is_err());
        assert!(AccountId::parse("12345678901a").is_err());
    }

    #[test]
    fn regions_are_lowercase_words_with_hyphens() {
        assert!(Region::parse("us-east-1").is_ok());
        assert!(Region::parse("US_EAST").is_err());
        assert!(Region::parse("").is_err());
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn ids_parse_or_fail_with_a_bounded_message(raw in prop_oneof![".{0,120}", "[a-z0-9-]{1,20}:[0-9a-f-]{1,40}"]) {
                for result in [
                    IdentityPoolId::parse("identityPoolId", &raw).map(|id| id.to_string()),
                    IdentityId::parse("identityId", &raw).map(|id| id.to_string()),
                ] {
                    match result {
                        Ok(id) => prop_assert!(id == raw && id.chars().count() <= 55),
                        Err(err) => prop_assert!(err.0.chars().count() < 300, "{err}"),
                    }
                }
            }
        }
    }
}
