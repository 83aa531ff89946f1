//! Judging a role's existing trust policy against what one pool and idbroker issuer need.
//!
//! IAM allows a call when some `Allow` statement matches and no `Deny` does, so every `Allow`
//! statement that lets anyone assume the role is judged on its own: one loose statement opens
//! the role whatever the others say. The statements that let idbroker's OIDC provider call
//! `AssumeRoleWithWebIdentity` ("granting" statements) are judged on their `aud` and `amr`
//! conditions; every other principal that may assume the role is named, as an error when
//! nothing ties it to one audience (`"*"`, a federated provider without a condition on its own
//! `aud`).
//! Errors are policies that let the wrong identities in or keep the right ones out; warnings are
//! policies that work but are broader or odder than needed.

use serde::Serialize;

use super::document::{Condition, Effect, Policy, Principal, Statement};
use super::{ASSUME_ROLE_WITH_WEB_IDENTITY, Expected, RoleKind, TAG_SESSION};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
        }
    }
}

/// One problem found; `code` is stable (scripts may match on it), `message` is for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    /// The statement it is about (index in `Statement`), when it is about one.
    pub statement: Option<usize>,
}

fn finding(
    severity: Severity,
    code: &'static str,
    statement: Option<usize>,
    message: String,
) -> Finding {
    Finding {
        severity,
        code,
        message,
        statement,
    }
}

/// IAM's wildcard match: `*` any run of characters, `?` one character.
fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let fold = |s: &str| -> Vec<char> {
        if ignore_case {
            s.to_lowercase().chars().collect()
        } else {
            s.chars().collect()
        }
    };
    let (p, t) = (fold(pattern), fold(text));
    // Iterative matching with one backtrack point: linear in practice, never exponential.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn has_wildcard(value: &str) -> bool {
    value.contains(['*', '?'])
}

/// The calls that assume a role; a statement allowing none of them lets no one in.
const ASSUME_ACTIONS: [&str; 3] = [
    "sts:AssumeRole",
    ASSUME_ROLE_WITH_WEB_IDENTITY,
    "sts:AssumeRoleWithSAML",
];

fn allows_assuming(statement: &Statement) -> bool {
    ASSUME_ACTIONS.iter().any(|a| allows_action(statement, a))
}

/// Whether a statement's actions include `action` (actions are case-insensitive in IAM).
fn allows_action(statement: &Statement, action: &str) -> bool {
    let listed = statement.actions.iter().any(|a| glob(a, action, true));
    listed != statement.actions_negated
}

/// Whether `action` is granted only through a wildcard (`sts:*`, `*`, `NotAction`).
fn by_wildcard(statement: &Statement, action: &str) -> bool {
    statement.actions_negated
        || !statement
            .actions
            .iter()
            .any(|a| a.eq_ignore_ascii_case(action))
}

/// The Federated principals a statement names.
fn federated(statement: &Statement) -> Vec<&str> {
    match &statement.principal {
        Principal::Any => vec!["*"],
        Principal::Named(kinds) => kinds
            .get("Federated")
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect(),
    }
}

/// Whether a statement's principal takes in idbroker's OIDC provider.
fn names_provider(statement: &Statement, arn: &str) -> bool {
    let named = match &statement.principal {
        Principal::Any => true,
        Principal::Named(kinds) => kinds.values().flatten().any(|p| p == "*" || p == arn),
    };
    named != statement.principal_negated
}

fn is_wildcard_principal(statement: &Statement) -> bool {
    match &statement.principal {
        Principal::Any => true,
        Principal::Named(kinds) => kinds.values().flatten().any(|p| p == "*"),
    }
}

/// A condition operator taken apart (the parser gives it in its canonical spelling):
/// `ForAnyValue:StringLikeIfExists` → set prefix `ForAnyValue`, base `StringLike`, IfExists.
struct Operator<'a> {
    set: Option<&'a str>,
    base: &'a str,
    /// `…IfExists`: true when the key is absent from the request.
    if_exists: bool,
}

impl<'a> Operator<'a> {
    fn parse(operator: &'a str) -> Self {
        let (set, rest) = match operator.split_once(':') {
            Some((set, rest)) => (Some(set), rest),
            None => (None, operator),
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (rest, false),
        };
        Self {
            set,
            base,
            if_exists,
        }
    }

    /// A positive string condition that is false when its key is absent: it ties the
    /// statement to the values it names. `…IfExists` and `ForAllValues:` (all of no values
    /// match) are true on an absent key; negated operators are too.
    fn binding(&self) -> bool {
        self.is_string() && !self.negated() && !self.if_exists && self.set != Some("ForAllValues")
    }

