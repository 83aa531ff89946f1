#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point
//! The storage contract: every test runs against PostgreSQL and against SQLite, each on a fresh
//! database that is dropped afterwards.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use idbroker_domain::linking::{LinkError, LinkRules};
use idbroker_domain::login::LoginRef;
use idbroker_domain::oidc_provider::OidcProvider;
use idbroker_domain::roles::{AmbiguousRoleResolution, RoleMapping, RoleMappingType};
use idbroker_domain::saml_provider::SamlProvider;
use idbroker_domain::{
    Identity, IdentityId, IdentityPool, IdentityPoolId, PoolConfig, PoolExtensions, PoolLifetimes,
    PoolRoles, PrincipalTagMap, Region, Tags,
};
use idbroker_store::testing::TestDatabase;
use idbroker_store::{
    Backend, IdentityStore, Issuance, IssuanceFilter, IssuanceWindow, LedgerStore, LoginStore,
    OidcProviderStore, PoolStore, ResolveError, Resolved, Revocation, RevocationScope,
    RevocationStore, SamlProviderStore, SqlStore, Store, StoreError,
};
use uuid::Uuid;

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(#[tokio::test] async fn $name() { super::$name(super::open(idbroker_store::Backend::Postgres).await).await; })*
        }
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name(super::open(idbroker_store::Backend::Sqlite).await).await; })*
        }
    };
}

contract!(
    a_created_pool_reads_back_with_its_tags,
    an_unknown_pool_is_absent,
    pools_are_listed_in_pages,
    an_update_replaces_config_and_optionally_tags,
    lifetimes_are_stored_and_kept_by_an_update_without_them,
    exchange_audiences_are_stored_kept_replaced_and_found,
    a_stale_update_is_a_concurrent_modification,
    updating_or_deleting_a_missing_pool_is_not_found,
    deleting_a_pool_deletes_its_identities,
    roles_round_trip_and_bump_the_version,
    tags_are_added_removed_and_capped,
    principal_tag_maps_round_trip_per_provider,
    identities_are_created_listed_and_deleted,
    an_identity_in_a_missing_pool_is_not_found,
    concurrent_identity_creation_keeps_every_identity,
    a_new_login_creates_an_identity_and_finds_it_again,
    logins_of_two_identities_merge_and_the_loser_is_disabled,
    a_guest_keeps_its_id_when_it_links_a_login,
    a_refused_link_changes_nothing,
    concurrent_first_logins_of_one_user_make_one_identity,
    unlinking_the_last_login_disables_the_identity,
    oidc_providers_are_registered_and_protected_while_in_use,
    the_credential_ledger_is_queried_newest_first_and_pruned,
    the_ledger_reads_a_window_of_issue_and_expiry_times,
    revocations_are_put_found_for_identity_or_pool_and_deleted,
    only_idle_guests_are_cleaned_up,
    saml_providers_are_registered_and_protected_while_in_use,
    the_saml_replay_cache_counts_uses_for_one_pool_and_forgets_expired_ids,
);

struct Fixture {
    store: Arc<SqlStore>,
    _db: TestDatabase,
}

