//! Which IAM role GetCredentialsForIdentity assumes (`docs/spec.md` §6.5, behaviours 44–56).
//!
//! Guests get `Roles.unauthenticated`; developer-authenticated identities get
//! `Roles.authenticated`; federated identities follow the RoleMapping of the provider they
//! presented (Token: the `cognito:*` role claims; Rules: the first matching rule), falling back
//! to AmbiguousRoleResolution, and get `Roles.authenticated` when there is no mapping.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::login::VerifiedLogin;
use crate::roles::{
    AmbiguousRoleResolution, MappingRule, MatchType, PoolRoles, RoleMapping, RoleMappingType,
};

/// Who is asking for credentials.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    Guest,
    Developer,
    Federated(&'a [VerifiedLogin]),
    /// An authenticated, non-developer identity proven only by idbroker's own token: the
    /// provider keys of its logins. Their claims are not at hand, so a mapping of one of
    /// those providers is applied to no claims (rules cannot match, the ambiguity setting
    /// decides) rather than being skipped for the authenticated role.
    OwnToken(&'a [String]),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    #[error("Unauthenticated access is not supported for this identity pool.")]
    GuestsNotAllowed,
    #[error("Invalid identity pool configuration. Check assigned IAM roles for this pool.")]
    NoRole,
    #[error("The ambiguous role mapping rules denied this request")]
    Denied,
    #[error("Access to Role '{0}' is forbidden.")]
    Forbidden(String),
    /// A SAML assertion allows several roles and CustomRoleArn chose none.
    #[error("The SAML assertion allows several roles; choose one with CustomRoleArn.")]
    SamlRoleAmbiguous,
}

/// The claim as text values (arrays give every element; `cognito:roles` may also come as a
/// comma-separated string).
fn claim_values(claims: &BTreeMap<String, Value>, name: &str) -> Vec<String> {
    match claims.get(name) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            })
            .collect(),
        Some(Value::Number(n)) => vec![n.to_string()],
        Some(Value::Bool(b)) => vec![b.to_string()],
        _ => Vec::new(),
    }
}

fn token_roles(claims: &BTreeMap<String, Value>) -> Vec<String> {
    claim_values(claims, "cognito:roles")
        .iter()
        .flat_map(|v| v.split(','))
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .collect()
}

impl MappingRule {
    /// Whether the rule matches; a NotEqual rule on an absent claim does not (it is skipped).
    pub fn matches(&self, claims: &BTreeMap<String, Value>) -> bool {
        let values = claim_values(claims, &self.claim);
        match self.match_type {
            MatchType::Equals => values.contains(&self.value),
            MatchType::Contains => values.iter().any(|v| v.contains(&self.value)),
            MatchType::StartsWith => values.iter().any(|v| v.starts_with(&self.value)),
            MatchType::NotEqual => !values.is_empty() && values.iter().any(|v| *v != self.value),
        }
    }
}

/// How a role was decided, step by step (for an admin's dry run). `resolve_role` and
/// `trace_role` are one code path; only the trace is dropped by the first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleTrace {
    pub decided_by: RoleSource,
    /// The role-mapping key that applied (`<provider>` or `<provider>:<client id>`).
    pub mapping_key: Option<String>,
    pub mapping_type: Option<RoleMappingType>,
    /// Token mappings: the roles the token allows (`cognito:roles`) and its preferred one.
    pub token_roles: Vec<String>,
    pub preferred_role: Option<String>,
    /// Rules mappings: every rule, in order, with what it compared. Rules after the first
    /// match are not compared (no CustomRoleArn) and not listed.
    pub rules: Vec<RuleTrace>,
    /// When no rule or token role decided: the AmbiguousRoleResolution consulted.
    pub ambiguous: Option<Option<AmbiguousRoleResolution>>,
}

/// What decided the role.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RoleSource {
    /// The pool's unauthenticated role (a guest).
    Guest,
    /// The pool's authenticated role: no role mapping applies.
    #[default]
    Default,
    /// A role mapping of the presented provider.
    Mapping,
}

/// One rule of a Rules mapping as it was compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleTrace {
    pub claim: String,
    pub match_type: MatchType,
    pub value: String,
    /// The claim's values in the token (empty when absent).
    pub claim_values: Vec<String>,
    pub matched: bool,
    pub role_arn: String,
}

fn authenticated(roles: &PoolRoles) -> Result<String, RoleError> {
    roles
        .roles
        .get("authenticated")
        .cloned()
        .ok_or(RoleError::NoRole)
}