    fn is_string(&self) -> bool {
        self.base.starts_with("String")
    }

    fn negated(&self) -> bool {
        self.base.starts_with("StringNot")
    }

    fn ignore_case(&self) -> bool {
        self.base.ends_with("IgnoreCase")
    }

    fn like(&self) -> bool {
        self.base.ends_with("Like")
    }

    /// Whether one of the condition's values matches `text`.
    fn matches(&self, values: &[String], text: &str) -> bool {
        values.iter().any(|v| {
            if self.like() {
                glob(v, text, false)
            } else if self.ignore_case() {
                v.eq_ignore_ascii_case(text)
            } else {
                v == text
            }
        })
    }
}

/// The string conditions of a statement on one key (condition keys are case-insensitive).
fn on_key<'s>(statement: &'s Statement, key: &str) -> Vec<(Operator<'s>, &'s Condition)> {
    statement
        .conditions
        .iter()
        .filter(|c| c.key.eq_ignore_ascii_case(key))
        .map(|c| (Operator::parse(&c.operator), c))
        .filter(|(op, _)| op.is_string())
        .collect()
}

/// Judges `policy` as the trust policy of `expected.role` for `expected.pool_id`.
pub fn check(policy: &Policy, expected: &Expected) -> Vec<Finding> {
    let arn = expected.provider_arn();
    let mut findings = Vec::new();
    if policy.version.as_deref() != Some("2012-10-17") {
        findings.push(finding(
            Severity::Warning,
            "policy_version",
            None,
            "Version is not \"2012-10-17\": older versions do not support policy variables such as ${aws:PrincipalTag/…}.".into(),
        ));
    }
    let statements = policy.statements.iter().enumerate();
    let granting: Vec<(usize, &Statement)> = statements
        .clone()
        .filter(|(_, s)| {
            s.effect == Effect::Allow
                && allows_action(s, ASSUME_ROLE_WITH_WEB_IDENTITY)
                && names_provider(s, &arn)
        })
        .collect();
    for (i, s) in statements.clone() {
        let web_identity = allows_action(s, ASSUME_ROLE_WITH_WEB_IDENTITY);
        if s.effect == Effect::Deny
            && web_identity
            && names_provider(s, &arn)
            && s.conditions.is_empty()
        {
            findings.push(finding(
                Severity::Error,
                "denied",
                Some(i),
                format!("This statement denies {ASSUME_ROLE_WITH_WEB_IDENTITY} to {arn} without conditions: no identity can assume the role."),
            ));
        }
    }
    for (i, s) in statements.clone() {
        if s.effect == Effect::Allow && allows_assuming(s) {
            let grants = granting.iter().any(|&(g, _)| g == i);
            check_principals(&mut findings, i, s, &arn, grants);
        }
    }
    if granting.is_empty() {
        findings.push(no_grant(policy, &arn));
        findings.sort_by_key(|f| (f.severity, f.statement));
        return findings;
    }
    for &(i, s) in &granting {
        if by_wildcard(s, ASSUME_ROLE_WITH_WEB_IDENTITY) {
            findings.push(finding(
                Severity::Warning,
                "action_wildcard",
                Some(i),
                format!("The action is granted by a wildcard or NotAction; name {ASSUME_ROLE_WITH_WEB_IDENTITY} (and {TAG_SESSION} if needed) instead."),
            ));
        }
        check_foreign_keys(&mut findings, i, s, expected);
        check_vacuous(&mut findings, i, s, expected);
        check_aud(&mut findings, i, s, expected);
        check_amr(&mut findings, i, s, expected);
    }
    if expected.session_tags && !granting.iter().any(|(_, s)| allows_action(s, TAG_SESSION)) {
        findings.push(finding(
            Severity::Error,
            "missing_tag_session",
            None,
            format!("Tokens for this role may carry session tags (principal-tag maps or developer PrincipalTags), and no statement allows {TAG_SESSION}: STS refuses such tokens with AccessDenied."),
        ));
    }
    findings.sort_by_key(|f| (f.severity, f.statement));
    findings
}

