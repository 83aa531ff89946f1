//! The AWS JSON 1.1 face: `POST /` with `X-Amz-Target: AWSCognitoIdentityService.<Operation>`.
//!
//! A request goes: operation from the target header → SigV4 check for the signed operations →
//! body parsed into the operation's input shape → one `Broker` call → output shape as JSON.
//! Bodies are read with a size limit before anything else touches them.

pub mod error;
pub mod operation;
mod shapes;
pub mod sigv4;

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use idbroker_service::DeletionFailure;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use self::error::AwsError;
use self::operation::Operation;
use self::shapes::*;
use crate::AppState;

pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// Largest request body accepted. The biggest legitimate request is a Logins map of
/// 10 tokens of up to 50,000 characters each, about 0.5 MB.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub async fn handle(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AwsError> {
    let target = req
        .headers()
        .get("x-amz-target")
        .map(|v| v.to_str().unwrap_or_default());
    let op = Operation::from_target(target)?;
    let body = read_body(payload).await?;
    // The audit's actor is named by `crate::actor` for both faces.
    if op.is_public() {
        state
            .limits
            .check_client(&req)
            .map_err(AwsError::too_many_requests)?;
    } else {
        state.verifier.verify(&req, &body)?;
    }
    tracing::debug!(operation = op.name(), "dispatching");
    let started = std::time::Instant::now();
    let result = dispatch(op, &body, &state).await;
    crate::metrics::aws_operation(
        op.name(),
        result.as_ref().map_or_else(|e| e.kind, |_| "ok"),
        started,
    );
    Ok(HttpResponse::Ok().content_type(CONTENT_TYPE).json(result?))
}

pub async fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header(("Allow", "GET, POST"))
        .content_type(CONTENT_TYPE)
        .json(json!({"__type": "UnknownOperationException", "message": "The AWS JSON face only accepts POST / (GET / lists where things are)"}))
}

async fn read_body(mut payload: web::Payload) -> Result<web::Bytes, AwsError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            AwsError::serialization(format!("Could not read the request body: {e}"))
        })?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(AwsError::invalid_parameter(format!(
                "Request body is larger than {MAX_BODY_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Parses an input shape. Broken JSON and JSON of the wrong shape (not an object, wrong member
/// types) are a SerializationException; a missing required member is a ValidationException.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, AwsError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        let described = crate::echo::json_error(&e);
        match e.classify() {
            // A required member is missing: a model constraint.
            serde_json::error::Category::Data if described.starts_with("missing field") => {
                AwsError::validation(format!("1 validation error detected: {described}"))
            }
            // A member of the wrong type cannot be read at all, as AWS answers it.
            serde_json::error::Category::Data => AwsError::serialization(format!(
                "Request body does not match the operation's input: {described}"
            )),
            _ => AwsError::serialization(format!("Request body is not valid JSON: {described}")),
        }
    })
}

fn render<T: Serialize>(output: T) -> Result<Value, AwsError> {
    serde_json::to_value(output).map_err(|e| {
        tracing::error!(error = %e, "could not serialise a response");
        AwsError::internal()
    })
}

