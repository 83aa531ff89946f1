//! The audit of admin changes: who, what, which resource, before and after; nothing for a
//! change that was refused.

use std::collections::BTreeMap;

use idbroker_domain::{PoolLifetimes, PoolRoles, Tags};
use idbroker_service::testing::{GUEST_ROLE, TestBroker, guest_config};
use idbroker_service::with_actor;
use idbroker_store::{AdminChange, AuditFilter};
use serde_json::Value;

use super::kind;

async fn changes(t: &TestBroker, resource: &str) -> Vec<AdminChange> {
    t.broker
        .find_admin_changes(&AuditFilter::resource(resource), 60, None)
        .await
        .unwrap()
        .items
}

/// The audit lists newest first; changes in the same millisecond have no order among them.
fn tick(t: &TestBroker) {
    t.clock.advance(chrono::Duration::seconds(1));
}

fn json(text: Option<&String>) -> Value {
    serde_json::from_str(text.expect("a recorded state")).unwrap()
}

#[tokio::test]
async fn an_admin_change_records_actor_action_resource_before_and_after() {
    let t = TestBroker::new().await;
    let pool = with_actor(
        "alice".into(),
        t.broker
            .create_identity_pool(guest_config("before"), Tags::default(), Default::default()),
    )
    .await
    .unwrap();
    let id = pool.id.as_str();
    tick(&t);
    with_actor(
        "bob".into(),
        t.broker
            .update_identity_pool(id, guest_config("after"), None, None),
    )
    .await
    .unwrap();

    let recorded = changes(&t, id).await;
    let [update, create] = recorded.as_slice() else {
        panic!("two changes, newest first: {recorded:?}");
    };
    assert_eq!(
        (
            update.actor.as_str(),
            update.action.as_str(),
            update.resource.as_str()
        ),
        ("bob", "UpdateIdentityPool", id)
    );
    assert_eq!(json(update.before.as_ref())["IdentityPoolName"], "before");
    assert_eq!(json(update.after.as_ref())["IdentityPoolName"], "after");
    assert_eq!(json(update.after.as_ref())["IdentityPoolId"], id);

    assert_eq!(
        (create.actor.as_str(), create.action.as_str()),
        ("alice", "CreateIdentityPool")
    );
    assert_eq!(create.before, None, "nothing existed before a create");
    assert_eq!(json(create.after.as_ref())["IdentityPoolName"], "before");
}

#[tokio::test]
async fn a_change_of_lifetimes_alone_shows_in_the_audit() {
    let t = TestBroker::new().await;
    let pool = t.bare_pool("timed").await;
    let id = pool.id.as_str();
    tick(&t);
    let lifetimes = PoolLifetimes {
        token_lifetime_seconds: Some(60),
        ..PoolLifetimes::default()
    };
    t.broker
        .update_identity_pool(id, pool.config.clone(), None, Some(lifetimes.into()))
        .await
        .unwrap();
    let recorded = changes(&t, id).await;
    let update = &recorded[0];
    assert_eq!(update.action, "UpdateIdentityPool");
    assert_eq!(json(update.before.as_ref()).get("Lifetimes"), None);
    assert_eq!(
        json(update.after.as_ref())["Lifetimes"],
        serde_json::json!({"token_lifetime_seconds": 60})
    );
    // Refused bounds change nothing and record nothing.
    let too_long = PoolLifetimes {
        token_lifetime_seconds: Some(86_401),
        ..PoolLifetimes::default()
    };
    assert_eq!(
        kind(
            t.broker
                .update_identity_pool(id, pool.config.clone(), None, Some(too_long.into()))
                .await
        ),
        "InvalidParameterException"
    );
    assert_eq!(changes(&t, id).await.len(), recorded.len());
}

#[tokio::test]
async fn tags_roles_and_deletes_record_their_before_and_after() {
    let t = TestBroker::new().await;
    let pool = t.bare_pool("tagged").await;
    let id = pool.id.as_str();
    tick(&t);
    let roles = PoolRoles {
        roles: BTreeMap::from([("unauthenticated".to_owned(), GUEST_ROLE.to_owned())]),
        role_mappings: BTreeMap::new(),
    };
    t.broker.set_identity_pool_roles(id, roles).await.unwrap();
    tick(&t);
    let tags = Tags::from([("team".to_owned(), "blue".to_owned())]);
    t.broker.tag_pool(id, tags).await.unwrap();
    tick(&t);
    t.broker.delete_identity_pool(id).await.unwrap();

    let recorded = changes(&t, id).await;
    let actions: Vec<&str> = recorded.iter().map(|c| c.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "DeleteIdentityPool",
            "TagResource",
            "SetIdentityPoolRoles",
            "CreateIdentityPool"
        ]
    );
    assert!(
        recorded.iter().all(|c| c.actor == "system"),
        "no request, no actor: {recorded:?}"
    );
    let [delete, tag, roles, _] = recorded.as_slice() else {
        unreachable!()
    };
    assert_eq!(json(tag.before.as_ref()), serde_json::json!({}));
    assert_eq!(
        json(tag.after.as_ref()),
        serde_json::json!({"team": "blue"})
    );
    assert_eq!(json(roles.before.as_ref())["Roles"], serde_json::json!({}));
    assert_eq!(
        json(roles.after.as_ref())["Roles"]["unauthenticated"],
        GUEST_ROLE
    );
    assert_eq!(
        json(delete.before.as_ref())["IdentityPoolTags"]["team"],
        "blue"
    );
    assert_eq!(delete.after, None, "nothing is left after a delete");
}