/// Why no statement lets idbroker's provider in: the most telling reason.
fn no_grant(policy: &Policy, arn: &str) -> Finding {
    let ours = |s: &&Statement| names_provider(s, arn);
    let web = |s: &&Statement| allows_action(s, ASSUME_ROLE_WITH_WEB_IDENTITY);
    let allows = |s: &&Statement| s.effect == Effect::Allow;
    let all = || policy.statements.iter();
    if all().filter(allows).any(|s| ours(&s)) {
        return finding(
            Severity::Error,
            "missing_web_identity_action",
            None,
            format!(
                "The statements naming {arn} do not allow {ASSUME_ROLE_WITH_WEB_IDENTITY}, the call STS receives."
            ),
        );
    }
    if all()
        .filter(web)
        .any(|s| ours(&s) && s.effect == Effect::Deny)
    {
        return finding(
            Severity::Error,
            "deny_only",
            None,
            format!(
                "Only Deny statements name {arn}: an Allow statement is needed for anyone to assume the role."
            ),
        );
    }
    let mut others: Vec<&str> = all()
        .filter(allows)
        .filter(web)
        .flat_map(federated)
        .collect();
    others.sort_unstable();
    others.dedup();
    let named = if others.is_empty() {
        String::new()
    } else {
        format!(
            " (it names {}{})",
            others.join(", "),
            if others.contains(&"cognito-identity.amazonaws.com") {
                ": Amazon Cognito's principal, which trusts Cognito's tokens, not idbroker's"
            } else {
                ""
            }
        )
    };
    finding(
        Severity::Error,
        "wrong_principal",
        None,
        format!("No Allow statement trusts this idbroker's OIDC provider {arn}{named}."),
    )
}

/// The principals of an `Allow` statement that lets someone assume the role (`grants`: it
/// lets idbroker's provider in, and is judged on idbroker's conditions besides).
fn check_principals(findings: &mut Vec<Finding>, i: usize, s: &Statement, arn: &str, grants: bool) {
    if s.principal_negated {
        findings.push(finding(
            Severity::Error,
            "not_principal",
            Some(i),
            "An Allow statement with NotPrincipal trusts every principal it does not list.".into(),
        ));
        return;
    }
    if is_wildcard_principal(s) {
        findings.push(finding(
            Severity::Error,
            "principal_wildcard",
            Some(i),
            "The principal is \"*\": any AWS principal, or any identity provider's token, could assume the role.".into(),
        ));
        return;
    }
    let Principal::Named(kinds) = &s.principal else {
        return;
    };
    let others: Vec<(&str, &str)> = kinds
        .iter()
        .flat_map(|(kind, ids)| ids.iter().map(move |id| (kind.as_str(), id.as_str())))
        .filter(|(_, id)| *id != arn)
        .collect();
    for &(kind, id) in &others {
        let key = audience_key(id);
        let federated = kind.eq_ignore_ascii_case("Federated");
        if federated && !on_key(s, &key).iter().any(|(op, _)| op.binding()) {
            findings.push(finding(
                Severity::Error,
                "federated_without_aud",
                Some(i),
                format!("The statement trusts the identity provider {id} with no condition on {key}: a token it issues for any application (for Amazon Cognito, any identity pool of any account) could assume the role. Require {key} = your audience, or remove the principal."),
            ));
        } else if !grants {
            findings.push(finding(
                Severity::Warning,
                "other_principal",
                Some(i),
                format!("{kind} principal {id} can assume the role too, without idbroker's tokens. Fine if intended."),
            ));
        }
    }
    if grants && !others.is_empty() {
        let names: Vec<&str> = others.iter().map(|&(_, id)| id).collect();
        findings.push(finding(
            Severity::Error,
            "mixed_principals",
            Some(i),
            format!("The statement trusting {arn} also names {}: conditions on idbroker's token keys say nothing about those principals (written with …IfExists or ForAllValues they let them in unchecked). Give each principal its own statement.", names.join(", ")),
        ));
    }
}

/// The condition key holding the audience of a federated principal's tokens.
fn audience_key(federated: &str) -> String {
    if let Some((_, issuer)) = federated.split_once(":oidc-provider/") {
        return format!("{issuer}:aud");
    }
    if federated.contains(":saml-provider/") {
        return "SAML:aud".into();
    }
    match federated {
        // Login with Amazon and Facebook name the application app_id.
        "www.amazon.com" | "graph.facebook.com" => format!("{federated}:app_id"),
        _ => format!("{federated}:aud"),
    }
}

