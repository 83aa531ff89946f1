//! Pools: the list, a pool's detail (providers, roles, role mappings, principal-tag maps),
//! and the create, edit, roles and principal-tag forms. Forms become the REST contract's
//! bodies (`idbroker_api::pools`) and go through `rest::contract` and the same `Broker`
//! methods as `PUT /v1/identity-pools/…`, so a refusal reads as the API's.

use std::collections::BTreeMap;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Path, Query};
use idbroker_api::pools::{
    CognitoProvider, PoolRequest, PrincipalTagsBody, RoleMapping, RolesBody,
};
use idbroker_domain::{IdentityPool, PoolRoles, PrincipalTagMap};
use maud::{Markup, html};
use serde::Deserialize;

use super::forms::{self, FormError, from_problem, invalid};
use super::page::{self, Section, csrf, notice, pager, urlencode};
use super::session::Session;
use super::{Reply, State, see_other};
use crate::rest::contract::{pool_config, pool_roles, principal_tag_map, roles_body};

#[derive(Deserialize)]
pub struct Paging {
    cursor: Option<String>,
}

pub async fn list(session: Session, state: State, paging: Query<Paging>) -> Reply {
    let page = state
        .broker
        .list_identity_pools(60, paging.cursor.as_deref())
        .await?;
    Ok(page::page(
        &session,
        Section::Pools,
        "Identity pools",
        html! {
            p { a href="/console/pools/new" { "Create a pool" } }
            @if page.items.is_empty() {
                p.muted { "No pools yet." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th { "Name" } th { "Pool id" } } }
                    tbody {
                        @for pool in &page.items {
                            tr {
                                td { a href={ "/console/pools/" (urlencode(pool.id.as_str())) } { (pool.name) } }
                                td.mono { (pool.id) }
                            }
                        }
                    }
                } }
            }
            (pager("/console/pools?", page.next_token.as_deref()))
        },
    ))
}

/// The pool form's fields, as text (what the browser posts and what the page shows again).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PoolForm {
    identity_pool_name: String,
    allow_unauthenticated_identities: Option<String>,
    /// "" (unset: allowed, as Cognito's legacy default), "true" or "false".
    allow_classic_flow: String,
    developer_provider_name: String,
    supported_login_providers: String,
    open_id_connect_provider_arns: String,
    cognito_identity_providers: String,
    saml_provider_arns: String,
    exchange_audiences: String,
    identity_pool_tags: String,
    credential_duration_seconds: String,
    token_lifetime_seconds: String,
    max_token_lifetime_seconds: String,
    credential_reuse_seconds: String,
}

