//! One login, one identity: what a set of verified logins does to the identities of a pool
//! (`docs/spec.md` §6.4, behaviours 19, 27, 29–35).
//!
//! The store gathers the current state inside a transaction (the identities owning the
//! presented logins, and the identity the caller named), asks `plan` what to do, and applies
//! the plan in the same transaction. Keeping the decision here makes it testable without a
//! database and keeps both stores in agreement.

use std::collections::{BTreeMap, BTreeSet};

use crate::ids::IdentityId;
use crate::login::LoginRef;

/// Logins one identity may hold (MergeDeveloperIdentities doc: "should not be larger than 20").
pub const MAX_LOGINS_PER_IDENTITY: usize = 20;

/// An identity as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedIdentity {
    pub id: IdentityId,
    pub logins: BTreeSet<LoginRef>,
    pub disabled: bool,
}

/// What the caller brought.
#[derive(Debug, Clone)]
pub struct LinkRequest<'a> {
    /// Verified logins, in the order they were presented (sorted by provider key).
    pub presented: &'a [LoginRef],
    /// The identity named by IdentityId, when the operation takes one.
    pub target: Option<&'a LinkedIdentity>,
    /// The distinct identities that already own one of the presented logins.
    pub owners: &'a [LinkedIdentity],
    pub rules: &'a LinkRules,
}

/// How strict linking is for one operation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkRules {
    /// The pool's developer provider, which may hold many user ids per identity.
    pub developer_provider: Option<String>,
    /// Who vouches for the identity the caller named, besides the logins it presents.
    pub trust: Trust,
    /// A login that must not belong to an identity other than the target
    /// (GetOpenIdTokenForDeveloperIdentity with an IdentityId: DeveloperUserAlreadyRegistered).
    pub exclusive: Option<LoginRef>,
}

/// Who may name an authenticated identity without presenting one of its logins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Trust {
    /// Nobody: the target must be proven by a presented login.
    #[default]
    None,
    /// The caller proved the identity itself (idbroker's own token for it).
    Identity,
    /// A SigV4-signed developer backend: it vouches for its own users only, so it may name a
    /// guest or an identity holding nothing but developer logins — never another provider's
    /// user without that user's login (Cognito: "Logins don't match").
    Developer,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkPlan {
    /// No presented login is known and no identity was named: a new identity with these logins.
    Create { logins: Vec<LoginRef> },
    /// Keep `survivor`, link the new logins to it, and fold the `merged` identities into it
    /// (their logins move to the survivor and they are disabled).
    Use {
        survivor: IdentityId,
        link: Vec<LoginRef>,
        merged: Vec<IdentityId>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("Access to Identity '{0}' is forbidden.")]
    Forbidden(IdentityId),
    #[error(
        "Logins don't match. Please include at least one valid login for this identity or identity pool."
    )]
    LoginsDontMatch,
    #[error(
        "You may only link one login per public provider; a different {0} login is already linked to this identity."
    )]
    ProviderAlreadyLinked(String),
    #[error("An identity can have at most {MAX_LOGINS_PER_IDENTITY} linked logins.")]
    TooManyLogins,
    #[error("The developer user is already registered with identity '{0}'.")]
    AlreadyRegistered(IdentityId),
}