async fn open(backend: Backend) -> Fixture {
    let db = TestDatabase::new(backend).await;
    let store = SqlStore::connect(db.url()).await.expect("connect");
    assert_eq!(store.backend(), backend);
    store.migrate().await.expect("migrate");
    // Migrations are idempotent: a second start must not fail.
    store.migrate().await.expect("migrate twice");
    Fixture {
        store: Arc::new(store),
        _db: db,
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
}

fn region() -> Region {
    Region::parse("us-east-1").unwrap()
}

fn new_pool(name: &str, tags: &[(&str, &str)]) -> IdentityPool {
    let mut config = PoolConfig {
        identity_pool_name: name.to_owned(),
        allow_unauthenticated_identities: true,
        ..PoolConfig::default()
    };
    config
        .supported_login_providers
        .insert("accounts.google.com".into(), "client-1".into());
    IdentityPool {
        id: IdentityPoolId::new(&region(), Uuid::new_v4()),
        config,
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        lifetimes: PoolLifetimes::default(),
        exchange_audiences: Vec::new(),
    }
}

fn new_identity(pool: &IdentityPoolId, at: DateTime<Utc>) -> Identity {
    Identity {
        id: IdentityId::new(&region(), Uuid::new_v4()),
        pool_id: pool.clone(),
        logins: vec![],
        created_at: at,
        last_modified_at: at,
        disabled: false,
        last_used_at: None,
    }
}

async fn a_created_pool_reads_back_with_its_tags(f: Fixture) {
    let pool = new_pool("first", &[("team", "web"), ("empty", "")]);
    f.store.create_pool(&pool, t0()).await.unwrap();
    let stored = f.store.get_pool(&pool.id).await.unwrap().expect("pool");
    assert_eq!(stored.pool, pool);
    assert_eq!(stored.roles, PoolRoles::default());
    assert_eq!(stored.version, 1);
}

async fn an_unknown_pool_is_absent(f: Fixture) {
    let id = IdentityPoolId::new(&region(), Uuid::new_v4());
    assert!(f.store.get_pool(&id).await.unwrap().is_none());
}

async fn pools_are_listed_in_pages(f: Fixture) {
    let mut ids = Vec::new();
    for i in 0..5 {
        let pool = new_pool(&format!("p{i}"), &[]);
        f.store.create_pool(&pool, t0()).await.unwrap();
        ids.push(pool.id);
    }
    ids.sort();
    let first = f.store.list_pools(None, 2).await.unwrap();
    assert_eq!(
        first.iter().map(|p| &p.id).collect::<Vec<_>>(),
        vec![&ids[0], &ids[1]]
    );
    let rest = f.store.list_pools(Some(ids[1].as_str()), 10).await.unwrap();
    assert_eq!(
        rest.iter().map(|p| &p.id).collect::<Vec<_>>(),
        vec![&ids[2], &ids[3], &ids[4]]
    );
    assert!(rest.iter().all(|p| p.name.starts_with('p')));
}

async fn an_update_replaces_config_and_optionally_tags(f: Fixture) {
    let pool = new_pool("before", &[("team", "web")]);
    f.store.create_pool(&pool, t0()).await.unwrap();
    let mut config = pool.config.clone();
    config.identity_pool_name = "after".into();
    config.supported_login_providers.clear();
    config.allow_classic_flow = Some(false);
    f.store
        .update_pool(&pool.id, 1, &config, None, None, t0())
        .await
        .unwrap();
    let stored = f.store.get_pool(&pool.id).await.unwrap().unwrap();
    assert_eq!(stored.pool.config, config);
    assert_eq!(stored.pool.tags, pool.tags, "tags are kept when not given");
    assert_eq!(stored.version, 2);
    assert_eq!(f.store.list_pools(None, 10).await.unwrap()[0].name, "after");

    let new_tags: Tags = [("owner".to_owned(), "ops".to_owned())].into();
    f.store
        .update_pool(&pool.id, 2, &config, Some(&new_tags), None, t0())
        .await
        .unwrap();
    assert_eq!(
        f.store.get_pool(&pool.id).await.unwrap().unwrap().pool.tags,
        new_tags
    );
}

async fn lifetimes_are_stored_and_kept_by_an_update_without_them(f: Fixture) {
    let mut pool = new_pool("timed", &[]);
    pool.lifetimes = PoolLifetimes {
        credential_duration_seconds: Some(900),
        token_lifetime_seconds: Some(120),
        max_token_lifetime_seconds: None,
        credential_reuse_seconds: Some(300),
    };
    f.store.create_pool(&pool, t0()).await.unwrap();
    let read = |f: &Fixture| {
        let store = f.store.clone();
        let id = pool.id.clone();
        async move { store.get_pool(&id).await.unwrap().unwrap().pool.lifetimes }
    };
    assert_eq!(read(&f).await, pool.lifetimes);

    // The AWS face's update names no lifetimes: they stay.
    f.store
        .update_pool(&pool.id, 1, &pool.config, None, None, t0())
        .await
        .unwrap();
    assert_eq!(read(&f).await, pool.lifetimes);

    // The REST face's update replaces them, unset ones included.
    let replaced = PoolLifetimes {
        credential_duration_seconds: None,
        token_lifetime_seconds: Some(60),
        max_token_lifetime_seconds: Some(3600),
        credential_reuse_seconds: None,
    };
    f.store
        .update_pool(
            &pool.id,
            2,
            &pool.config,
            None,
            Some(&replaced.into()),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(read(&f).await, replaced);
}

async fn exchange_audiences_are_stored_kept_replaced_and_found(f: Fixture) {
    const AZURE: &str = "api://AzureADTokenExchange";
    const SHARED: &str = "https://api.internal.example";
    let mut pool = new_pool("audiences", &[("team", "a"), ("env", "b")]);
    pool.exchange_audiences = vec![AZURE.to_owned(), SHARED.to_owned()];
    f.store.create_pool(&pool, t0()).await.unwrap();
    let mut other = new_pool("other", &[]);
    other.exchange_audiences = vec![SHARED.to_owned()];
    f.store.create_pool(&other, t0()).await.unwrap();
    let read = |f: &Fixture, id: &IdentityPoolId| {
        let (store, id) = (f.store.clone(), id.clone());
        async move { store.get_pool(&id).await.unwrap().unwrap().pool }
    };
    // Read back with the tags, neither multiplying the other.
    let stored = read(&f, &pool.id).await;
    assert_eq!(stored.exchange_audiences, [AZURE, SHARED]);
    assert_eq!(stored.tags, pool.tags);

    let accepting = |f: &Fixture, audience: &'static str| {
        let store = f.store.clone();
        async move { store.pools_accepting_audience(audience, 2).await.unwrap() }
    };
    assert_eq!(accepting(&f, AZURE).await, [pool.id.clone()]);
    let mut both = vec![pool.id.clone(), other.id.clone()];
    both.sort();
    assert_eq!(accepting(&f, SHARED).await, both);
    assert!(accepting(&f, "https://nobody.example").await.is_empty());
    assert_eq!(
        f.store.pools_accepting_audience(SHARED, 1).await.unwrap(),
        both[..1]
    );

    // The AWS face's update keeps them; the REST face's replaces them.
    f.store
        .update_pool(&pool.id, 1, &pool.config, None, None, t0())
        .await
        .unwrap();
    assert_eq!(read(&f, &pool.id).await.exchange_audiences, [AZURE, SHARED]);
    let replaced = PoolExtensions {
        lifetimes: PoolLifetimes::default(),
        exchange_audiences: vec![SHARED.to_owned()],
    };
    f.store
        .update_pool(&pool.id, 2, &pool.config, None, Some(&replaced), t0())
        .await
        .unwrap();
    assert_eq!(read(&f, &pool.id).await.exchange_audiences, [SHARED]);
    assert!(accepting(&f, AZURE).await.is_empty());

    // They go with their pool.
    f.store.delete_pool(&other.id).await.unwrap();
    assert_eq!(accepting(&f, SHARED).await, [pool.id.clone()]);
}

async fn a_stale_update_is_a_concurrent_modification(f: Fixture) {
    let pool = new_pool("p", &[]);
    f.store.create_pool(&pool, t0()).await.unwrap();
    f.store
        .update_pool(&pool.id, 1, &pool.config, None, None, t0())
        .await
        .unwrap();
    let err = f
        .store
        .update_pool(&pool.id, 1, &pool.config, None, None, t0())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConcurrentModification), "{err:?}");
    let err = f
        .store
        .set_roles(&pool.id, 1, &PoolRoles::default(), t0())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConcurrentModification), "{err:?}");
}