#[tokio::test]
async fn a_refused_change_records_nothing() {
    let t = TestBroker::new().await;
    let pool = t.developer_pool().await;
    let id = pool.id.as_str();
    let before = changes(&t, id).await;

    // A developer provider cannot be renamed; a name must fit the model.
    let renamed = idbroker_domain::PoolConfig {
        developer_provider_name: Some("other.example".into()),
        ..guest_config("developers")
    };
    let refused = with_actor(
        "mallory".into(),
        t.broker.update_identity_pool(id, renamed, None, None),
    );
    assert_eq!(kind(refused.await), "InvalidParameterException");
    let invalid = guest_config(&"x".repeat(200));
    assert_eq!(
        kind(t.broker.update_identity_pool(id, invalid, None, None).await),
        "ValidationException"
    );
    let bad_tag = Tags::from([(String::new(), "v".to_owned())]);
    assert!(t.broker.tag_pool(id, bad_tag).await.is_err());

    assert_eq!(
        changes(&t, id).await,
        before,
        "refused changes leave no trace"
    );
    assert_eq!(
        t.broker.describe_identity_pool(id).await.unwrap(),
        pool,
        "and change nothing"
    );

    // A provider in use cannot be deleted: refused, not recorded.
    let federated = t.federated_pool().await;
    let provider = &federated.config.open_id_connect_provider_arns[0];
    let key = t.idp.login_key();
    let before = changes(&t, provider).await;
    assert_eq!(
        kind(t.broker.delete_oidc_provider(key).await),
        "ResourceConflictException"
    );
    assert_eq!(changes(&t, provider).await, before);
}

/// Filters by actor, action and time, alone or together, a page at a time; a range that ends
/// before it starts, or an empty filter value, is refused.
#[tokio::test]
async fn the_audit_is_filtered_by_actor_action_and_time() {
    let t = TestBroker::new().await;
    let start = t.broker.now();
    let mut pools = Vec::new();
    for (actor, name) in [
        ("alice", "a1"),
        ("bob", "b1"),
        ("alice", "a2"),
        ("alice", "a3"),
    ] {
        let pool = with_actor(
            actor.into(),
            t.broker
                .create_identity_pool(guest_config(name), Tags::default(), Default::default()),
        )
        .await
        .unwrap();
        pools.push(pool.id.to_string());
        tick(&t);
    }
    let middle = start + chrono::Duration::seconds(2);
    with_actor("bob".into(), t.broker.delete_identity_pool(&pools[0]))
        .await
        .unwrap();
    let find = |filter: AuditFilter, cursor: Option<String>| {
        let broker = &t.broker;
        async move {
            broker
                .find_admin_changes(&filter, 2, cursor.as_deref())
                .await
        }
    };
    let names = |items: &[AdminChange]| {
        items
            .iter()
            .map(|c| format!("{} {} {}", c.actor, c.action, c.resource))
            .collect::<Vec<_>>()
    };

    // By actor, newest first, two to a page.
    let alice = AuditFilter {
        actor: Some("alice".into()),
        ..AuditFilter::default()
    };
    let first = find(alice.clone(), None).await.unwrap();
    assert_eq!(
        names(&first.items),
        [
            format!("alice CreateIdentityPool {}", pools[3]),
            format!("alice CreateIdentityPool {}", pools[2])
        ]
    );
    let second = find(alice.clone(), first.next_token).await.unwrap();
    assert_eq!(
        names(&second.items),
        [format!("alice CreateIdentityPool {}", pools[0])]
    );
    assert_eq!(second.next_token, None);

    // By action, and by action and actor together.
    let deletes = AuditFilter {
        action: Some("DeleteIdentityPool".into()),
        ..AuditFilter::default()
    };
    assert_eq!(
        names(&find(deletes.clone(), None).await.unwrap().items),
        [format!("bob DeleteIdentityPool {}", pools[0])]
    );
    let alice_deletes = AuditFilter {
        actor: Some("alice".into()),
        ..deletes
    };
    assert!(find(alice_deletes, None).await.unwrap().items.is_empty());

    // A time range: since is inclusive, until exclusive.
    let window = AuditFilter {
        since: Some(start + chrono::Duration::seconds(1)),
        until: Some(middle + chrono::Duration::seconds(1)),
        ..AuditFilter::default()
    };
    let page = find(window.clone(), None).await.unwrap();
    assert_eq!(
        names(&page.items),
        [
            format!("alice CreateIdentityPool {}", pools[2]),
            format!("bob CreateIdentityPool {}", pools[1])
        ]
    );
    assert_eq!(page.next_token, None, "exactly two in the window");
    let bobs_window = AuditFilter {
        actor: Some("bob".into()),
        ..window
    };
    assert_eq!(
        names(&find(bobs_window, None).await.unwrap().items),
        [format!("bob CreateIdentityPool {}", pools[1])]
    );

    let backwards = AuditFilter {
        since: Some(middle),
        until: Some(start),
        ..AuditFilter::default()
    };
    assert_eq!(
        kind(find(backwards, None).await),
        "InvalidParameterException"
    );
    let empty = AuditFilter {
        actor: Some(String::new()),
        ..AuditFilter::default()
    };
    assert_eq!(kind(find(empty, None).await), "ValidationException");
}