/// Decides what the presented logins do. See the module docs for who calls it.
pub fn plan(request: &LinkRequest<'_>) -> Result<LinkPlan, LinkError> {
    if let Some(target) = request.target {
        if target.disabled {
            return Err(LinkError::Forbidden(target.id.clone()));
        }
        // An authenticated identity is only reachable with proof of one of its own logins:
        // otherwise knowing an identity id would be enough to attach a login to it.
        // A different user of a provider the identity already has is a conflict (behaviour 31),
        // whatever else the request proves.
        let developer = request.rules.developer_provider.as_deref();
        if let Some(clash) = request.presented.iter().find(|l| {
            Some(l.provider.as_str()) != developer
                && target
                    .logins
                    .iter()
                    .any(|t| t.provider == l.provider && t.subject != l.subject)
        }) {
            return Err(LinkError::ProviderAlreadyLinked(clash.provider.clone()));
        }
        let vouched = match request.rules.trust {
            Trust::None => false,
            Trust::Identity => true,
            Trust::Developer => target
                .logins
                .iter()
                .all(|t| Some(t.provider.as_str()) == developer),
        };
        let proven = vouched || request.presented.iter().any(|l| target.logins.contains(l));
        if !target.logins.is_empty() && !proven {
            return Err(LinkError::LoginsDontMatch);
        }
        if let Some(exclusive) = &request.rules.exclusive
            && let Some(owner) = request
                .owners
                .iter()
                .find(|o| o.logins.contains(exclusive) && o.id != target.id)
        {
            return Err(LinkError::AlreadyRegistered(owner.id.clone()));
        }
    }
    if let Some(owner) = request.owners.iter().find(|o| o.disabled) {
        return Err(LinkError::Forbidden(owner.id.clone()));
    }

    let owner_of = |login: &LoginRef| request.owners.iter().find(|o| o.logins.contains(login));
    // The identity that already owns a presented login survives, so GetId for that login keeps
    // answering with the same id; the first presented login decides when several do.
    let survivor = request
        .presented
        .iter()
        .find_map(owner_of)
        .or(request.target);
    let Some(survivor) = survivor else {
        check_logins(
            request.presented.iter(),
            request.rules.developer_provider.as_deref(),
        )?;
        return Ok(LinkPlan::Create {
            logins: request.presented.to_vec(),
        });
    };

    let mut merged: Vec<&LinkedIdentity> = request
        .owners
        .iter()
        .filter(|o| o.id != survivor.id)
        .collect();
    if let Some(target) = request.target
        && target.id != survivor.id
    {
        merged.push(target);
    }
    merged.sort_by(|a, b| a.id.cmp(&b.id));
    merged.dedup_by(|a, b| a.id == b.id);

    let link: Vec<LoginRef> = request
        .presented
        .iter()
        .filter(|l| owner_of(l).is_none())
        .cloned()
        .collect();
    let all = survivor
        .logins
        .iter()
        .chain(merged.iter().flat_map(|m| m.logins.iter()))
        .chain(link.iter());
    check_logins(all, request.rules.developer_provider.as_deref())?;

    Ok(LinkPlan::Use {
        survivor: survivor.id.clone(),
        link,
        merged: merged.into_iter().map(|m| m.id.clone()).collect(),
    })
}