async fn updating_or_deleting_a_missing_pool_is_not_found(f: Fixture) {
    let pool = new_pool("ghost", &[]);
    let err = f
        .store
        .update_pool(&pool.id, 1, &pool.config, None, None, t0())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert!(matches!(
        f.store.delete_pool(&pool.id).await.unwrap_err(),
        StoreError::NotFound
    ));
    let tags: Tags = [("k".to_owned(), "v".to_owned())].into();
    assert!(matches!(
        f.store.add_tags(&pool.id, &tags, 50).await.unwrap_err(),
        StoreError::NotFound
    ));
    assert!(matches!(
        f.store
            .put_principal_tag_map(&pool.id, "accounts.google.com", &PrincipalTagMap::default())
            .await
            .unwrap_err(),
        StoreError::NotFound
    ));
}

async fn deleting_a_pool_deletes_its_identities(f: Fixture) {
    let pool = new_pool("doomed", &[("k", "v")]);
    f.store.create_pool(&pool, t0()).await.unwrap();
    let identity = new_identity(&pool.id, t0());
    f.store.create_identity(&identity).await.unwrap();
    f.store.delete_pool(&pool.id).await.unwrap();
    assert!(f.store.get_pool(&pool.id).await.unwrap().is_none());
    assert!(f.store.get_identity(&identity.id).await.unwrap().is_none());
}

async fn roles_round_trip_and_bump_the_version(f: Fixture) {
    let pool = new_pool("p", &[]);
    f.store.create_pool(&pool, t0()).await.unwrap();
    let roles = PoolRoles {
        roles: [(
            "authenticated".to_owned(),
            "arn:aws:iam::123456789012:role/a".to_owned(),
        )]
        .into(),
        role_mappings: [(
            "accounts.google.com".to_owned(),
            RoleMapping {
                mapping_type: RoleMappingType::Token,
                ambiguous_role_resolution: Some(AmbiguousRoleResolution::Deny),
                rules_configuration: None,
            },
        )]
        .into(),
    };
    f.store.set_roles(&pool.id, 1, &roles, t0()).await.unwrap();
    let stored = f.store.get_pool(&pool.id).await.unwrap().unwrap();
    assert_eq!(stored.roles, roles);
    assert_eq!(stored.version, 2);
}

async fn tags_are_added_removed_and_capped(f: Fixture) {
    let pool = new_pool("p", &[("a", "1")]);
    f.store.create_pool(&pool, t0()).await.unwrap();
    let more: Tags = [
        ("a".to_owned(), "2".to_owned()),
        ("b".to_owned(), "3".to_owned()),
    ]
    .into();
    f.store.add_tags(&pool.id, &more, 50).await.unwrap();
    assert_eq!(
        f.store.get_pool(&pool.id).await.unwrap().unwrap().pool.tags,
        more
    );

    f.store
        .remove_tags(&pool.id, &["a".to_owned(), "absent".to_owned()])
        .await
        .unwrap();
    let left: Tags = [("b".to_owned(), "3".to_owned())].into();
    assert_eq!(
        f.store.get_pool(&pool.id).await.unwrap().unwrap().pool.tags,
        left
    );

    let too_many: Tags = (0..3).map(|i| (format!("t{i}"), String::new())).collect();
    let err = f.store.add_tags(&pool.id, &too_many, 3).await.unwrap_err();
    assert!(matches!(err, StoreError::LimitExceeded(_)), "{err:?}");
    assert_eq!(
        f.store.get_pool(&pool.id).await.unwrap().unwrap().pool.tags,
        left,
        "a refused tagging changes nothing"
    );
}