/// Conditions on idbroker's `aud` and `amr` that are true when the key is absent, so they
/// check nothing for a call without it: another principal's in the same statement, or one
/// where STS leaves the key out.
fn check_vacuous(findings: &mut Vec<Finding>, i: usize, s: &Statement, expected: &Expected) {
    for claim in ["aud", "amr"] {
        let key = expected.condition_key(claim);
        let conditions = on_key(s, &key);
        for (op, c) in &conditions {
            if op.if_exists {
                findings.push(finding(
                    Severity::Error,
                    "condition_if_exists",
                    Some(i),
                    format!("{} on {key} is true when the call has no {key}: such a call passes unchecked. Drop IfExists.", c.operator),
                ));
            }
        }
        if conditions.iter().any(|(op, _)| op.binding()) {
            continue;
        }
        for (op, c) in &conditions {
            if op.set == Some("ForAllValues") {
                findings.push(finding(
                    Severity::Error,
                    "for_all_values",
                    Some(i),
                    format!("{} on {key} is true when the call has no {key} (all of no values match), and nothing else requires the key. Use StringEquals (aud) or ForAnyValue:StringLike (amr)."
                    , c.operator),
                ));
            }
        }
    }
}

/// Conditions on another issuer's `aud`/`amr`/`sub` are absent from the request context of
/// idbroker's tokens, so a positive one never matches (unless `…IfExists`).
fn check_foreign_keys(findings: &mut Vec<Finding>, i: usize, s: &Statement, expected: &Expected) {
    let ours = expected.issuer_key().to_ascii_lowercase();
    for c in &s.conditions {
        let op = Operator::parse(&c.operator);
        let Some((prefix, claim)) = c.key.rsplit_once(':') else {
            continue;
        };
        let claim_like =
            ["aud", "amr", "sub", "oaud"].contains(&claim.to_ascii_lowercase().as_str());
        let prefix = prefix.to_ascii_lowercase();
        let global = prefix.starts_with("aws") || prefix == "sts";
        if claim_like
            && !global
            && prefix != ours
            && op.is_string()
            && !op.negated()
            && !op.if_exists
        {
            findings.push(finding(
                Severity::Error,
                "foreign_condition_key",
                Some(i),
                format!(
                    "The condition key {} belongs to another identity provider; idbroker's tokens are judged on {}, so this condition never matches and STS refuses every call.",
                    c.key,
                    expected.condition_key(claim)
                ),
            ));
        }
    }
}

fn check_aud(findings: &mut Vec<Finding>, i: usize, s: &Statement, expected: &Expected) {
    let pool = expected.pool_id.as_str();
    let key = expected.condition_key("aud");
    let conditions: Vec<_> = on_key(s, &key)
        .into_iter()
        .filter(|(op, _)| !op.negated())
        .collect();
    if conditions.is_empty() {
        findings.push(finding(
            Severity::Error,
            "missing_aud_condition",
            Some(i),
            format!("No StringEquals condition on {key}: tokens for any identity pool of this idbroker could assume the role. Require {key} = {pool}."),
        ));
        return;
    }
    // Conditions are ANDed: a pool id is admitted when every condition admits it.
    let admits = |id: &str| conditions.iter().all(|(op, c)| op.matches(&c.values, id));
    if !admits(pool) {
        let case_hint = if conditions
            .iter()
            .flat_map(|(_, c)| &c.values)
            .any(|v| v.eq_ignore_ascii_case(pool))
        {
            " (it names the pool id in other letter case; STS compares aud exactly)"
        } else {
            ""
        };
        findings.push(finding(
            Severity::Error,
            "aud_other_pool",
            Some(i),
            format!("The {key} condition does not admit this pool ({pool}){case_hint}: its identities cannot assume the role; another pool's can."),
        ));
        return;
    }
    let exact: Vec<&str> = conditions
        .iter()
        .filter(|(op, c)| !op.like() || !c.values.iter().any(|v| has_wildcard(v)))
        .flat_map(|(_, c)| c.values.iter().map(String::as_str))
        .collect();
    if exact.is_empty() {
        findings.push(finding(
            Severity::Error,
            "aud_wildcard",
            Some(i),
            format!("The {key} condition is a wildcard pattern: it admits other pools than {pool}. Use StringEquals with the pool id."),
        ));
        return;
    }
    // The ids the condition names, and their variants in letter case: an IgnoreCase operator
    // (or a pattern ANDed with one) admits those, and to STS they are other audiences.
    let mut candidates: Vec<String> = exact
        .iter()
        .chain([&pool])
        .flat_map(|id| case_variants(id))
        .collect();
    candidates.sort_unstable();
    candidates.dedup();
    let (case, others): (Vec<String>, Vec<String>) = candidates
        .into_iter()
        .filter(|id| id != pool && admits(id))
        .partition(|id| id.eq_ignore_ascii_case(pool));
    if !others.is_empty() {
        findings.push(finding(
            Severity::Error,
            "aud_other_pools",
            Some(i),
            format!("The {key} condition also admits {}: identities of those pools can assume the role too.", others.join(", ")),
        ));
    }
    if !case.is_empty() {
        findings.push(finding(
            Severity::Error,
            "aud_case",
            Some(i),
            format!("The {key} condition admits {}, which differs from this pool's id {pool} only in letter case: STS compares aud exactly, so that is another audience. Use StringEquals with the pool id as idbroker gives it.", case.join(", ")),
        ));
    }
}

