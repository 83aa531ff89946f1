//! The 23 operations of the Cognito Identity API, parsed from `X-Amz-Target`.

use super::error::AwsError;

const TARGET_PREFIX: &str = "AWSCognitoIdentityService.";

macro_rules! operations {
    ($($op:ident),* $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Operation { $($op),* }

        impl Operation {
            pub const ALL: &'static [Operation] = &[$(Operation::$op),*];

            pub fn name(self) -> &'static str {
                match self { $(Operation::$op => stringify!($op)),* }
            }

            fn from_name(name: &str) -> Option<Self> {
                match name { $(stringify!($op) => Some(Operation::$op),)* _ => None }
            }
        }
    };
}

operations!(
    CreateIdentityPool,
    DeleteIdentities,
    DeleteIdentityPool,
    DescribeIdentity,
    DescribeIdentityPool,
    GetCredentialsForIdentity,
    GetId,
    GetIdentityPoolRoles,
    GetOpenIdToken,
    GetOpenIdTokenForDeveloperIdentity,
    GetPrincipalTagAttributeMap,
    ListIdentities,
    ListIdentityPools,
    ListTagsForResource,
    LookupDeveloperIdentity,
    MergeDeveloperIdentities,
    SetIdentityPoolRoles,
    SetPrincipalTagAttributeMap,
    TagResource,
    UnlinkDeveloperIdentity,
    UnlinkIdentity,
    UntagResource,
    UpdateIdentityPool,
);

impl Operation {
    /// Parses the `X-Amz-Target` header value.
    pub fn from_target(target: Option<&str>) -> Result<Self, AwsError> {
        let target = target.ok_or_else(|| {
            AwsError::new(
                "UnknownOperationException",
                "Missing X-Amz-Target header: expected AWSCognitoIdentityService.<Operation>",
            )
        })?;
        target
            .strip_prefix(TARGET_PREFIX)
            .and_then(Self::from_name)
            .ok_or_else(|| {
                AwsError::new(
                    "UnknownOperationException",
                    format!(
                        "Unknown operation '{}'",
                        target.chars().take(128).collect::<String>()
                    ),
                )
            })
    }

    /// The operations the model marks `noAuth`; all others need a SigV4 signature.
    pub fn is_public(self) -> bool {
        matches!(
            self,
            Self::GetId
                | Self::GetOpenIdToken
                | Self::GetCredentialsForIdentity
                | Self::UnlinkIdentity
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_23_operations_round_trip_through_their_target() {
        assert_eq!(Operation::ALL.len(), 23);
        for op in Operation::ALL {
            let target = format!("{TARGET_PREFIX}{}", op.name());
            assert_eq!(Operation::from_target(Some(&target)).unwrap(), *op);
        }
    }

    #[test]
    fn four_operations_are_public() {
        let public: Vec<_> = Operation::ALL.iter().filter(|op| op.is_public()).collect();
        assert_eq!(public.len(), 4);
    }

    #[test]
    fn unknown_or_missing_targets_are_unknown_operations() {
        for target in [
            None,
            Some("AWSCognitoIdentityService.DropTables"),
            Some("GetId"),
            Some("Other.GetId"),
        ] {
            assert_eq!(
                Operation::from_target(target).unwrap_err().kind,
                "UnknownOperationException"
            );
        }
    }
}