impl PoolForm {
    fn of(pool: &IdentityPool) -> Self {
        let c = &pool.config;
        let number = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
        Self {
            identity_pool_name: c.identity_pool_name.clone(),
            allow_unauthenticated_identities: c
                .allow_unauthenticated_identities
                .then(|| "on".to_owned()),
            allow_classic_flow: c
                .allow_classic_flow
                .map(|b| b.to_string())
                .unwrap_or_default(),
            developer_provider_name: c.developer_provider_name.clone().unwrap_or_default(),
            supported_login_providers: forms::unpairs(&c.supported_login_providers),
            open_id_connect_provider_arns: c.open_id_connect_provider_arns.join("\n"),
            cognito_identity_providers: c
                .cognito_identity_providers
                .iter()
                .map(|p| {
                    format!(
                        "{},{}{}",
                        p.provider_name.as_deref().unwrap_or_default(),
                        p.client_id.as_deref().unwrap_or_default(),
                        if p.server_side_token_check == Some(true) {
                            ",true"
                        } else {
                            ""
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
            saml_provider_arns: c.saml_provider_arns.join("\n"),
            exchange_audiences: pool.exchange_audiences.join("\n"),
            identity_pool_tags: forms::unpairs(&pool.tags),
            credential_duration_seconds: number(pool.lifetimes.credential_duration_seconds),
            token_lifetime_seconds: number(pool.lifetimes.token_lifetime_seconds),
            max_token_lifetime_seconds: number(pool.lifetimes.max_token_lifetime_seconds),
            credential_reuse_seconds: number(pool.lifetimes.credential_reuse_seconds),
        }
    }

    /// The REST body this form stands for.
    fn request(&self) -> Result<PoolRequest, FormError> {
        let allow_classic_flow = match self.allow_classic_flow.as_str() {
            "" => None,
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                return Err(invalid(
                    "allow_classic_flow must be unset, true or false".into(),
                ));
            }
        };
        let cognito_identity_providers = forms::lines(&self.cognito_identity_providers)
            .into_iter()
            .map(|line| {
                let parts: Vec<&str> = line.split(',').map(str::trim).collect();
                match parts[..] {
                    [name, client] => Ok((name, client, None)),
                    [name, client, check] => Ok((name, client, Some(check == "true"))),
                    _ => Err(invalid(format!(
                        "cognito_identity_providers: each line is provider_name,client_id[,true]; this one is not: {}",
                        crate::echo::bounded(line.clone())
                    ))),
                }
                .map(|(name, client, check)| CognitoProvider {
                    provider_name: Some(name.to_owned()),
                    client_id: Some(client.to_owned()),
                    server_side_token_check: check,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tags = forms::pairs("identity_pool_tags", &self.identity_pool_tags)?;
        Ok(PoolRequest {
            identity_pool_name: self.identity_pool_name.trim().to_owned(),
            allow_unauthenticated_identities: self.allow_unauthenticated_identities.is_some(),
            allow_classic_flow,
            supported_login_providers: forms::pairs(
                "supported_login_providers",
                &self.supported_login_providers,
            )?,
            developer_provider_name: forms::optional(&self.developer_provider_name),
            open_id_connect_provider_arns: forms::lines(&self.open_id_connect_provider_arns),
            cognito_identity_providers,
            saml_provider_arns: forms::lines(&self.saml_provider_arns),
            identity_pool_tags: Some(tags),
            credential_duration_seconds: forms::number(
                "credential_duration_seconds",
                &self.credential_duration_seconds,
            )?,
            token_lifetime_seconds: forms::number(
                "token_lifetime_seconds",
                &self.token_lifetime_seconds,
            )?,
            max_token_lifetime_seconds: forms::number(
                "max_token_lifetime_seconds",
                &self.max_token_lifetime_seconds,
            )?,
            credential_reuse_seconds: forms::number(
                "credential_reuse_seconds",
                &self.credential_reuse_seconds,
            )?,
            exchange_audiences: forms::lines(&self.exchange_audiences),
        })
    }
}

fn pool_form(
    session: &Session,
    action: &str,
    submit: &str,
    form: &PoolForm,
    error: Option<&FormError>,
) -> Markup {
    let classic = |value: &str| form.allow_classic_flow == value;
    html! {
        (notice(error))
        form.stack method="post" action=(action) {
            (csrf(session))
            label { "Name" small { "IdentityPoolName: 1–128 of letters, digits, spaces, + = , . @ -" }
                input type="text" name="identity_pool_name" value=(form.identity_pool_name) required; }
            label.check { input type="checkbox" name="allow_unauthenticated_identities" checked[form.allow_unauthenticated_identities.is_some()];
                "Allow guests (unauthenticated identities)" }
            label { "Classic (basic) flow"
                select name="allow_classic_flow" {
                    option value="" selected[classic("")] { "unset (allowed)" }
                    option value="true" selected[classic("true")] { "allowed" }
                    option value="false" selected[classic("false")] { "refused" }
                } }
            label { "Supported login providers" small { "one provider=app id per line, e.g. accounts.google.com=my-client" }
                textarea name="supported_login_providers" { (form.supported_login_providers) } }
            label { "Developer provider name" input type="text" name="developer_provider_name" value=(form.developer_provider_name); }
            label { "OpenID Connect provider ARNs" small { "one per line" }
                textarea name="open_id_connect_provider_arns" { (form.open_id_connect_provider_arns) } }
            label { "Cognito user pools" small { "one provider_name,client_id[,true] per line" }
                textarea name="cognito_identity_providers" { (form.cognito_identity_providers) } }
            label { "SAML provider ARNs" small { "one per line" }
                textarea name="saml_provider_arns" { (form.saml_provider_arns) } }
            label { "Token-exchange audiences" small { "one per line" }
                textarea name="exchange_audiences" { (form.exchange_audiences) } }
            label { "Tags" small { "one key=value per line" }
                textarea name="identity_pool_tags" { (form.identity_pool_tags) } }
            div.grid2 {
                label { "Credential duration (s)" input type="text" inputmode="numeric" name="credential_duration_seconds" value=(form.credential_duration_seconds); }
                label { "Token lifetime (s)" input type="text" inputmode="numeric" name="token_lifetime_seconds" value=(form.token_lifetime_seconds); }
                label { "Longest token lifetime (s)" input type="text" inputmode="numeric" name="max_token_lifetime_seconds" value=(form.max_token_lifetime_seconds); }
                label { "Credential reuse (s)" input type="text" inputmode="numeric" name="credential_reuse_seconds" value=(form.credential_reuse_seconds); }
            }
            button type="submit" { (submit) }
        }
    }
}

fn form_page(session: &Session, status: StatusCode, title: &str, content: Markup) -> HttpResponse {
    let mut res = page::page(session, Section::Pools, title, content);
    *res.status_mut() = status;
    res
}

pub async fn new_form(session: Session) -> HttpResponse {
    let form = PoolForm::default();
    page::page(
        &session,
        Section::Pools,
        "Create a pool",
        pool_form(&session, "/console/pools/new", "Create", &form, None),
    )
}

pub async fn create(session: Session, state: State, body: Bytes) -> Reply {
    let form: PoolForm = session.form(&body)?;
    let created = match form.request() {
        Ok(request) => {
            let (config, tags, extensions) = pool_config(request);
            state
                .broker
                .create_identity_pool(config, tags.unwrap_or_default(), extensions)
                .await
                .map_err(|e| from_problem(e.into()))
        }
        Err(e) => Err(e),
    };
    match created {
        Ok(pool) => Ok(see_other(&pool_page(pool.id.as_str()))),
        Err(error) => Ok(form_page(
            &session,
            StatusCode::BAD_REQUEST,
            "Create a pool",
            pool_form(
                &session,
                "/console/pools/new",
                "Create",
                &form,
                Some(&error),
            ),
        )),
    }
}

#[derive(Deserialize)]
pub struct PoolPath {
    pool_id: String,
}

pub async fn edit_form(session: Session, state: State, path: Path<PoolPath>) -> Reply {
    let pool = state.broker.describe_identity_pool(&path.pool_id).await?;
    let action = format!("/console/pools/{}/edit", urlencode(pool.id.as_str()));
    Ok(page::page(
        &session,
        Section::Pools,
        &format!("Edit {}", pool.config.identity_pool_name),
        pool_form(&session, &action, "Save", &PoolForm::of(&pool), None),
    ))
}

pub async fn update(session: Session, state: State, path: Path<PoolPath>, body: Bytes) -> Reply {
    let form: PoolForm = session.form(&body)?;
    let updated = match form.request() {
        Ok(request) => {
            let (config, tags, extensions) = pool_config(request);
            state
                .broker
                .update_identity_pool(&path.pool_id, config, tags, Some(extensions))
                .await
                .map_err(|e| from_problem(e.into()))
        }
        Err(e) => Err(e),
    };
    let action = format!("/console/pools/{}/edit", urlencode(&path.pool_id));
    match updated {
        Ok(pool) => Ok(see_other(&pool_page(pool.id.as_str()))),
        Err(error) => Ok(form_page(
            &session,
            StatusCode::BAD_REQUEST,
            "Edit the pool",
            pool_form(&session, &action, "Save", &form, Some(&error)),
        )),
    }
}

/// What the detail page shows again after a refused roles or principal-tags form.
#[derive(Default)]
struct Refused {
    roles: Option<(RolesForm, FormError)>,
    tags: Option<(TagsForm, FormError)>,
}

pub async fn detail(session: Session, state: State, path: Path<PoolPath>) -> Reply {
    detail_page(&session, &state, &path.pool_id, Refused::default()).await
}

/// The pool's detail page, as a path.
fn pool_page(pool_id: &str) -> String {
    format!("/console/pools/{}", urlencode(pool_id))
}

/// After a form on the detail page: back to the page, or the page again showing the refusal.
async fn after_detail_form<T, E>(
    session: &Session,
    state: &State,
    pool_id: &str,
    result: Result<T, E>,
    refused: impl FnOnce(E) -> Refused,
) -> Reply {
    match result {
        Ok(_) => Ok(see_other(&pool_page(pool_id))),
        Err(error) => detail_page(session, state, pool_id, refused(error)).await,
    }
}

async fn detail_page(session: &Session, state: &State, pool_id: &str, refused: Refused) -> Reply {
    let pool = state.broker.describe_identity_pool(pool_id).await?;
    let (_, roles) = state.broker.get_identity_pool_roles(pool_id).await?;
    let mut tag_maps = Vec::new();
    for provider in pool.config.provider_names() {
        let (_, map) = state
            .broker
            .get_principal_tag_attribute_map(pool_id, &provider)
            .await?;
        tag_maps.push((provider, map));
    }
    let status = if refused.roles.is_some() || refused.tags.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let id = urlencode(pool.id.as_str());
    let content = html! {
        p {
            a href={ "/console/pools/" (id) "/edit" } { "Edit" } " · "
            a href={ "/console/identities?pool_id=" (id) } { "Identities" } " · "
            a href={ "/console/pools/" (id) "/explain" } { "Explain a login" } " · "
            a href={ "/console/audit?resource=" (id) } { "Audit" }
        }
        section.card { (pool_facts(&pool)) }
        h2 { "Roles and role mappings" }
        (roles_section(session, &pool, &roles, refused.roles.as_ref()))
        h2 { "Principal-tag maps" }
        (tags_section(session, &pool, &tag_maps, refused.tags.as_ref()))
    };
    let mut res = page::page(
        session,
        Section::Pools,
        &pool.config.identity_pool_name,
        content,
    );
    *res.status_mut() = status;
    Ok(res)
}

fn list_or_none(items: &[String]) -> Markup {
    html! {
        @if items.is_empty() { span.muted { "none" } }
        @else { @for item in items { div.mono { (item) } } }
    }
}

fn pool_facts(pool: &IdentityPool) -> Markup {
    let c = &pool.config;
    let l = &pool.lifetimes;
    let seconds = |n: Option<i64>| n.map_or_else(|| "default".to_owned(), |n| format!("{n} s"));
    html! {
        dl.facts {
            dt { "Pool id" } dd.mono { (pool.id) }
            dt { "Guests" } dd { @if c.allow_unauthenticated_identities { "allowed" } @else { "refused" } }
            dt { "Classic flow" } dd { @match c.allow_classic_flow { None => "unset (allowed)", Some(true) => "allowed", Some(false) => "refused" } }
            dt { "Supported login providers" } dd {
                @if c.supported_login_providers.is_empty() { span.muted { "none" } }
                @for (provider, client) in &c.supported_login_providers { div.mono { (provider) " → " (client) } }
            }
            dt { "Developer provider" } dd { (c.developer_provider_name.as_deref().unwrap_or("none")) }
            dt { "OpenID Connect providers" } dd { (list_or_none(&c.open_id_connect_provider_arns)) }
            dt { "Cognito user pools" } dd {
                @if c.cognito_identity_providers.is_empty() { span.muted { "none" } }
                @for p in &c.cognito_identity_providers { div.mono { (p.provider_name.as_deref().unwrap_or_default()) " → " (p.client_id.as_deref().unwrap_or_default()) @if p.server_side_token_check == Some(true) { " (server-side check)" } } }
            }
            dt { "SAML providers" } dd { (list_or_none(&c.saml_provider_arns)) }
            dt { "Token-exchange audiences" } dd { (list_or_none(&pool.exchange_audiences)) }
            dt { "Tags" } dd {
                @if pool.tags.is_empty() { span.muted { "none" } }
                @for (k, v) in &pool.tags { div.mono { (k) "=" (v) } }
            }
            dt { "Lifetimes" } dd {
                "credentials " (seconds(l.credential_duration_seconds)) ", tokens " (seconds(l.token_lifetime_seconds))
                ", longest token " (seconds(l.max_token_lifetime_seconds)) ", reuse " (seconds(l.credential_reuse_seconds))
            }
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RolesForm {
    authenticated: String,
    unauthenticated: String,
    /// The role mappings as the REST body's `role_mappings` object (JSON).
    role_mappings: String,
}

impl RolesForm {
    fn of(roles: &PoolRoles) -> Self {
        let body = roles_body(roles.clone());
        Self {
            authenticated: body.roles.get("authenticated").cloned().unwrap_or_default(),
            unauthenticated: body
                .roles
                .get("unauthenticated")
                .cloned()
                .unwrap_or_default(),
            role_mappings: if body.role_mappings.is_empty() {
                String::new()
            } else {
                serde_json::to_string_pretty(&body.role_mappings).unwrap_or_default()
            },
        }
    }

    fn body(&self) -> Result<RolesBody, FormError> {
        let mut roles = BTreeMap::new();
        for (key, value) in [
            ("authenticated", &self.authenticated),
            ("unauthenticated", &self.unauthenticated),
        ] {
            if let Some(arn) = forms::optional(value) {
                roles.insert(key.to_owned(), arn);
            }
        }
        let role_mappings: BTreeMap<String, RoleMapping> = if self.role_mappings.trim().is_empty() {
            BTreeMap::new()
        } else {
            crate::rest::json_body(self.role_mappings.as_bytes()).map_err(from_problem)?
        };
        Ok(RolesBody {
            roles,
            role_mappings,
        })
    }
}

fn roles_section(
    session: &Session,
    pool: &IdentityPool,
    roles: &PoolRoles,
    refused: Option<&(RolesForm, FormError)>,
) -> Markup {
    let current = RolesForm::of(roles);
    let (form, error) = match refused {
        Some((form, error)) => (form, Some(error)),
        None => (&current, None),
    };
    html! {
        section.card {
            div.table-wrap { table {
                thead { tr { th { "Role" } th { "ARN" } } }
                tbody {
                    @if roles.roles.is_empty() { tr { td colspan="2" { span.muted { "No roles set." } } } }
                    @for (name, arn) in &roles.roles { tr { td { (name) } td.mono { (arn) } } }
                }
            } }
            @if !roles.role_mappings.is_empty() {
                h3 { "Role mappings" }
                div.table-wrap { table {
                    thead { tr { th { "Provider" } th { "Mapping" } } }
                    tbody {
                        @for (provider, mapping) in &roles_body(roles.clone()).role_mappings {
                            tr {
                                td.mono { (provider) }
                                td.mono { (serde_json::to_string(mapping).unwrap_or_default()) }
                            }
                        }
                    }
                } }
            }
            h3 { "Set roles" }
            (notice(error))
            form.stack method="post" action={ "/console/pools/" (urlencode(pool.id.as_str())) "/roles" } {
                (csrf(session))
                label { "Authenticated role ARN" input type="text" name="authenticated" value=(form.authenticated); }
                label { "Unauthenticated (guest) role ARN" input type="text" name="unauthenticated" value=(form.unauthenticated); }
                label { "Role mappings" small { "JSON, as the REST API's role_mappings: {\"provider\": {\"type\": \"token\", \"ambiguous_role_resolution\": \"deny\"}}" }
                    textarea name="role_mappings" { (form.role_mappings) } }
                button type="submit" { "Save roles" }
            }
        }
    }
}

pub async fn set_roles(session: Session, state: State, path: Path<PoolPath>, body: Bytes) -> Reply {
    let form: RolesForm = session.form(&body)?;
    let result = match form.body() {
        Ok(body) => state
            .broker
            .set_identity_pool_roles(&path.pool_id, pool_roles(body))
            .await
            .map_err(|e| from_problem(e.into())),
        Err(e) => Err(e),
    };
    after_detail_form(&session, &state, &path.pool_id, result, |error| Refused {
        roles: Some((form, error)),
        ..Refused::default()
    })
    .await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TagsForm {
    provider: String,
    use_defaults: Option<String>,
    /// `tag=claim` lines.
    principal_tags: String,
}

fn tags_section(
    session: &Session,
    pool: &IdentityPool,
    maps: &[(String, PrincipalTagMap)],
    refused: Option<&(TagsForm, FormError)>,
) -> Markup {
    html! {
        section.card {
            @if maps.is_empty() { p.muted { "The pool has no providers to map." } }
            @else {
                div.table-wrap { table {
                    thead { tr { th { "Provider" } th { "Defaults" } th { "Tag ← claim" } } }
                    tbody {
                        @for (provider, map) in maps {
                            tr {
                                td.mono { (provider) }
                                td { @if map.use_defaults { "yes" } @else { "no" } }
                                td {
                                    @if map.principal_tags.is_empty() { span.muted { "none" } }
                                    @for (tag, claim) in &map.principal_tags { div.mono { (tag) " ← " (claim) } }
                                }
                            }
                        }
                    }
                } }
                h3 { "Set a provider's map" }
                (notice(refused.map(|(_, e)| e)))
                form.stack method="post" action={ "/console/pools/" (urlencode(pool.id.as_str())) "/principal-tags" } {
                    (csrf(session))
                    label { "Provider"
                        select name="provider" {
                            @for (provider, _) in maps {
                                option value=(provider) selected[refused.is_some_and(|(f, _)| &f.provider == provider)] { (provider) }
                            }
                        } }
                    label.check { input type="checkbox" name="use_defaults" checked[refused.is_some_and(|(f, _)| f.use_defaults.is_some())]; "Use the default tags (aud, sub)" }
                    label { "Tags" small { "one tag=claim per line" }
                        textarea name="principal_tags" { (refused.map(|(f, _)| f.principal_tags.as_str()).unwrap_or("")) } }
                    button type="submit" { "Save map" }
                }
            }
        }
    }
}

pub async fn set_principal_tags(
    session: Session,
    state: State,
    path: Path<PoolPath>,
    body: Bytes,
) -> Reply {
    let form: TagsForm = session.form(&body)?;
    let result = match forms::pairs("principal_tags", &form.principal_tags) {
        Ok(principal_tags) => state
            .broker
            .set_principal_tag_attribute_map(
                &path.pool_id,
                &form.provider,
                principal_tag_map(PrincipalTagsBody {
                    use_defaults: form.use_defaults.is_some(),
                    principal_tags,
                }),
            )
            .await
            .map_err(|e| from_problem(e.into())),
        Err(e) => Err(e),
    };
    after_detail_form(&session, &state, &path.pool_id, result, |error| Refused {
        tags: Some((form, error)),
        ..Refused::default()
    })
    .await
}