async fn principal_tag_maps_round_trip_per_provider(f: Fixture) {
    let pool = new_pool("p", &[]);
    f.store.create_pool(&pool, t0()).await.unwrap();
    assert!(
        f.store
            .get_principal_tag_map(&pool.id, "accounts.google.com")
            .await
            .unwrap()
            .is_none()
    );
    let map = PrincipalTagMap {
        use_defaults: false,
        principal_tags: [("team".to_owned(), "hd".to_owned())].into(),
    };
    f.store
        .put_principal_tag_map(&pool.id, "accounts.google.com", &map)
        .await
        .unwrap();
    let replaced = PrincipalTagMap {
        use_defaults: true,
        ..PrincipalTagMap::default()
    };
    f.store
        .put_principal_tag_map(&pool.id, "accounts.google.com", &replaced)
        .await
        .unwrap();
    assert_eq!(
        f.store
            .get_principal_tag_map(&pool.id, "accounts.google.com")
            .await
            .unwrap(),
        Some(replaced)
    );
    assert!(
        f.store
            .get_principal_tag_map(&pool.id, "other")
            .await
            .unwrap()
            .is_none()
    );
}

async fn identities_are_created_listed_and_deleted(f: Fixture) {
    let pool = new_pool("p", &[]);
    f.store.create_pool(&pool, t0()).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..4 {
        let mut identity = new_identity(&pool.id, t0() + Duration::seconds(i));
        identity.disabled = i == 2;
        f.store.create_identity(&identity).await.unwrap();
        ids.push(identity);
    }
    let fetched = f.store.get_identity(&ids[1].id).await.unwrap().unwrap();
    assert_eq!(fetched, ids[1]);

    let all = f
        .store
        .list_identities(&pool.id, None, 60, false)
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    let visible = f
        .store
        .list_identities(&pool.id, None, 60, true)
        .await
        .unwrap();
    assert_eq!(visible.len(), 3);
    assert!(visible.iter().all(|i| !i.disabled));

    let page = f
        .store
        .list_identities(&pool.id, None, 2, false)
        .await
        .unwrap();
    let next = f
        .store
        .list_identities(&pool.id, Some(page[1].id.as_str()), 2, false)
        .await
        .unwrap();
    assert_eq!(page.len() + next.len(), 4);
    assert!(next.iter().all(|i| !page.contains(i)));

    f.store.delete_identity(&ids[0].id).await.unwrap();
    assert!(f.store.get_identity(&ids[0].id).await.unwrap().is_none());
    assert!(matches!(
        f.store.delete_identity(&ids[0].id).await.unwrap_err(),
        StoreError::NotFound
    ));
}

async fn an_identity_in_a_missing_pool_is_not_found(f: Fixture) {
    let ghost = IdentityPoolId::new(&region(), Uuid::new_v4());
    let err = f
        .store
        .create_identity(&new_identity(&ghost, t0()))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

async fn concurrent_identity_creation_keeps_every_identity(f: Fixture) {
    let pool = new_pool("busy", &[]);
    f.store.create_pool(&pool, t0()).await.unwrap();
    let store: Arc<dyn Store> = f.store.clone();
    let tasks = (0..24).map(|_| {
        let store = store.clone();
        let identity = new_identity(&pool.id, t0());
        tokio::spawn(async move { store.create_identity(&identity).await })
    });
    for result in futures::future::join_all(tasks).await {
        result.unwrap().unwrap();
    }
    assert_eq!(
        f.store
            .list_identities(&pool.id, None, 60, false)
            .await
            .unwrap()
            .len(),
        24
    );
}

fn login(provider: &str, subject: &str) -> LoginRef {
    LoginRef {
        provider: provider.to_owned(),
        subject: subject.to_owned(),
    }
}

fn fresh_id() -> IdentityId {
    IdentityId::new(&region(), Uuid::new_v4())
}

impl Fixture {
    /// `resolve_logins` with the default rules, a fresh id for a new identity, at `t0`.
    async fn link(
        &self,
        pool: &IdentityPoolId,
        presented: &[LoginRef],
        target: Option<&IdentityId>,
    ) -> Result<Resolved, ResolveError> {
        let rules = LinkRules::default();
        let store = &self.store;
        store
            .resolve_logins(pool, presented, target, &rules, &fresh_id(), t0())
            .await
    }

    /// The identity that one login, linked on its own, resolves to (made if new).
    async fn identity_of(&self, pool: &IdentityPoolId, login: &LoginRef) -> Identity {
        let linked = self.link(pool, std::slice::from_ref(login), None).await;
        linked.expect("the login links").identity
    }
}

async fn pool_in(f: &Fixture) -> IdentityPoolId {
    let pool = new_pool("logins", &[]);
    f.store.create_pool(&pool, t0()).await.unwrap();
    pool.id
}

async fn a_new_login_creates_an_identity_and_finds_it_again(f: Fixture) {
    let pool = pool_in(&f).await;
    let g = login("accounts.google.com", "u1");
    let first = f.link(&pool, std::slice::from_ref(&g), None).await.unwrap();
    assert!(first.created);
    assert_eq!(first.identity.logins, vec![g.clone()]);
    let again = f.link(&pool, std::slice::from_ref(&g), None).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.identity.id, first.identity.id);
    let stored = f
        .store
        .get_identity(&first.identity.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.logins, vec![g]);
}

