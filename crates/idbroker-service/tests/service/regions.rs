//! Identity ids are in their pool's region (as Cognito makes them), also for a pool imported
//! or copied from a region other than this idbroker's (`IDBROKER_REGION`), so an export of
//! such a pool imports again (the import requires it).

use idbroker_domain::{IdentityPool, IdentityPoolId};
use idbroker_service::testing::{TestBroker, guest_config};
use idbroker_store::PoolStore;

use super::{admit, none};

#[tokio::test]
async fn a_new_identity_of_a_pool_from_another_region_is_in_the_pool_s_region() {
    let t = TestBroker::builder().build().await;
    let here = t.guest_pool().await;
    let pool = IdentityPool {
        id: IdentityPoolId::parse("id", "ap-south-1:0a000000-0000-4000-8000-000000000001").unwrap(),
        config: guest_config("from elsewhere"),
        tags: Default::default(),
        lifetimes: Default::default(),
        exchange_audiences: Vec::new(),
    };
    assert_ne!(
        pool.id.region(),
        here.id.region(),
        "the test needs two regions"
    );
    t.store
        .create_pool(&pool, chrono::Utc::now())
        .await
        .unwrap();
    let id = t
        .broker
        .get_id(pool.id.as_str(), None, &none(), admit)
        .await
        .unwrap();
    assert!(id.as_str().starts_with("ap-south-1:"), "{id}");
    let id = t
        .broker
        .get_id(here.id.as_str(), None, &none(), admit)
        .await
        .unwrap();
    assert_eq!(id.region(), here.id.region(), "{id}");
}
