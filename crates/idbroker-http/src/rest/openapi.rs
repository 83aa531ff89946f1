//! The OpenAPI 3.1 description of the REST face, generated from the handlers' annotations,
//! served at `/openapi.json`, with a human page at `/docs/` (Swagger UI, bundled at build
//! time from crates.io: nothing is fetched from a CDN).

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    audit, container, developer, explain, identities, keys, ledger, oidc_providers, pools,
    revocation, saml_providers, trust_policy,
};

struct AdminToken;

impl Modify for AdminToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "admin_token",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "idbroker REST API", description = "Identity pools, identities, providers and signing keys. Admin routes need `Authorization: Bearer <IDBROKER_ADMIN_TOKEN>`; the public routes (tag `public`) need none. Errors are application/problem+json whose `title` is the error kind of the AWS face."),
    paths(
        pools::create, pools::list, pools::get, pools::replace, pools::delete,
        pools::get_roles, pools::set_roles, pools::get_principal_tags, pools::set_principal_tags,
        pools::get_tags, pools::add_tags, pools::remove_tag,
        trust_policy::get, trust_policy::check, explain::explain,
        identities::list, identities::get, identities::delete,
        identities::get_id, identities::token, identities::credentials, identities::pool_credentials, identities::unlink,
        container::credentials,
        revocation::revoke_identity, revocation::reenable_identity, revocation::revoke_pool, revocation::reenable_pool,
        developer::token, developer::lookup, developer::merge, developer::unlink,
        oidc_providers::create, oidc_providers::list, oidc_providers::get, oidc_providers::update, oidc_providers::delete,
        saml_providers::create, saml_providers::list, saml_providers::get, saml_providers::update, saml_providers::delete,
        keys::list, keys::rotate,
        ledger::list, audit::list,
    ),
    components(schemas(super::problem::ProblemBody), responses(super::problem::ProblemResponse)),
    modifiers(&AdminToken)
)]
pub struct ApiDoc;