async fn logins_of_two_identities_merge_and_the_loser_is_disabled(f: Fixture) {
    let pool = pool_in(&f).await;
    let (fb, g) = (
        login("graph.facebook.com", "f1"),
        login("accounts.google.com", "u1"),
    );
    let a = f.identity_of(&pool, &fb).await;
    let b = f.identity_of(&pool, &g).await;
    // Presented in provider-key order: accounts.google.com (owned by b) comes first.
    let merged = f.link(&pool, &[g.clone(), fb.clone()], None).await.unwrap();
    assert_eq!(merged.identity.id, b.id);
    assert_eq!(merged.identity.logins.len(), 2);
    let loser = f.store.get_identity(&a.id).await.unwrap().unwrap();
    assert!(loser.disabled);
    assert!(loser.logins.is_empty());
    let visible = f
        .store
        .list_identities(&pool, None, 60, true)
        .await
        .unwrap();
    assert_eq!(
        visible.iter().map(|i| &i.id).collect::<Vec<_>>(),
        vec![&b.id]
    );
}

async fn a_guest_keeps_its_id_when_it_links_a_login(f: Fixture) {
    let pool = pool_in(&f).await;
    let guest = new_identity(&pool, t0());
    f.store.create_identity(&guest).await.unwrap();
    let g = login("accounts.google.com", "u1");
    let linked = f
        .link(&pool, std::slice::from_ref(&g), Some(&guest.id))
        .await
        .unwrap();
    assert_eq!(linked.identity.id, guest.id);
    assert_eq!(linked.identity.logins, vec![g]);
}

async fn a_refused_link_changes_nothing(f: Fixture) {
    let pool = pool_in(&f).await;
    let (u1, u2, fb) = (
        login("accounts.google.com", "u1"),
        login("accounts.google.com", "u2"),
        login("graph.facebook.com", "f1"),
    );
    let a = f.identity_of(&pool, &u1).await;
    let err = f
        .link(&pool, &[u1.clone(), u2.clone(), fb.clone()], Some(&a.id))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ResolveError::Link(LinkError::ProviderAlreadyLinked(_))),
        "{err:?}"
    );
    assert_eq!(
        f.store.get_identity(&a.id).await.unwrap().unwrap().logins,
        vec![u1]
    );
    assert_eq!(
        f.store
            .list_identities(&pool, None, 60, false)
            .await
            .unwrap()
            .len(),
        1,
        "no orphan identity"
    );
    let ghost = fresh_id();
    let err = f.link(&pool, &[fb], Some(&ghost)).await.unwrap_err();
    assert!(
        matches!(err, ResolveError::Store(StoreError::NotFound)),
        "{err:?}"
    );
}

async fn concurrent_first_logins_of_one_user_make_one_identity(f: Fixture) {
    let pool = pool_in(&f).await;
    let store: Arc<dyn Store> = f.store.clone();
    let tasks = (0..48).map(|_| {
        let (store, pool) = (store.clone(), pool.clone());
        tokio::spawn(async move {
            store
                .resolve_logins(
                    &pool,
                    &[login("accounts.google.com", "same-user")],
                    None,
                    &LinkRules::default(),
                    &fresh_id(),
                    t0(),
                )
                .await
        })
    });
    let ids: std::collections::BTreeSet<IdentityId> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap().identity.id)
        .collect();
    assert_eq!(ids.len(), 1, "every caller got the same identity");
    let all = f
        .store
        .list_identities(&pool, None, 60, false)
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "and no orphan identity was left behind");
}

async fn unlinking_the_last_login_disables_the_identity(f: Fixture) {
    let pool = pool_in(&f).await;
    let (g, fb) = (
        login("accounts.google.com", "u1"),
        login("graph.facebook.com", "f1"),
    );
    let a = f
        .link(&pool, &[g.clone(), fb.clone()], None)
        .await
        .unwrap()
        .identity;
    let after = f
        .store
        .unlink_logins(&a.id, &["graph.facebook.com".to_owned()], t0())
        .await
        .unwrap();
    assert_eq!(after.logins, vec![g.clone()]);
    assert!(!after.disabled);
    // The unlinked login is free again: it makes a new identity.
    let again = f.link(&pool, &[fb], None).await.unwrap();
    assert!(again.created);
    let after = f
        .store
        .unlink_logins(&a.id, &["accounts.google.com".to_owned()], t0())
        .await
        .unwrap();
    assert!(after.logins.is_empty());
    assert!(after.disabled, "an identity without logins is inaccessible");
}

