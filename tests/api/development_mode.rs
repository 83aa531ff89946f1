//! Zero-setup start: no database configured means an embedded SQLite file and generated
//! admin credentials, kept in the data folder and reused on the next start.

use idbroker::settings::{RawSettings, Settings};

use crate::helpers::{sdk_client, start};

#[tokio::test]
async fn development_mode_starts_on_sqlite_with_generated_credentials_that_work() {
    let dir = tempfile::tempdir().unwrap();
    let raw = || RawSettings {
        database_url: Some(format!(
            "sqlite://{}/idbroker.db?mode=rwc",
            dir.path().display()
        )),
        listen: Some("127.0.0.1:0".into()),
        ..RawSettings::default()
    };
    let settings = Settings::from_raw(raw()).unwrap();
    assert!(settings.development_mode.is_some());
    let admin = settings.admin.clone();
    let address = start(settings).await;

    let sdk = sdk_client(&address, &admin.access_key_id, &admin.secret_access_key);
    let pool = crate::helpers::create_pool_on(&sdk, "dev", true)
        .await
        .unwrap();
    sdk.get_id()
        .identity_pool_id(pool.identity_pool_id())
        .send()
        .await
        .unwrap();

    // A second start finds the same secrets and the same data.
    let again = Settings::from_raw(raw()).unwrap();
    assert_eq!(again.admin.access_key_id, admin.access_key_id);
    let address = start(again).await;
    let sdk = sdk_client(&address, &admin.access_key_id, &admin.secret_access_key);
    let listed = sdk
        .list_identity_pools()
        .max_results(5)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.identity_pools().len(), 1);
}