async fn dispatch(op: Operation, body: &[u8], state: &AppState) -> Result<Value, AwsError> {
    let broker = &state.broker;
    match op {
        Operation::CreateIdentityPool => {
            let input: CreateIdentityPoolInput = parse(body)?;
            let pool = broker
                .create_identity_pool(
                    input.config,
                    input.identity_pool_tags.unwrap_or_default(),
                    // Lifetimes and exchange audiences are idbroker's extensions: the AWS face
                    // has no members for them.
                    Default::default(),
                )
                .await?;
            render(IdentityPoolOutput::from(pool))
        }
        Operation::DescribeIdentityPool => {
            let input: PoolIdInput = parse(body)?;
            render(IdentityPoolOutput::from(
                broker
                    .describe_identity_pool(&input.identity_pool_id)
                    .await?,
            ))
        }
        Operation::UpdateIdentityPool => {
            let input: UpdateIdentityPoolInput = parse(body)?;
            let pool = broker
                .update_identity_pool(
                    &input.identity_pool_id,
                    input.config,
                    input.identity_pool_tags,
                    None, // keeps the lifetimes and exchange audiences set on the REST face
                )
                .await?;
            render(IdentityPoolOutput::from(pool))
        }
        Operation::DeleteIdentityPool => {
            let input: PoolIdInput = parse(body)?;
            broker.delete_identity_pool(&input.identity_pool_id).await?;
            Ok(json!({}))
        }
        Operation::ListIdentityPools => {
            let input: ListIdentityPoolsInput = parse(body)?;
            let page = broker
                .list_identity_pools(input.max_results, input.next_token.as_deref())
                .await?;
            render(ListIdentityPoolsOutput {
                identity_pools: page
                    .items
                    .into_iter()
                    .map(|p| PoolShortDescription {
                        identity_pool_id: p.id.to_string(),
                        identity_pool_name: p.name,
                    })
                    .collect(),
                next_token: page.next_token,
            })
        }
        Operation::TagResource => {
            let input: TagResourceInput = parse(body)?;
            let pool_id = pool_of_arn(broker, &input.resource_arn)?;
            broker.tag_pool(&pool_id, input.tags).await?;
            Ok(json!({}))
        }
        Operation::UntagResource => {
            let input: UntagResourceInput = parse(body)?;
            let pool_id = pool_of_arn(broker, &input.resource_arn)?;
            broker.untag_pool(&pool_id, input.tag_keys).await?;
            Ok(json!({}))
        }
        Operation::ListTagsForResource => {
            let input: ResourceArnInput = parse(body)?;
            render(ListTagsOutput {
                tags: broker
                    .pool_tags(&pool_of_arn(broker, &input.resource_arn)?)
                    .await?,
            })
        }
        Operation::SetIdentityPoolRoles => {
            let input: SetIdentityPoolRolesInput = parse(body)?;
            let roles = idbroker_domain::PoolRoles {
                roles: input.roles,
                role_mappings: input.role_mappings,
            };
            broker
                .set_identity_pool_roles(&input.identity_pool_id, roles)
                .await?;
            Ok(json!({}))
        }
        Operation::GetIdentityPoolRoles => {
            let input: PoolIdInput = parse(body)?;
            let (id, roles) = broker
                .get_identity_pool_roles(&input.identity_pool_id)
                .await?;
            render(GetIdentityPoolRolesOutput {
                identity_pool_id: id.to_string(),
                roles,
            })
        }
        Operation::SetPrincipalTagAttributeMap => {
            let input: SetPrincipalTagAttributeMapInput = parse(body)?;
            let (id, map) = broker
                .set_principal_tag_attribute_map(
                    &input.identity_pool_id,
                    &input.identity_provider_name,
                    input.map,
                )
                .await?;
            render(PrincipalTagAttributeMapOutput {
                identity_pool_id: id.to_string(),
                identity_provider_name: input.identity_provider_name,
                map,
            })
        }
        Operation::GetPrincipalTagAttributeMap => {
            let input: GetPrincipalTagAttributeMapInput = parse(body)?;
            let (id, map) = broker
                .get_principal_tag_attribute_map(
                    &input.identity_pool_id,
                    &input.identity_provider_name,
                )
                .await?;
            render(PrincipalTagAttributeMapOutput {
                identity_pool_id: id.to_string(),
                identity_provider_name: input.identity_provider_name,
                map,
            })
        }
        Operation::GetId => {
            let input: GetIdInput = parse(body)?;
            // The pool's limit is charged only once the call is known to be valid.
            let id = broker
                .get_id(
                    &input.identity_pool_id,
                    input.account_id.as_deref(),
                    &input.logins,
                    |pool| state.limits.check_pool(pool).map_err(|r| r.0),
                )
                .await?;
            render(IdentityIdOutput {
                identity_id: id.to_string(),
            })
        }
        Operation::DescribeIdentity => {
            let input: DescribeIdentityInput = parse(body)?;
            render(IdentityDescription::from(
                broker.describe_identity(&input.identity_id).await?,
            ))
        }
        Operation::ListIdentities => {
            let input: ListIdentitiesInput = parse(body)?;
            let page = broker
                .list_identities(
                    &input.identity_pool_id,
                    input.max_results,
                    input.next_token.as_deref(),
                    input.hide_disabled.unwrap_or(false),
                )
                .await?;
            render(ListIdentitiesOutput {
                identity_pool_id: input.identity_pool_id,
                identities: page
                    .items
                    .into_iter()
                    .map(IdentityDescription::from)
                    .collect(),
                next_token: page.next_token,
            })
        }
        Operation::DeleteIdentities => {
            let input: DeleteIdentitiesInput = parse(body)?;
            let unprocessed = broker
                .delete_identities(&input.identity_ids_to_delete)
                .await?;
            render(DeleteIdentitiesOutput {
                unprocessed_identity_ids: unprocessed
                    .into_iter()
                    .map(|u| UnprocessedIdentityId {
                        identity_id: u.id.to_string(),
                        error_code: match u.error {
                            DeletionFailure::InternalServerError => "InternalServerError",
                        },
                    })
                    .collect(),
            })
        }
        Operation::UnlinkIdentity => {
            let input: UnlinkIdentityInput = parse(body)?;
            broker
                .unlink_identity(&input.identity_id, &input.logins, &input.logins_to_remove)
                .await?;
            Ok(json!({}))
        }
        Operation::GetOpenIdToken => {
            let input: GetOpenIdTokenInput = parse(body)?;
            let (id, token) = broker
                .get_open_id_token(&input.identity_id, &input.logins)
                .await?;
            render(TokenOutput {
                identity_id: id.to_string(),
                token,
            })
        }
        Operation::GetOpenIdTokenForDeveloperIdentity => {
            let input: DeveloperTokenInput = parse(body)?;
            let (id, token) = broker
                .get_open_id_token_for_developer_identity(
                    &input.identity_pool_id,
                    input.identity_id.as_deref(),
                    &input.logins,
                    input.principal_tags,
                    input.token_duration,
                )
                .await?;
            render(TokenOutput {
                identity_id: id.to_string(),
                token,
            })
        }
        Operation::LookupDeveloperIdentity => {
            let input: LookupDeveloperIdentityInput = parse(body)?;
            let (id, page) = broker
                .lookup_developer_identity(
                    &input.identity_pool_id,
                    input.identity_id.as_deref(),
                    input.developer_user_identifier.as_deref(),
                    input.max_results,
                    input.next_token.as_deref(),
                )
                .await?;
            render(LookupDeveloperIdentityOutput {
                identity_id: id.to_string(),
                developer_user_identifier_list: page.items,
                next_token: page.next_token,
            })
        }
        Operation::MergeDeveloperIdentities => {
            let input: MergeDeveloperIdentitiesInput = parse(body)?;
            let id = broker
                .merge_developer_identities(
                    &input.identity_pool_id,
                    &input.developer_provider_name,
                    &input.source_user_identifier,
                    &input.destination_user_identifier,
                )
                .await?;
            render(IdentityIdOutput {
                identity_id: id.to_string(),
            })
        }
        Operation::UnlinkDeveloperIdentity => {
            let input: UnlinkDeveloperIdentityInput = parse(body)?;
            broker
                .unlink_developer_identity(
                    &input.identity_pool_id,
                    &input.identity_id,
                    &input.developer_provider_name,
                    &input.developer_user_identifier,
                )
                .await?;
            Ok(json!({}))
        }
        Operation::GetCredentialsForIdentity => {
            let input: GetCredentialsInput = parse(body)?;
            let (id, credentials) = broker
                .get_credentials_for_identity(
                    &input.identity_id,
                    &input.logins,
                    input.custom_role_arn.as_deref(),
                )
                .await?;
            render(GetCredentialsOutput::new(id.to_string(), credentials))
        }
    }
}