fn ambiguous(
    mapping: &RoleMapping,
    roles: &PoolRoles,
    trace: &mut RoleTrace,
) -> Result<String, RoleError> {
    trace.ambiguous = Some(mapping.ambiguous_role_resolution);
    match mapping.ambiguous_role_resolution {
        Some(AmbiguousRoleResolution::AuthenticatedRole) => authenticated(roles),
        Some(AmbiguousRoleResolution::Deny) | None => Err(RoleError::Denied),
    }
}

fn by_mapping(
    mapping: &RoleMapping,
    claims: &BTreeMap<String, Value>,
    roles: &PoolRoles,
    custom: Option<&str>,
    trace: &mut RoleTrace,
) -> Result<String, RoleError> {
    trace.decided_by = RoleSource::Mapping;
    trace.mapping_type = Some(mapping.mapping_type);
    match mapping.mapping_type {
        RoleMappingType::Token => {
            let allowed = token_roles(claims);
            trace.token_roles.clone_from(&allowed);
            trace.preferred_role = claim_values(claims, "cognito:preferred_role")
                .into_iter()
                .next();
            if let Some(custom) = custom {
                return if allowed.iter().any(|r| r == custom) {
                    Ok(custom.to_owned())
                } else {
                    Err(RoleError::Forbidden(custom.to_owned()))
                };
            }
            if let Some(preferred) = &trace.preferred_role {
                return Ok(preferred.clone());
            }
            match allowed.as_slice() {
                [only] => Ok(only.clone()),
                _ => ambiguous(mapping, roles, trace),
            }
        }
        RoleMappingType::Rules => {
            let rules = mapping
                .rules_configuration
                .as_ref()
                .map_or(&[][..], |c| &c.rules[..]);
            let mut matching = rules.iter().filter(|r| {
                let matched = r.matches(claims);
                trace.rules.push(RuleTrace {
                    claim: r.claim.clone(),
                    match_type: r.match_type,
                    value: r.value.clone(),
                    claim_values: claim_values(claims, &r.claim),
                    matched,
                    role_arn: r.role_arn.clone(),
                });
                matched
            });
            let chosen = match custom {
                // CustomRoleArn may pick any matching rule's role, not just the first.
                Some(custom) => matching
                    .find(|r| r.role_arn == custom)
                    .map(|r| r.role_arn.clone())
                    .ok_or_else(|| RoleError::Forbidden(custom.to_owned())),
                None => match matching.next() {
                    Some(rule) => Ok(rule.role_arn.clone()),
                    None => Err(RoleError::Denied),
                },
            };
            drop(matching);
            match (chosen, custom) {
                (Err(RoleError::Denied), None) => ambiguous(mapping, roles, trace),
                (chosen, _) => chosen,
            }
        }
    }
}

/// The role-mapping key of a login: user pools are keyed `<provider>:<app client id>`.
fn mapping_for<'a>(
    roles: &'a PoolRoles,
    login: &VerifiedLogin,
) -> Option<(&'a String, &'a RoleMapping)> {
    let provider = &login.login.provider;
    claim_values(&login.claims, "aud")
        .iter()
        .find_map(|aud| {
            roles
                .role_mappings
                .get_key_value(&format!("{provider}:{aud}"))
        })
        .or_else(|| roles.role_mappings.get_key_value(provider))
}

/// The role to assume. `allow_guests` is the pool's AllowUnauthenticatedIdentities now.
pub fn resolve_role(
    caller: Caller<'_>,
    roles: &PoolRoles,
    allow_guests: bool,
    custom_role_arn: Option<&str>,
) -> Result<String, RoleError> {
    trace_role(caller, roles, allow_guests, custom_role_arn).0
}

