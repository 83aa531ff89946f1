//! The Facebook Graph stand-in (`idp.rs`) checks the caller's `access_token` as Graph's
//! `debug_token` does, so a request production gets wrong fails here as it would against
//! Facebook. (idbroker sends the user's own token as the access token: a token may inspect
//! itself, and a pool knows its app id but no app secret.)

use serde_json::{Value, json};

use crate::idp::TestIdp;

async fn debug_token(idp: &TestIdp, query: &[(&str, &str)]) -> (u16, Value) {
    let res = reqwest::Client::new()
        .get(format!("{}/debug_token", idp.base))
        .query(query)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graph_stand_in_refuses_a_wrong_app_token() {
    let idp = TestIdp::start(&[]).await;
    idp.register_facebook_app("fb-app", "s3cret");
    idp.register_facebook_app("other-app", "0ther");
    let user = json!({"app_id": "fb-app", "is_valid": true, "user_id": "10001"});
    idp.accept_access_token("EAAfb-kim", user.clone());
    let input = ("input_token", "EAAfb-kim");

    // What Graph accepts: the app's own access token, or the user token inspecting itself.
    for access in ["fb-app|s3cret", "EAAfb-kim"] {
        let (status, body) = debug_token(&idp, &[input, ("access_token", access)]).await;
        assert_eq!((status, &body["data"]), (200, &user), "{access}: {body}");
    }
    // A wrong secret, an unknown app, a token Graph does not know: invalid access tokens.
    for access in ["fb-app|wrong", "fb-app|", "nobody|s3cret", "EAAfb-unknown"] {
        let (status, body) = debug_token(&idp, &[input, ("access_token", access)]).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (400, &json!(190)),
            "{access}: {body}"
        );
    }
    // A valid token of another app may not inspect this app's tokens.
    let (status, body) = debug_token(&idp, &[input, ("access_token", "other-app|0ther")]).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!(100)),
        "{body}"
    );
    // No access token at all.
    let (status, body) = debug_token(&idp, &[input]).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!(104)),
        "{body}"
    );
}