async fn oidc_providers_are_registered_and_protected_while_in_use(f: Fixture) {
    let provider =
        OidcProvider::new("https://login.example.com", vec!["app1".into()], false).unwrap();
    f.store.create_oidc_provider(&provider, t0()).await.unwrap();
    let err = f
        .store
        .create_oidc_provider(&provider, t0())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    f.store
        .update_oidc_client_ids("login.example.com", &["app1".into(), "app2".into()], t0())
        .await
        .unwrap();
    let got = f
        .store
        .get_oidc_provider("login.example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.client_ids, vec!["app1", "app2"]);
    assert_eq!(f.store.list_oidc_providers().await.unwrap().len(), 1);

    let mut pool = new_pool("uses oidc", &[]);
    pool.config
        .open_id_connect_provider_arns
        .push("arn:aws:iam::123456789012:oidc-provider/login.example.com".into());
    f.store.create_pool(&pool, t0()).await.unwrap();
    let err = f
        .store
        .delete_oidc_provider("login.example.com")
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { .. }),
        "in use: {err:?}"
    );

    let mut unknown = new_pool("unknown oidc", &[]);
    unknown
        .config
        .open_id_connect_provider_arns
        .push("arn:aws:iam::123456789012:oidc-provider/nobody.example.com".into());
    let err = f.store.create_pool(&unknown, t0()).await.unwrap_err();
    assert!(matches!(err, StoreError::UnknownReference(_)), "{err:?}");
    assert!(
        f.store.get_pool(&unknown.id).await.unwrap().is_none(),
        "nothing half-written"
    );

    f.store
        .update_pool(
            &pool.id,
            1,
            &new_pool("no oidc", &[]).config,
            None,
            None,
            t0(),
        )
        .await
        .unwrap();
    f.store
        .delete_oidc_provider("login.example.com")
        .await
        .unwrap();
    assert!(
        f.store
            .get_oidc_provider("login.example.com")
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        f.store
            .delete_oidc_provider("login.example.com")
            .await
            .unwrap_err(),
        StoreError::NotFound
    ));
}

async fn the_credential_ledger_is_queried_newest_first_and_pruned(f: Fixture) {
    let entry = |n: i64, identity: &str| Issuance {
        id: format!("entry-{n}"),
        issued_at: t0() + Duration::minutes(n),
        identity_id: identity.to_owned(),
        pool_id: "us-east-1:pool".to_owned(),
        role_arn: "arn:aws:iam::123456789012:role/r".to_owned(),
        access_key_id: format!("ASIA{n:016}"),
        expires_at: t0() + Duration::minutes(n + 60),
    };
    for n in 0..5 {
        f.store
            .record_issuance(&entry(n, if n % 2 == 0 { "id-a" } else { "id-b" }))
            .await
            .unwrap();
    }
    let by_key = f
        .store
        .find_issuances(
            &IssuanceFilter::AccessKeyId(format!("ASIA{:016}", 3)),
            &IssuanceWindow::default(),
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(by_key, vec![entry(3, "id-b")]);
    let first = f
        .store
        .find_issuances(
            &IssuanceFilter::IdentityId("id-a".into()),
            &IssuanceWindow::default(),
            None,
            2,
        )
        .await
        .unwrap();
    assert_eq!(
        first.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        vec!["entry-4", "entry-2"]
    );
    let rest = f
        .store
        .find_issuances(
            &IssuanceFilter::IdentityId("id-a".into()),
            &IssuanceWindow::default(),
            Some("entry-2"),
            2,
        )
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        vec!["entry-0"]
    );
    assert_eq!(
        f.store
            .find_issuances(
                &IssuanceFilter::PoolId("us-east-1:pool".into()),
                &IssuanceWindow::default(),
                None,
                60
            )
            .await
            .unwrap()
            .len(),
        5
    );
    assert_eq!(
        f.store
            .prune_issuances(t0() + Duration::minutes(2))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        f.store
            .find_issuances(
                &IssuanceFilter::PoolId("us-east-1:pool".into()),
                &IssuanceWindow::default(),
                None,
                60
            )
            .await
            .unwrap()
            .len(),
        3
    );
}

async fn the_ledger_reads_a_window_of_issue_and_expiry_times(f: Fixture) {
    // Entry n: issued at t0 + n minutes, valid for an hour.
    for n in 0..5 {
        f.store
            .record_issuance(&Issuance {
                id: format!("entry-{n}"),
                issued_at: t0() + Duration::minutes(n),
                identity_id: "id-a".to_owned(),
                pool_id: "us-east-1:pool".to_owned(),
                role_arn: "arn:aws:iam::123456789012:role/r".to_owned(),
                access_key_id: format!("ASIA{n:016}"),
                expires_at: t0() + Duration::minutes(n + 60),
            })
            .await
            .unwrap();
    }
    let ids = |window: IssuanceWindow| {
        let store = f.store.clone();
        async move {
            store
                .find_issuances(
                    &IssuanceFilter::IdentityId("id-a".into()),
                    &window,
                    None,
                    60,
                )
                .await
                .unwrap()
                .into_iter()
                .map(|i| i.id)
                .collect::<Vec<_>>()
        }
    };
    let since = IssuanceWindow {
        issued_since: Some(t0() + Duration::minutes(3)),
        live_at: None,
    };
    assert_eq!(
        ids(since).await,
        ["entry-4", "entry-3"],
        "issued at or after"
    );
    let live = IssuanceWindow {
        issued_since: None,
        live_at: Some(t0() + Duration::minutes(62)),
    };
    assert_eq!(
        ids(live).await,
        ["entry-4", "entry-3"],
        "entry 2 expires at minute 62: no longer valid then"
    );
    assert_eq!(ids(IssuanceWindow::default()).await.len(), 5);
}

