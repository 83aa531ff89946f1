//! Between the REST contract (`idbroker_api`, snake_case) and the domain's types (Cognito's
//! PascalCase shapes, shared with the AWS face and the store). Public because the bootstrap
//! file takes the same pool shape as the REST body.

use idbroker_api::pools as api;
use idbroker_domain::roles::{
    AmbiguousRoleResolution, MappingRule, MatchType, RoleMappingType, RulesConfiguration,
};
use idbroker_domain::{
    CognitoIdentityProvider, IdentityPool, PoolConfig, PoolExtensions, PoolLifetimes, PoolRoles,
    PrincipalTagMap, RoleMapping, Tags,
};

/// A pool request as the domain's configuration, the tags it names (None: keep them) and
/// idbroker's extensions (lifetimes, exchange audiences, sorted).
pub fn pool_config(request: api::PoolRequest) -> (PoolConfig, Option<Tags>, PoolExtensions) {
    let lifetimes = PoolLifetimes {
        credential_duration_seconds: request.credential_duration_seconds,
        token_lifetime_seconds: request.token_lifetime_seconds,
        max_token_lifetime_seconds: request.max_token_lifetime_seconds,
        credential_reuse_seconds: request.credential_reuse_seconds,
    };
    let mut exchange_audiences = request.exchange_audiences;
    exchange_audiences.sort();
    let extensions = PoolExtensions {
        lifetimes,
        exchange_audiences,
    };
    let config = PoolConfig {
        identity_pool_name: request.identity_pool_name,
        allow_unauthenticated_identities: request.allow_unauthenticated_identities,
        allow_classic_flow: request.allow_classic_flow,
        supported_login_providers: request.supported_login_providers,
        developer_provider_name: request.developer_provider_name,
        open_id_connect_provider_arns: request.open_id_connect_provider_arns,
        cognito_identity_providers: request
            .cognito_identity_providers
            .into_iter()
            .map(|p| CognitoIdentityProvider {
                provider_name: p.provider_name,
                client_id: p.client_id,
                server_side_token_check: p.server_side_token_check,
            })
            .collect(),
        saml_provider_arns: request.saml_provider_arns,
    };
    (config, request.identity_pool_tags, extensions)
}

pub fn pool_response(pool: IdentityPool) -> api::PoolResponse {
    let c = pool.config;
    api::PoolResponse {
        identity_pool_id: pool.id.to_string(),
        identity_pool_name: c.identity_pool_name,
        allow_unauthenticated_identities: c.allow_unauthenticated_identities,
        allow_classic_flow: c.allow_classic_flow,
        supported_login_providers: c.supported_login_providers,
        developer_provider_name: c.developer_provider_name,
        open_id_connect_provider_arns: c.open_id_connect_provider_arns,
        cognito_identity_providers: c
            .cognito_identity_providers
            .into_iter()
            .map(|p| api::CognitoProvider {
                provider_name: p.provider_name,
                client_id: p.client_id,
                server_side_token_check: p.server_side_token_check,
            })
            .collect(),
        saml_provider_arns: c.saml_provider_arns,
        identity_pool_tags: pool.tags,
        credential_duration_seconds: pool.lifetimes.credential_duration_seconds,
        token_lifetime_seconds: pool.lifetimes.token_lifetime_seconds,
        max_token_lifetime_seconds: pool.lifetimes.max_token_lifetime_seconds,
        credential_reuse_seconds: pool.lifetimes.credential_reuse_seconds,
        exchange_audiences: pool.exchange_audiences,
    }
}

pub fn pool_roles(body: api::RolesBody) -> PoolRoles {
    PoolRoles {
        roles: body.roles,
        role_mappings: body
            .role_mappings
            .into_iter()
            .map(|(provider, m)| (provider, role_mapping(m)))
            .collect(),
    }
}

fn role_mapping(m: api::RoleMapping) -> RoleMapping {
    RoleMapping {
        mapping_type: match m.mapping_type {
            api::RoleMappingType::Token => RoleMappingType::Token,
            api::RoleMappingType::Rules => RoleMappingType::Rules,
        },
        ambiguous_role_resolution: m.ambiguous_role_resolution.map(|a| match a {
            api::AmbiguousRoleResolution::AuthenticatedRole => {
                AmbiguousRoleResolution::AuthenticatedRole
            }
            api::AmbiguousRoleResolution::Deny => AmbiguousRoleResolution::Deny,
        }),
        rules_configuration: m.rules_configuration.map(|r| RulesConfiguration {
            rules: r
                .rules
                .into_iter()
                .map(|rule| MappingRule {
                    claim: rule.claim,
                    match_type: match rule.match_type {
                        api::MatchType::Equals => MatchType::Equals,
                        api::MatchType::Contains => MatchType::Contains,
                        api::MatchType::StartsWith => MatchType::StartsWith,
                        api::MatchType::NotEqual => MatchType::NotEqual,
                    },
                    value: rule.value,
                    role_arn: rule.role_arn,
                })
                .collect(),
        }),
    }
}

pub fn roles_body(roles: PoolRoles) -> api::RolesBody {
    api::RolesBody {
        roles: roles.roles,
        role_mappings: roles
            .role_mappings
            .into_iter()
            .map(|(provider, m)| (provider, role_mapping_body(m)))
            .collect(),
    }
}

fn role_mapping_body(m: RoleMapping) -> api::RoleMapping {
    api::RoleMapping {
        mapping_type: match m.mapping_type {
            RoleMappingType::Token => api::RoleMappingType::Token,
            RoleMappingType::Rules => api::RoleMappingType::Rules,
        },
        ambiguous_role_resolution: m.ambiguous_role_resolution.map(|a| match a {
            AmbiguousRoleResolution::AuthenticatedRole => {
                api::AmbiguousRoleResolution::AuthenticatedRole
            }
            AmbiguousRoleResolution::Deny => api::AmbiguousRoleResolution::Deny,
        }),
        rules_configuration: m.rules_configuration.map(|r| api::RulesConfiguration {
            rules: r
                .rules
                .into_iter()
                .map(|rule| api::MappingRule {
                    claim: rule.claim,
                    match_type: match rule.match_type {
                        MatchType::Equals => api::MatchType::Equals,
                        MatchType::Contains => api::MatchType::Contains,
                        MatchType::StartsWith => api::MatchType::StartsWith,
                        MatchType::NotEqual => api::MatchType::NotEqual,
                    },
                    value: rule.value,
                    role_arn: rule.role_arn,
                })
                .collect(),
        }),
    }
}

pub fn principal_tag_map(body: api::PrincipalTagsBody) -> PrincipalTagMap {
    PrincipalTagMap {
        use_defaults: body.use_defaults,
        principal_tags: body.principal_tags,
    }
}

pub fn principal_tags_body(map: PrincipalTagMap) -> api::PrincipalTagsBody {
    api::PrincipalTagsBody {
        use_defaults: map.use_defaults,
        principal_tags: map.principal_tags,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every member of the rules shape survives the trip to the domain and back.
    #[test]
    fn roles_round_trip() {
        let body: api::RolesBody = serde_json::from_value(serde_json::json!({
            "roles": {"authenticated": "arn:aws:iam::123456789012:role/a"},
            "role_mappings": {"p": {"type": "Rules", "ambiguous_role_resolution": "Deny",
                "rules_configuration": {"rules": [{"claim": "c", "match_type": "StartsWith",
                    "value": "v", "role_arn": "arn:aws:iam::123456789012:role/r"}]}}}
        }))
        .unwrap();
        assert_eq!(roles_body(pool_roles(body.clone())), body);
    }
}