/// As `resolve_role`, with the trace of how the role was decided.
pub fn trace_role(
    caller: Caller<'_>,
    roles: &PoolRoles,
    allow_guests: bool,
    custom_role_arn: Option<&str>,
) -> (Result<String, RoleError>, RoleTrace) {
    let mut trace = RoleTrace::default();
    let role = match caller {
        Caller::Guest => {
            trace.decided_by = RoleSource::Guest;
            if allow_guests {
                roles
                    .roles
                    .get("unauthenticated")
                    .cloned()
                    .ok_or(RoleError::NoRole)
            } else {
                Err(RoleError::GuestsNotAllowed)
            }
        }
        Caller::Developer => authenticated(roles),
        Caller::OwnToken(providers) => {
            let mapping = providers.iter().find_map(|provider| {
                let prefix = format!("{provider}:");
                roles
                    .role_mappings
                    .iter()
                    .find(|(key, _)| *key == provider || key.starts_with(&prefix))
            });
            match mapping {
                Some((key, mapping)) => {
                    trace.mapping_key = Some(key.clone());
                    by_mapping(
                        mapping,
                        &BTreeMap::new(),
                        roles,
                        custom_role_arn,
                        &mut trace,
                    )
                }
                None => default_authenticated(roles, custom_role_arn),
            }
        }
        Caller::Federated(logins) => {
            // The first presented provider (in key order) that has a mapping decides.
            match logins
                .iter()
                .find_map(|l| mapping_for(roles, l).map(|m| (l, m)))
            {
                Some((login, (key, mapping))) => {
                    trace.mapping_key = Some(key.clone());
                    by_mapping(mapping, &login.claims, roles, custom_role_arn, &mut trace)
                }
                None => match logins.iter().find(|l| is_saml(l)) {
                    // Cognito takes a SAML user's role from the assertion's Role attribute
                    // (the service put its roles for this provider in `cognito:roles`).
                    Some(login) if !token_roles(&login.claims).is_empty() => {
                        saml_role(&token_roles(&login.claims), custom_role_arn, &mut trace)
                    }
                    _ => default_authenticated(roles, custom_role_arn),
                },
            }
        }
    };
    (role, trace)
}

fn is_saml(login: &VerifiedLogin) -> bool {
    crate::saml_provider::saml_provider_name(&login.login.provider).is_some()
}

/// A SAML login without a role mapping: one of the roles its assertion allows, CustomRoleArn
/// choosing among several.
fn saml_role(
    allowed: &[String],
    custom: Option<&str>,
    trace: &mut RoleTrace,
) -> Result<String, RoleError> {
    trace.decided_by = RoleSource::Mapping;
    trace.mapping_type = Some(RoleMappingType::Token);
    trace.token_roles = allowed.to_vec();
    match (custom, allowed) {
        (Some(custom), _) if allowed.iter().any(|r| r == custom) => Ok(custom.to_owned()),
        (Some(custom), _) => Err(RoleError::Forbidden(custom.to_owned())),
        (None, [only]) => Ok(only.clone()),
        (None, _) => Err(RoleError::SamlRoleAmbiguous),
    }
}