async fn revocations_are_put_found_for_identity_or_pool_and_deleted(f: Fixture) {
    let pool =
        IdentityPoolId::from_trusted("us-east-1:11111111-2222-3333-4444-555555555555".to_owned());
    let other_pool =
        IdentityPoolId::from_trusted("us-east-1:66666666-7777-8888-9999-000000000000".to_owned());
    let alice =
        IdentityId::from_trusted("us-east-1:aaaaaaaa-2222-3333-4444-555555555555".to_owned());
    let bob = IdentityId::from_trusted("us-east-1:bbbbbbbb-2222-3333-4444-555555555555".to_owned());
    let revocation = |scope, target: &str, minutes| Revocation {
        scope,
        target: target.to_owned(),
        revoked_before: t0() + Duration::minutes(minutes),
        created_at: t0() + Duration::minutes(minutes),
        actor: "admin-token".to_owned(),
    };
    assert_eq!(f.store.revocation_of(&alice, &pool).await.unwrap(), None);

    let first = revocation(RevocationScope::Identity, alice.as_str(), 1);
    assert_eq!(f.store.put_revocation(&first).await.unwrap(), None);
    assert_eq!(
        f.store.revocation_of(&alice, &pool).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(f.store.revocation_of(&bob, &pool).await.unwrap(), None);
    // Revoking again moves the instant and returns the record it replaced.
    let again = revocation(RevocationScope::Identity, alice.as_str(), 5);
    assert_eq!(f.store.put_revocation(&again).await.unwrap(), Some(first));
    assert_eq!(
        f.store.revocation_of(&alice, &pool).await.unwrap(),
        Some(again.clone())
    );

    // A pool's revocation covers every identity of that pool, and only of that pool; an
    // identity's own record is the one reported while both exist.
    let whole = revocation(RevocationScope::Pool, pool.as_str(), 9);
    f.store.put_revocation(&whole).await.unwrap();
    assert_eq!(
        f.store.revocation_of(&bob, &pool).await.unwrap(),
        Some(whole.clone())
    );
    assert_eq!(
        f.store.revocation_of(&bob, &other_pool).await.unwrap(),
        None
    );
    assert_eq!(
        f.store.revocation_of(&alice, &pool).await.unwrap(),
        Some(again.clone())
    );

    assert_eq!(
        f.store
            .delete_revocation(RevocationScope::Identity, alice.as_str())
            .await
            .unwrap(),
        Some(again)
    );
    assert_eq!(
        f.store.revocation_of(&alice, &pool).await.unwrap(),
        Some(whole.clone()),
        "still covered by the pool's"
    );
    assert_eq!(
        f.store
            .delete_revocation(RevocationScope::Pool, pool.as_str())
            .await
            .unwrap(),
        Some(whole)
    );
    assert_eq!(f.store.revocation_of(&alice, &pool).await.unwrap(), None);
    assert_eq!(
        f.store
            .delete_revocation(RevocationScope::Pool, pool.as_str())
            .await
            .unwrap(),
        None
    );
}

async fn only_idle_guests_are_cleaned_up(f: Fixture) {
    let pool = pool_in(&f).await;
    let day = Duration::days(1);
    let idle = new_identity(&pool, t0());
    let used = new_identity(&pool, t0());
    let recent = new_identity(&pool, t0() + day * 9);
    let mut merged_away = new_identity(&pool, t0());
    merged_away.disabled = true;
    for identity in [&idle, &used, &recent, &merged_away] {
        f.store.create_identity(identity).await.unwrap();
    }
    let linked = new_identity(&pool, t0());
    f.store.create_identity(&linked).await.unwrap();
    f.link(
        &pool,
        &[login("accounts.google.com", "u1")],
        Some(&linked.id),
    )
    .await
    .unwrap();

    // Used on day 8; a second use within the hour is not written again.
    f.store
        .mark_used(
            &used.id,
            t0() + day * 8,
            t0() + day * 8 - Duration::hours(1),
        )
        .await
        .unwrap();
    f.store
        .mark_used(&used.id, t0(), t0() - Duration::hours(1))
        .await
        .unwrap();

    // Idle since before day 5: only `idle` qualifies; a limit of 1 takes it in one batch.
    let deleted = f.store.delete_idle_guests(t0() + day * 5, 1).await.unwrap();
    assert_eq!(deleted, 1);
    assert!(f.store.get_identity(&idle.id).await.unwrap().is_none());
    for kept in [&used, &recent, &merged_away, &linked] {
        assert!(
            f.store.get_identity(&kept.id).await.unwrap().is_some(),
            "{} must be kept",
            kept.id
        );
    }
    assert_eq!(
        f.store
            .delete_idle_guests(t0() + day * 5, 100)
            .await
            .unwrap(),
        0
    );
    // Later, the used guest goes too, once it has been idle long enough.
    assert_eq!(
        f.store
            .delete_idle_guests(t0() + day * 8 + Duration::hours(1), 100)
            .await
            .unwrap(),
        1
    );
    assert!(f.store.get_identity(&used.id).await.unwrap().is_none());
}

fn saml_provider(name: &str) -> SamlProvider {
    SamlProvider {
        name: name.to_owned(),
        entity_id: "https://idp.example.com/saml".into(),
        metadata: "<md:EntityDescriptor/>".into(),
        legacy_sha1: false,
        subject_attribute: None,
    }
}

async fn saml_providers_are_registered_and_protected_while_in_use(f: Fixture) {
    let corp = saml_provider("corp");
    f.store.create_saml_provider(&corp, t0()).await.unwrap();
    assert!(matches!(
        f.store.create_saml_provider(&corp, t0()).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(
        f.store.get_saml_provider("corp").await.unwrap(),
        Some(corp.clone())
    );
    let rotated = SamlProvider {
        metadata: "<md:EntityDescriptor entityID='x'/>".into(),
        legacy_sha1: true,
        subject_attribute: Some("urn:oid:0.9.2342.19200300.100.1.1".into()),
        ..corp.clone()
    };
    f.store.update_saml_provider(&rotated, t0()).await.unwrap();
    assert_eq!(
        f.store.list_saml_providers().await.unwrap(),
        vec![rotated.clone()]
    );
    // And back to the NameID.
    let by_name_id = SamlProvider {
        subject_attribute: None,
        ..rotated
    };
    f.store
        .update_saml_provider(&by_name_id, t0())
        .await
        .unwrap();
    assert_eq!(
        f.store.get_saml_provider("corp").await.unwrap(),
        Some(by_name_id)
    );
    assert!(matches!(
        f.store
            .update_saml_provider(&saml_provider("nobody"), t0())
            .await,
        Err(StoreError::NotFound)
    ));

    // A pool naming an unregistered provider is refused; one naming "corp" protects it.
    let mut pool = new_pool("saml", &[]);
    pool.config
        .saml_provider_arns
        .push("arn:aws:iam::123456789012:saml-provider/unknown".into());
    assert!(matches!(
        f.store.create_pool(&pool, t0()).await,
        Err(StoreError::UnknownReference(_))
    ));
    pool.config.saml_provider_arns = vec!["arn:aws:iam::123456789012:saml-provider/corp".into()];
    f.store.create_pool(&pool, t0()).await.unwrap();
    assert!(matches!(
        f.store.delete_saml_provider("corp").await,
        Err(StoreError::Conflict { .. })
    ));
    f.store.delete_pool(&pool.id).await.unwrap();
    f.store.delete_saml_provider("corp").await.unwrap();
    assert!(matches!(
        f.store.delete_saml_provider("corp").await,
        Err(StoreError::NotFound)
    ));
}

async fn the_saml_replay_cache_counts_uses_for_one_pool_and_forgets_expired_ids(f: Fixture) {
    let pool = IdentityPoolId::new(&region(), Uuid::new_v4());
    let other = IdentityPoolId::new(&region(), Uuid::new_v4());
    let expires = t0() + Duration::minutes(10);
    let use_it = |pool: &IdentityPoolId, now| {
        let store = f.store.clone();
        let pool = pool.clone();
        async move {
            store
                .use_saml_assertion("corp", "_a1", &pool, expires, 2, now)
                .await
                .unwrap()
        }
    };
    assert!(use_it(&pool, t0()).await);
    // Another pool may not take it, even with uses left.
    assert!(!use_it(&other, t0()).await);
    assert!(use_it(&pool, t0()).await);
    assert!(
        !use_it(&pool, t0()).await,
        "the third use of two is a replay"
    );
    // The same id from another provider is another assertion.
    assert!(
        f.store
            .use_saml_assertion("other", "_a1", &pool, expires, 2, t0())
            .await
            .unwrap()
    );
    // Concurrent first uses from two "replicas": exactly the bound is accepted.
    let expires2 = t0() + Duration::minutes(10);
    let attempts = (0..6).map(|_| {
        let store = f.store.clone();
        let pool = pool.clone();
        tokio::spawn(async move {
            store
                .use_saml_assertion("corp", "_race", &pool, expires2, 2, t0())
                .await
                .unwrap()
        })
    });
    let mut accepted = 0;
    for attempt in attempts.collect::<Vec<_>>() {
        accepted += usize::from(attempt.await.unwrap());
    }
    assert_eq!(accepted, 2);
    // Pruned once expired; an expired row no longer blocks (its assertion cannot verify).
    assert_eq!(f.store.prune_saml_assertions(t0()).await.unwrap(), 0);
    assert_eq!(f.store.prune_saml_assertions(expires).await.unwrap(), 3);
    assert!(use_it(&pool, expires).await);
}