/// At most one user per public provider, and at most 20 logins in all.
fn check_logins<'a>(
    logins: impl Iterator<Item = &'a LoginRef>,
    developer_provider: Option<&str>,
) -> Result<(), LinkError> {
    let mut by_provider: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut count = 0;
    for login in logins {
        if by_provider
            .entry(&login.provider)
            .or_default()
            .insert(&login.subject)
        {
            count += 1;
        }
    }
    for (provider, subjects) in &by_provider {
        if subjects.len() > 1 && Some(*provider) != developer_provider {
            return Err(LinkError::ProviderAlreadyLinked((*provider).to_owned()));
        }
    }
    if count > MAX_LOGINS_PER_IDENTITY {
        return Err(LinkError::TooManyLogins);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(provider: &str, subject: &str) -> LoginRef {
        LoginRef {
            provider: provider.into(),
            subject: subject.into(),
        }
    }

    fn identity(id: &str, logins: &[LoginRef]) -> LinkedIdentity {
        LinkedIdentity {
            id: IdentityId::from_trusted(format!("us-east-1:{id}")),
            logins: logins.iter().cloned().collect(),
            disabled: false,
        }
    }

    fn id(s: &str) -> IdentityId {
        IdentityId::from_trusted(format!("us-east-1:{s}"))
    }

    /// The plan that keeps `survivor`, links `link` to it and merges `merged` into it.
    fn keeps(survivor: &str, link: Vec<LoginRef>, merged: &[&str]) -> Result<LinkPlan, LinkError> {
        Ok(LinkPlan::Use {
            survivor: id(survivor),
            link,
            merged: merged.iter().map(|m| id(m)).collect(),
        })
    }

    fn run(
        presented: &[LoginRef],
        target: Option<&LinkedIdentity>,
        owners: &[LinkedIdentity],
    ) -> Result<LinkPlan, LinkError> {
        let rules = LinkRules {
            developer_provider: Some("dev".into()),
            ..LinkRules::default()
        };
        run_with(presented, target, owners, &rules)
    }

    fn run_with(
        presented: &[LoginRef],
        target: Option<&LinkedIdentity>,
        owners: &[LinkedIdentity],
        rules: &LinkRules,
    ) -> Result<LinkPlan, LinkError> {
        plan(&LinkRequest {
            presented,
            target,
            owners,
            rules,
        })
    }

    fn developer_rules() -> LinkRules {
        LinkRules {
            developer_provider: Some("dev".into()),
            trust: Trust::Developer,
            exclusive: None,
        }
    }

    #[test]
    fn a_developer_backend_may_not_take_another_providers_user_without_its_login() {
        let (g, d) = (login("google", "u1"), login("dev", "alice"));
        let a = identity("a", std::slice::from_ref(&g));
        assert_eq!(
            run_with(std::slice::from_ref(&d), Some(&a), &[], &developer_rules()),
            Err(LinkError::LoginsDontMatch)
        );
        // With that user's own login presented, it may.
        assert_eq!(
            run_with(
                &[d.clone(), g],
                Some(&a),
                std::slice::from_ref(&a),
                &developer_rules()
            ),
            keeps("a", vec![d], &[])
        );
    }

    #[test]
    fn a_developer_backend_may_link_its_users_to_guests_and_to_its_own_identities() {
        let (d1, d2) = (login("dev", "alice"), login("dev", "bob"));
        let guest = identity("g", &[]);
        let own = identity("o", std::slice::from_ref(&d1));
        for (target, name) in [(&guest, "g"), (&own, "o")] {
            assert_eq!(
                run_with(
                    std::slice::from_ref(&d2),
                    Some(target),
                    &[],
                    &developer_rules()
                ),
                keeps(name, vec![d2.clone()], &[]),
                "{target:?}"
            );
        }
    }

    #[test]
    fn a_caller_holding_the_identitys_own_token_may_link_to_it() {
        let (g, f) = (login("google", "u1"), login("facebook", "f1"));
        let a = identity("a", std::slice::from_ref(&g));
        let rules = LinkRules {
            trust: Trust::Identity,
            ..LinkRules::default()
        };
        assert_eq!(
            run_with(std::slice::from_ref(&f), Some(&a), &[], &rules),
            keeps("a", vec![f], &[])
        );
    }

    #[test]
    fn an_exclusive_login_owned_elsewhere_is_already_registered() {
        let d = login("dev", "alice");
        let (a, b) = (identity("a", &[]), identity("b", std::slice::from_ref(&d)));
        let rules = LinkRules {
            exclusive: Some(d.clone()),
            ..developer_rules()
        };
        assert_eq!(
            run_with(
                std::slice::from_ref(&d),
                Some(&a),
                std::slice::from_ref(&b),
                &rules
            ),
            Err(LinkError::AlreadyRegistered(id("b")))
        );
    }

    #[test]
    fn an_unknown_login_creates_an_identity() {
        let g = login("google", "u1");
        assert_eq!(
            run(std::slice::from_ref(&g), None, &[]),
            Ok(LinkPlan::Create { logins: vec![g] })
        );
    }

    #[test]
    fn a_known_login_returns_its_identity() {
        let g = login("google", "u1");
        let a = identity("a", std::slice::from_ref(&g));
        assert_eq!(run(&[g], None, &[a]), keeps("a", vec![], &[]));
    }

    #[test]
    fn two_new_logins_make_one_identity_with_both() {
        let (g, f) = (login("google", "u1"), login("facebook", "f1"));
        assert_eq!(
            run(&[f.clone(), g.clone()], None, &[]),
            Ok(LinkPlan::Create { logins: vec![f, g] })
        );
    }

    #[test]
    fn a_new_login_beside_a_known_one_is_linked_to_it() {
        let (g, f) = (login("google", "u1"), login("facebook", "f1"));
        let a = identity("a", std::slice::from_ref(&g));
        assert_eq!(run(&[f.clone(), g], None, &[a]), keeps("a", vec![f], &[]));
    }

    #[test]
    fn logins_of_two_identities_merge_into_the_owner_of_the_first() {
        let (f, g) = (login("facebook", "f1"), login("google", "u1"));
        let (a, b) = (
            identity("a", std::slice::from_ref(&f)),
            identity("b", std::slice::from_ref(&g)),
        );
        assert_eq!(run(&[f, g], None, &[a, b]), keeps("a", vec![], &["b"]));
    }

    #[test]
    fn a_guest_that_brings_a_new_login_keeps_its_id() {
        let g = login("google", "u1");
        let guest = identity("guest", &[]);
        assert_eq!(
            run(std::slice::from_ref(&g), Some(&guest), &[]),
            keeps("guest", vec![g], &[])
        );
    }

    #[test]
    fn a_guest_that_brings_a_known_login_is_merged_into_its_owner() {
        let g = login("google", "u1");
        let (guest, b) = (
            identity("guest", &[]),
            identity("b", std::slice::from_ref(&g)),
        );
        assert_eq!(
            run(&[g], Some(&guest), &[b]),
            keeps("b", vec![], &["guest"])
        );
    }

    #[test]
    fn a_second_user_of_the_same_provider_is_a_conflict() {
        let (u1, u2) = (login("google", "u1"), login("google", "u2"));
        let a = identity("a", std::slice::from_ref(&u1));
        assert_eq!(
            run(&[u1, u2], Some(&a), std::slice::from_ref(&a)),
            Err(LinkError::ProviderAlreadyLinked("google".into()))
        );
    }

    #[test]
    fn a_different_user_of_a_linked_provider_is_a_conflict_even_without_proof() {
        let (u1, u2) = (login("google", "u1"), login("google", "u2"));
        let a = identity("a", std::slice::from_ref(&u1));
        assert_eq!(
            run(std::slice::from_ref(&u2), Some(&a), &[]),
            Err(LinkError::ProviderAlreadyLinked("google".into()))
        );
    }

    #[test]
    fn an_authenticated_identity_needs_one_of_its_own_logins() {
        let (g, f) = (login("google", "u1"), login("facebook", "f1"));
        let a = identity("a", &[g]);
        assert_eq!(
            run(std::slice::from_ref(&f), Some(&a), &[]),
            Err(LinkError::LoginsDontMatch)
        );
        assert_eq!(run(&[], Some(&a), &[]), Err(LinkError::LoginsDontMatch));
    }

    #[test]
    fn a_guest_without_logins_stays_itself() {
        let guest = identity("guest", &[]);
        assert_eq!(run(&[], Some(&guest), &[]), keeps("guest", vec![], &[]));
    }

    #[test]
    fn disabled_identities_are_forbidden() {
        let mut gone = identity("gone", &[]);
        gone.disabled = true;
        assert_eq!(
            run(&[], Some(&gone), &[]),
            Err(LinkError::Forbidden(id("gone")))
        );
    }

    #[test]
    fn a_developer_provider_may_hold_many_users() {
        let (d1, d2) = (login("dev", "alice"), login("dev", "bob"));
        let a = identity("a", std::slice::from_ref(&d1));
        assert_eq!(
            run(&[d1, d2.clone()], Some(&a), std::slice::from_ref(&a)),
            keeps("a", vec![d2], &[])
        );
    }

    #[test]
    fn more_than_twenty_logins_are_refused() {
        let existing: Vec<LoginRef> = (0..20).map(|i| login(&format!("p{i}"), "u")).collect();
        let a = identity("a", &existing);
        let presented = vec![existing[0].clone(), login("one-more", "u")];
        assert_eq!(
            run(&presented, Some(&a), std::slice::from_ref(&a)),
            Err(LinkError::TooManyLogins)
        );
    }
}