/// The authenticated role, which a CustomRoleArn may only name exactly.
fn default_authenticated(roles: &PoolRoles, custom: Option<&str>) -> Result<String, RoleError> {
    let role = authenticated(roles)?;
    match custom {
        Some(custom) if custom != role => Err(RoleError::Forbidden(custom.to_owned())),
        _ => Ok(role),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::login::LoginRef;
    use crate::roles::RulesConfiguration;
    use serde_json::json;

    const AUTH: &str = "arn:aws:iam::123456789012:role/auth";
    const GUEST: &str = "arn:aws:iam::123456789012:role/guest";
    const R1: &str = "arn:aws:iam::123456789012:role/r1";
    const R2: &str = "arn:aws:iam::123456789012:role/r2";
    const R3: &str = "arn:aws:iam::123456789012:role/r3";
    const UP: &str = "cognito-idp.us-east-1.amazonaws.com/us-east-1_X";

    fn login(provider: &str, claims: Value) -> VerifiedLogin {
        VerifiedLogin {
            login: LoginRef {
                provider: provider.into(),
                subject: "u".into(),
            },
            claims: serde_json::from_value(claims).unwrap(),
        }
    }

    fn roles(mappings: Vec<(&str, RoleMapping)>) -> PoolRoles {
        PoolRoles {
            roles: [
                ("authenticated".to_owned(), AUTH.to_owned()),
                ("unauthenticated".to_owned(), GUEST.to_owned()),
            ]
            .into(),
            role_mappings: mappings
                .into_iter()
                .map(|(k, m)| (k.to_owned(), m))
                .collect(),
        }
    }

    fn token(ambiguous: AmbiguousRoleResolution) -> RoleMapping {
        RoleMapping {
            mapping_type: RoleMappingType::Token,
            ambiguous_role_resolution: Some(ambiguous),
            rules_configuration: None,
        }
    }

    fn rules(
        ambiguous: AmbiguousRoleResolution,
        rules: Vec<(&str, MatchType, &str, &str)>,
    ) -> RoleMapping {
        RoleMapping {
            mapping_type: RoleMappingType::Rules,
            ambiguous_role_resolution: Some(ambiguous),
            rules_configuration: Some(RulesConfiguration {
                rules: rules
                    .into_iter()
                    .map(|(claim, match_type, value, role)| MappingRule {
                        claim: claim.into(),
                        match_type,
                        value: value.into(),
                        role_arn: role.into(),
                    })
                    .collect(),
            }),
        }
    }

    fn federated(
        roles: &PoolRoles,
        login: VerifiedLogin,
        custom: Option<&str>,
    ) -> Result<String, RoleError> {
        resolve_role(Caller::Federated(&[login]), roles, true, custom)
    }

    /// The role of a Google login with `claims`.
    fn google(roles: &PoolRoles, claims: Value, custom: Option<&str>) -> Result<String, RoleError> {
        federated(roles, login("accounts.google.com", claims), custom)
    }

    const SAML: &str = "arn:aws:iam::123456789012:saml-provider/corp";

    #[test]
    fn saml_logins_without_a_mapping_take_the_assertion_s_role() {
        let roles = PoolRoles::default();
        let one = [login(SAML, json!({"cognito:roles": [R1]}))];
        assert_eq!(
            resolve_role(Caller::Federated(&one), &roles, false, None),
            Ok(R1.into())
        );
        let two = [login(SAML, json!({"cognito:roles": [R1, R2]}))];
        assert_eq!(
            resolve_role(Caller::Federated(&two), &roles, false, None),
            Err(RoleError::SamlRoleAmbiguous)
        );
        assert_eq!(
            resolve_role(Caller::Federated(&two), &roles, false, Some(R2)),
            Ok(R2.into())
        );
        assert_eq!(
            resolve_role(Caller::Federated(&two), &roles, false, Some(R3)),
            Err(RoleError::Forbidden(R3.into()))
        );
    }

    #[test]
    fn guests_get_the_unauthenticated_role_while_the_pool_allows_them() {
        let r = roles(vec![]);
        assert_eq!(
            resolve_role(Caller::Guest, &r, true, None),
            Ok(GUEST.into())
        );
        assert_eq!(
            resolve_role(Caller::Guest, &r, false, None),
            Err(RoleError::GuestsNotAllowed)
        );
        let mut none = r.clone();
        none.roles.clear();
        assert_eq!(
            resolve_role(Caller::Guest, &none, true, None),
            Err(RoleError::NoRole)
        );
    }

    #[test]
    fn developers_and_unmapped_providers_get_the_authenticated_role() {
        let r = roles(vec![(
            "accounts.google.com",
            token(AmbiguousRoleResolution::Deny),
        )]);
        assert_eq!(
            resolve_role(Caller::Developer, &r, true, None),
            Ok(AUTH.into())
        );
        assert_eq!(
            federated(&r, login("graph.facebook.com", json!({})), None),
            Ok(AUTH.into())
        );
        let mut none = r.clone();
        none.roles.clear();
        assert_eq!(
            resolve_role(Caller::Developer, &none, true, None),
            Err(RoleError::NoRole)
        );
    }

    #[test]
    fn token_mappings_prefer_the_preferred_role_and_check_custom_roles() {
        let r = roles(vec![(
            &format!("{UP}:app"),
            token(AmbiguousRoleResolution::Deny),
        )]);
        let l = login(
            UP,
            json!({"aud": "app", "cognito:preferred_role": R1, "cognito:roles": [R1, R2]}),
        );
        assert_eq!(federated(&r, l.clone(), None), Ok(R1.into()));
        assert_eq!(federated(&r, l.clone(), Some(R2)), Ok(R2.into()));
        assert_eq!(
            federated(&r, l, Some(R3)),
            Err(RoleError::Forbidden(R3.into()))
        );
    }

    #[test]
    fn token_mappings_without_a_preferred_role_are_ambiguous() {
        let l = login(UP, json!({"aud": "app", "cognito:roles": [R1, R2]}));
        let deny = roles(vec![(UP, token(AmbiguousRoleResolution::Deny))]);
        assert_eq!(federated(&deny, l.clone(), None), Err(RoleError::Denied));
        let auth = roles(vec![(
            UP,
            token(AmbiguousRoleResolution::AuthenticatedRole),
        )]);
        assert_eq!(federated(&auth, l, None), Ok(AUTH.into()));
        let comma = login(UP, json!({"aud": "app", "cognito:roles": format!("{R1}")}));
        assert_eq!(
            federated(&deny, comma, None),
            Ok(R1.into()),
            "a single role is the preferred one"
        );
    }

    #[test]
    fn rules_apply_in_order_and_the_first_match_wins() {
        let r = roles(vec![(
            "accounts.google.com",
            rules(
                AmbiguousRoleResolution::Deny,
                vec![
                    ("locale", MatchType::Equals, "Sacramento", R1),
                    ("locale", MatchType::StartsWith, "Sac", R2),
                ],
            ),
        )]);
        assert_eq!(
            google(&r, json!({"locale": "Sacramento"}), None),
            Ok(R1.into())
        );
        assert_eq!(
            google(&r, json!({"locale": "Sacsville"}), None),
            Ok(R2.into())
        );
        assert_eq!(
            google(&r, json!({"locale": "Sacramento"}), Some(R2)),
            Ok(R2.into()),
            "a custom role may pick any matching rule"
        );
        assert_eq!(
            google(&r, json!({"locale": "Paris"}), None),
            Err(RoleError::Denied)
        );
    }

    #[test]
    fn the_trace_shows_each_rule_compared_and_the_fallback() {
        let r = roles(vec![(
            "accounts.google.com",
            rules(
                AmbiguousRoleResolution::Deny,
                vec![
                    ("hd", MatchType::Equals, "corp.com", R1),
                    ("hd", MatchType::StartsWith, "corp", R2),
                    ("hd", MatchType::Contains, "o", R3),
                ],
            ),
        )]);
        let logins = [login("accounts.google.com", json!({"hd": "corp.org"}))];
        let (role, trace) = trace_role(Caller::Federated(&logins), &r, true, None);
        assert_eq!(role, Ok(R2.into()));
        assert_eq!(trace.decided_by, RoleSource::Mapping);
        assert_eq!(trace.mapping_key.as_deref(), Some("accounts.google.com"));
        let compared: Vec<(bool, &[String])> = trace
            .rules
            .iter()
            .map(|r| (r.matched, &r.claim_values[..]))
            .collect();
        let corp = ["corp.org".to_owned()];
        assert_eq!(compared, vec![(false, &corp[..]), (true, &corp[..])]);
        assert_eq!(trace.ambiguous, None);

        let logins = [login("accounts.google.com", json!({"hd": "x.net"}))];
        let (role, trace) = trace_role(Caller::Federated(&logins), &r, true, None);
        assert_eq!(role, Err(RoleError::Denied));
        assert_eq!(trace.rules.len(), 3);
        assert!(trace.rules.iter().all(|r| !r.matched));
        assert_eq!(trace.ambiguous, Some(Some(AmbiguousRoleResolution::Deny)));

        let (role, trace) = trace_role(Caller::Guest, &r, true, None);
        assert_eq!(
            (role, trace.decided_by),
            (Ok(GUEST.into()), RoleSource::Guest)
        );
    }

    #[test]
    fn every_match_type_behaves() {
        let c: BTreeMap<String, Value> =
            serde_json::from_value(json!({"email": "a@example.com", "groups": ["x", "admins"]}))
                .unwrap();
        let rule = |claim: &str, m, v: &str| MappingRule {
            claim: claim.into(),
            match_type: m,
            value: v.into(),
            role_arn: R1.into(),
        };
        assert!(rule("email", MatchType::Contains, "@example").matches(&c));
        assert!(rule("email", MatchType::StartsWith, "a@").matches(&c));
        assert!(rule("email", MatchType::NotEqual, "b@example.com").matches(&c));
        assert!(!rule("email", MatchType::NotEqual, "a@example.com").matches(&c));
        assert!(
            !rule("missing", MatchType::NotEqual, "anything").matches(&c),
            "NotEqual on an absent claim is skipped"
        );
        assert!(
            rule("groups", MatchType::Equals, "admins").matches(&c),
            "arrays match on any element"
        );
        assert!(!rule("email", MatchType::Equals, "A@example.com").matches(&c));
    }

    #[test]
    fn ambiguous_rules_fall_back_to_the_authenticated_role_when_asked() {
        let r = roles(vec![(
            "accounts.google.com",
            rules(
                AmbiguousRoleResolution::AuthenticatedRole,
                vec![("hd", MatchType::Equals, "corp.com", R1)],
            ),
        )]);
        assert_eq!(
            google(&r, json!({"hd": "gmail.com"}), None),
            Ok(AUTH.into())
        );
    }
}