/// The pool a `ResourceArn` names, if it is one of this broker's; ResourceNotFound otherwise.
/// ARNs are the AWS face's way of naming a pool; the service takes pool ids.
fn pool_of_arn(
    broker: &idbroker_service::Broker,
    resource_arn: &str,
) -> Result<String, idbroker_service::ServiceError> {
    let arn = idbroker_domain::PoolArn::parse("resourceArn", resource_arn)?;
    let settings = broker.settings();
    if !arn.is_ours(&settings.region, &settings.account_id) {
        return Err(idbroker_service::ServiceError::ResourceNotFound(format!(
            "Resource '{resource_arn}' not found."
        )));
    }
    Ok(arn.pool_id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    #[allow(dead_code)] // only parsed
    struct Probe {
        identity_pool_id: String,
    }

    #[test]
    fn broken_json_and_wrong_types_are_serialization_errors_and_missing_members_validation() {
        assert_eq!(
            parse::<Probe>(b"{not json").unwrap_err().kind,
            "SerializationException"
        );
        assert_eq!(
            parse::<Probe>(b"[1,2]").unwrap_err().kind,
            "SerializationException"
        );
        assert_eq!(
            parse::<Probe>(b"{}").unwrap_err().kind,
            "ValidationException"
        );
        assert_eq!(
            parse::<Probe>(br#"{"IdentityPoolId": 5}"#)
                .unwrap_err()
                .kind,
            "SerializationException"
        );
        assert!(parse::<Probe>(br#"{"IdentityPoolId": "x"}"#).is_ok());
    }

    #[test]
    fn an_empty_body_is_an_empty_object() {
        assert_eq!(parse::<Probe>(b"").unwrap_err().kind, "ValidationException");
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// Arbitrary JSON, with the public operations' member names among the keys so that
        /// the shapes' own fields are reached with wrong types and odd values.
        fn json() -> impl Strategy<Value = Value> {
            let key = prop_oneof![
                Just("IdentityPoolId".to_owned()),
                Just("IdentityId".to_owned()),
                Just("Logins".to_owned()),
                Just("LoginsToRemove".to_owned()),
                Just("CustomRoleArn".to_owned()),
                Just("AccountId".to_owned()),
                ".{0,12}",
            ];
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                ".{0,40}".prop_map(Value::String),
            ];
            leaf.prop_recursive(4, 32, 6, move |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                    prop::collection::btree_map(key.clone(), inner, 0..6)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        fn typed(err: &AwsError) -> bool {
            matches!(err.kind, "SerializationException" | "ValidationException")
                && err.message.chars().count() <= crate::echo::MAX_MESSAGE_CHARS + 1
        }

        fn parse_all(body: &[u8]) -> Result<(), TestCaseError> {
            let results = [
                parse::<GetIdInput>(body).err(),
                parse::<GetOpenIdTokenInput>(body).err(),
                parse::<GetCredentialsInput>(body).err(),
                parse::<UnlinkIdentityInput>(body).err(),
            ];
            for err in results.iter().flatten() {
                prop_assert!(typed(err), "{err:?}");
            }
            Ok(())
        }

        proptest! {
            #[test]
            fn public_operation_bodies_parse_or_fail_typed(value in json()) {
                parse_all(value.to_string().as_bytes())?;
            }

            #[test]
            fn arbitrary_bytes_parse_or_fail_typed(body in prop::collection::vec(any::<u8>(), 0..512)) {
                parse_all(&body)?;
            }
        }
    }
}