/// An id as written, and in upper and lower case, whole and per part (`region:uuid`).
fn case_variants(id: &str) -> Vec<String> {
    let mut variants = vec![
        id.to_owned(),
        id.to_ascii_uppercase(),
        id.to_ascii_lowercase(),
    ];
    if let Some((region, rest)) = id.split_once(':') {
        variants.push(format!(
            "{}:{}",
            region.to_ascii_lowercase(),
            rest.to_ascii_uppercase()
        ));
        variants.push(format!(
            "{}:{}",
            region.to_ascii_uppercase(),
            rest.to_ascii_lowercase()
        ));
    }
    variants
}

fn check_amr(findings: &mut Vec<Finding>, i: usize, s: &Statement, expected: &Expected) {
    let key = expected.condition_key("amr");
    let conditions = on_key(s, &key);
    let role = expected.role;
    if conditions.is_empty() {
        let (severity, who) = match role {
            RoleKind::Authenticated => (Severity::Error, "guest (unauthenticated) identities"),
            RoleKind::Unauthenticated => (Severity::Warning, "signed-in identities"),
        };
        findings.push(finding(
            severity,
            "missing_amr_condition",
            Some(i),
            format!("No ForAnyValue:StringLike condition on {key}: {who} of the pool could assume the role. Require {key} = {}.", role.amr()),
        ));
        return;
    }
    for (op, c) in &conditions {
        if op.set != Some("ForAnyValue") && !op.negated() {
            findings.push(finding(
                Severity::Warning,
                "amr_operator",
                Some(i),
                format!("{key} holds several values for signed-in identities (authenticated and the provider); {} compares them as a whole or all at once. Use ForAnyValue:StringLike.", c.operator),
            ));
        }
    }
    // Whether a token whose amr holds `value` passes every condition (read as ForAnyValue).
    let admits = |value: &str| {
        conditions
            .iter()
            .all(|(op, c)| op.matches(&c.values, value) != op.negated())
    };
    let (guests, signed_in) = (admits("unauthenticated"), admits("authenticated"));
    match role {
        RoleKind::Authenticated if guests => findings.push(finding(
            Severity::Error,
            "amr_admits_unauthenticated",
            Some(i),
            format!("The {key} condition admits \"unauthenticated\": guest identities could assume the authenticated role."),
        )),
        RoleKind::Authenticated if !signed_in => findings.push(finding(
            Severity::Warning,
            "amr_narrower",
            Some(i),
            format!("The {key} condition does not admit \"authenticated\": only identities whose amr has one of its values (a provider, say) can assume the role. Fine if intended."),
        )),
        RoleKind::Unauthenticated if !guests => findings.push(finding(
            Severity::Error,
            "amr_excludes_unauthenticated",
            Some(i),
            format!("The {key} condition does not admit \"unauthenticated\": guest identities cannot assume the guest role."),
        )),
        RoleKind::Unauthenticated if signed_in => findings.push(finding(
            Severity::Warning,
            "amr_admits_authenticated",
            Some(i),
            format!("The {key} condition admits \"authenticated\": signed-in identities could assume the guest role."),
        )),
        _ => {}
    }
}

#[cfg(test)]
mod glob_tests {
    use super::glob;

    #[test]
    fn stars_and_question_marks_match_as_in_iam() {
        assert!(glob("us-east-1:*", "us-east-1:abc", false));
        assert!(glob("*authenticated", "unauthenticated", false));
        assert!(!glob("authenticated", "unauthenticated", false));
        assert!(glob(
            "sts:AssumeRole*",
            "sts:assumerolewithwebidentity",
            true
        ));
        assert!(glob("a?c", "abc", false) && !glob("a?c", "ac", false));
        assert!(glob("*", "", false) && !glob("", "x", false));
        // Many stars against a long miss stay fast (no exponential backtracking).
        assert!(!glob(
            &"*a".repeat(50),
            &"a".repeat(2000).replace('a', "b"),
            false
        ));
    }
}
