//! An IAM policy document as a caller sends it for checking: read into a small model, every
//! part bounded. The grammar is IAM's (`Version`, `Statement` as one object or a list, each
//! with `Effect`, `Principal`/`NotPrincipal`, `Action`/`NotAction`, `Condition`); a document
//! IAM would refuse as malformed is refused here too, with the place that is wrong, rather
//! than judged. So is one that names a member twice: JSON readers keep one of the two (serde
//! the last, others the first), so what this checker judged might not be what IAM reads.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::validation::{Validated, ValidationError};

/// Longest policy accepted, in characters of JSON: far above IAM's own quota for a role's trust
/// policy, so any real one fits, and small enough that judging one costs nothing.
pub const MAX_POLICY_CHARS: usize = 10_240;
/// Most statements in one policy.
pub const MAX_STATEMENTS: usize = 50;
/// Most members of one list (actions, principals of one kind, values of one condition key).
pub const MAX_VALUES: usize = 100;
/// Longest single string (an ARN is at most 2,048 characters).
pub const MAX_STRING_CHARS: usize = 2_048;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub version: Option<String>,
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// Who a statement names: everyone (`"*"`), or principals by kind (`Federated`, `AWS`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Any,
    Named(BTreeMap<String, Vec<String>>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub principal: Principal,
    /// `NotPrincipal` rather than `Principal`.
    pub principal_negated: bool,
    pub actions: Vec<String>,
    /// `NotAction` rather than `Action`.
    pub actions_negated: bool,
    pub conditions: Vec<Condition>,
}

/// One `operator → key → values` entry of a statement's `Condition` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub operator: String,
    pub key: String,
    pub values: Vec<String>,
}

fn malformed(at: &str, what: &str) -> ValidationError {
    ValidationError::message(format!("Not an IAM policy document: {at} {what}."))
}

impl Policy {
    /// Reads a policy given as a JSON object, or as a string holding one — as JSON text or
    /// URL-encoded, the way IAM's GetRole returns `AssumeRolePolicyDocument`.
    pub fn from_json(input: &Value) -> Validated<Self> {
        let owned;
        let document = match input {
            Value::Object(_) => {
                check_size(input.to_string().chars().count())?;
                input
            }
            Value::String(text) => {
                check_size(text.chars().count())?;
                let text = text.trim();
                let decoded = if text.starts_with('{') {
                    text.to_owned()
                } else {
                    percent_decode(text)?
                };
                owned = strict_json(decoded.as_bytes()).map_err(|e| {
                    if e.is_data() {
                        // Well-formed JSON, refused by `Strict`: a repeated member.
                        ValidationError::message(format!("Not an IAM policy document: {e}."))
                    } else {
                        ValidationError::message(format!(
                            "Not an IAM policy document: the string is neither JSON nor URL-encoded JSON ({e})."
                        ))
                    }
                })?;
                &owned
            }
            _ => {
                return Err(malformed(
                    "policy",
                    "must be a JSON object or a string holding one",
                ));
            }
        };
        parse_policy(document)
    }
}

/// Refuses JSON text in which an object names a member twice. A policy sent as a JSON object
/// (in a request body) has been parsed already, keeping one of the two, so the body itself is
/// checked with this.
pub fn refuse_duplicate_members(json: &[u8]) -> Validated {
    match strict_json(json) {
        Err(e) if e.is_data() => Err(ValidationError::message(format!(
            "Not an IAM policy document: {e}."
        ))),
        // Syntax errors are the body parser's to report.
        _ => Ok(()),
    }
}

fn strict_json(json: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice::<Strict>(json).map(|strict| strict.0)
}

/// A JSON value read like `serde_json::Value`, except that an object naming a member twice is
/// an error (serde_json's own recursion limit still bounds the nesting).
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Strict, E> {
        Ok(Strict(Value::Number(v.into())))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Strict, E> {
        Ok(Strict(Value::Number(v.into())))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Strict, E> {
        Ok(Strict(
            Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }

    fn visit_str<E>(self, v: &str) -> Result<Strict, E> {
        Ok(Strict(Value::String(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Strict, E> {
        Ok(Strict(Value::String(v)))
    }

    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Strict(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "the member '{}' appears twice in one object",
                    bounded(&key)
                )));
            }
            let Strict(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Strict(Value::Object(object)))
    }
}

fn check_size(chars: usize) -> Validated {
    if chars > MAX_POLICY_CHARS {
        return Err(ValidationError::constraint_no_echo(
            "policy",
            &format!("Member must have length less than or equal to {MAX_POLICY_CHARS}"),
        ));
    }
    Ok(())
}

/// `%XX` escapes decoded; anything else kept (IAM encodes spaces as `%20`, so `+` is a plus).
fn percent_decode(text: &str) -> Validated<String> {
    let bad = || {
        malformed(
            "policy",
            "is a string that is neither JSON nor URL-encoded JSON",
        )
    };
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    let decoded = String::from_utf8(out).map_err(|_| bad())?;
    if decoded.trim_start().starts_with('{') {
        Ok(decoded)
    } else {
        Err(bad())
    }
}

fn parse_policy(document: &Value) -> Validated<Policy> {
    let object = document
        .as_object()
        .ok_or_else(|| malformed("the policy", "must be a JSON object"))?;
    only_members(object, "the policy", &["Version", "Id", "Statement"])?;
    let version = optional_string(object, "Version", "Version")?;
    optional_string(object, "Id", "Id")?;
    let statements = match object.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect::<Vec<_>>(),
        Some(one @ Value::Object(_)) => vec![one],
        Some(_) => {
            return Err(malformed(
                "Statement",
                "must be an object or a list of them",
            ));
        }
        None => return Err(malformed("the policy", "has no Statement")),
    };
    if statements.is_empty() {
        return Err(malformed("Statement", "is empty"));
    }
    if statements.len() > MAX_STATEMENTS {
        return Err(ValidationError::constraint_no_echo(
            "policy.Statement",
            &format!("Member must have length less than or equal to {MAX_STATEMENTS}"),
        ));
    }
    let statements = statements
        .into_iter()
        .enumerate()
        .map(|(i, s)| parse_statement(i, s))
        .collect::<Validated<Vec<_>>>()?;
    Ok(Policy {
        version,
        statements,
    })
}

fn only_members(object: &Map<String, Value>, at: &str, known: &[&str]) -> Validated {
    match object.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(malformed(
            at,
            &format!("has an unknown member '{}'", bounded(unknown)),
        )),
        None => Ok(()),
    }
}

/// A caller's string in a message: short enough to read.
fn bounded(text: &str) -> String {
    let mut out: String = text.chars().take(64).collect();
    if text.chars().count() > 64 {
        out.push('…');
    }
    out
}

fn optional_string(object: &Map<String, Value>, key: &str, at: &str) -> Validated<Option<String>> {
    match object.get(key) {
        None => Ok(None),
        Some(value) => scalar(value, at).map(Some),
    }
}

/// A string (or, as IAM takes them in conditions, a number or boolean) of bounded length.
fn scalar(value: &Value, at: &str) -> Validated<String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => return Err(malformed(at, "must be a string")),
    };
    if text.chars().count() > MAX_STRING_CHARS {
        return Err(ValidationError::constraint_no_echo(
            at,
            &format!("Member must have length less than or equal to {MAX_STRING_CHARS}"),
        ));
    }
    Ok(text)
}

/// A string or a list of strings, as IAM allows for actions, principals and condition values.
fn one_or_many(value: &Value, at: &str) -> Validated<Vec<String>> {
    match value {
        Value::Array(items) => {
            if items.len() > MAX_VALUES {
                return Err(ValidationError::constraint_no_echo(
                    at,
                    &format!("Member must have length less than or equal to {MAX_VALUES}"),
                ));
            }
            items.iter().map(|v| scalar(v, at)).collect()
        }
        other => Ok(vec![scalar(other, at)?]),
    }
}

/// Exactly one of two mutually exclusive members (`Action`/`NotAction`): its value and whether
/// it was the negated one.
fn one_of<'a>(
    object: &'a Map<String, Value>,
    at: &str,
    plain: &str,
    negated: &str,
) -> Validated<(&'a Value, bool)> {
    match (object.get(plain), object.get(negated)) {
        (Some(v), None) => Ok((v, false)),
        (None, Some(v)) => Ok((v, true)),
        (Some(_), Some(_)) => Err(malformed(at, &format!("has both {plain} and {negated}"))),
        (None, None) => Err(malformed(at, &format!("has no {plain}"))),
    }
}

fn parse_statement(index: usize, value: &Value) -> Validated<Statement> {
    let at = format!("Statement[{index}]");
    let object = value
        .as_object()
        .ok_or_else(|| malformed(&at, "must be an object"))?;
    only_members(
        object,
        &at,
        &[
            "Sid",
            "Effect",
            "Principal",
            "NotPrincipal",
            "Action",
            "NotAction",
            "Resource",
            "NotResource",
            "Condition",
        ],
    )?;
    let sid = optional_string(object, "Sid", &format!("{at}.Sid"))?;
    let effect = match object.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => return Err(malformed(&at, "needs an Effect of \"Allow\" or \"Deny\"")),
    };
    let (principal, principal_negated) = one_of(object, &at, "Principal", "NotPrincipal")?;
    let principal = parse_principal(principal, &format!("{at}.Principal"))?;
    let (actions, actions_negated) = one_of(object, &at, "Action", "NotAction")?;
    let actions = one_or_many(actions, &format!("{at}.Action"))?;
    let conditions = match object.get("Condition") {
        None => Vec::new(),
        Some(block) => parse_conditions(block, &format!("{at}.Condition"))?,
    };
    Ok(Statement {
        sid,
        effect,
        principal,
        principal_negated,
        actions,
        actions_negated,
        conditions,
    })
}

fn parse_principal(value: &Value, at: &str) -> Validated<Principal> {
    match value {
        Value::String(s) if s == "*" => Ok(Principal::Any),
        Value::Object(kinds) => {
            if kinds.is_empty() || kinds.len() > 4 {
                return Err(malformed(at, "must name one to four kinds of principal"));
            }
            let mut named = BTreeMap::new();
            for (kind, ids) in kinds {
                let ids = one_or_many(ids, &format!("{at}.{}", bounded(kind)))?;
                named.insert(bounded(kind), ids);
            }
            Ok(Principal::Named(named))
        }
        _ => Err(malformed(
            at,
            "must be \"*\" or an object such as {\"Federated\": \"…\"}",
        )),
    }
}

/// IAM's condition operators. Each may end in `IfExists` (except `Null`) and start with
/// `ForAnyValue:` or `ForAllValues:`.
const OPERATORS: &[&str] = &[
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "Null",
];

/// The operator in its canonical spelling, or malformed: an unknown one (a typo such as
/// `StringEqualz`) must not be judged as if it were the operator it resembles.
fn known_operator(operator: &str, at: &str) -> Validated<String> {
    let unknown = || {
        malformed(
            at,
            &format!("has an unknown condition operator '{}'", bounded(operator)),
        )
    };
    let (set, rest) = match operator.split_once(':') {
        None => ("", operator),
        Some((set, rest)) if set.eq_ignore_ascii_case("ForAnyValue") => ("ForAnyValue:", rest),
        Some((set, rest)) if set.eq_ignore_ascii_case("ForAllValues") => ("ForAllValues:", rest),
        Some(_) => return Err(unknown()),
    };
    let suffix_at = rest.len().saturating_sub("IfExists".len());
    let (base, if_exists) = match rest.get(suffix_at..) {
        Some(suffix) if suffix_at > 0 && suffix.eq_ignore_ascii_case("IfExists") => {
            (&rest[..suffix_at], "IfExists")
        }
        _ => (rest, ""),
    };
    let base = OPERATORS
        .iter()
        .find(|known| known.eq_ignore_ascii_case(base))
        .ok_or_else(unknown)?;
    if *base == "Null" && !if_exists.is_empty() {
        return Err(unknown());
    }
    Ok(format!("{set}{base}{if_exists}"))
}

fn parse_conditions(value: &Value, at: &str) -> Validated<Vec<Condition>> {
    let operators = value
        .as_object()
        .ok_or_else(|| malformed(at, "must be an object of operators"))?;
    let mut conditions = Vec::new();
    for (operator, keys) in operators {
        let canonical = known_operator(operator, at)?;
        let keys = keys.as_object().ok_or_else(|| {
            malformed(
                &format!("{at}.{}", bounded(operator)),
                "must be an object of condition keys",
            )
        })?;
        for (key, values) in keys {
            if conditions.len() >= MAX_VALUES {
                return Err(ValidationError::constraint_no_echo(
                    at,
                    &format!("Member must have length less than or equal to {MAX_VALUES}"),
                ));
            }
            let values = one_or_many(
                values,
                &format!("{at}.{}.{}", bounded(operator), bounded(key)),
            )?;
            conditions.push(Condition {
                operator: canonical.clone(),
                key: scalar(&Value::String(key.clone()), at)?,
                values,
            });
        }
    }
    Ok(conditions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/id.example.com"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {"id.example.com:aud": ["p1", "p2"]}}
            }]
        })
    }

    #[test]
    fn an_object_a_json_string_and_a_url_encoded_string_read_the_same() {
        let from_object = Policy::from_json(&minimal()).unwrap();
        let text = minimal().to_string();
        assert_eq!(
            Policy::from_json(&Value::String(text.clone())).unwrap(),
            from_object
        );
        // As IAM's GetRole returns it (RFC 3986 escapes, spaces as %20).
        let encoded: String = text
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        assert_eq!(
            Policy::from_json(&Value::String(encoded)).unwrap(),
            from_object
        );
        let statement = &from_object.statements[0];
        assert_eq!(statement.conditions[0].values, ["p1", "p2"]);
        assert_eq!(statement.actions, ["sts:AssumeRoleWithWebIdentity"]);
    }

    #[test]
    fn a_single_statement_object_is_a_list_of_one() {
        let mut doc = minimal();
        doc["Statement"] = doc["Statement"][0].clone();
        assert_eq!(Policy::from_json(&doc).unwrap().statements.len(), 1);
    }

    #[test]
    fn malformed_documents_are_refused_naming_the_place() {
        let cases: [(Value, &str); 8] = [
            (json!(["not", "an", "object"]), "JSON object"),
            (json!({"Version": "2012-10-17"}), "has no Statement"),
            (json!({"Statement": []}), "is empty"),
            (
                json!({"Statement": [{"Principal": "*", "Action": "x"}]}),
                "Effect",
            ),
            (
                json!({"Statement": [{"Effect": "Allow", "Action": "x"}]}),
                "has no Principal",
            ),
            (
                json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "x", "NotAction": "y"}]}),
                "both Action and NotAction",
            ),
            (
                json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "x", "Condition": {"StringEquals": "k"}}]}),
                "Statement[0].Condition.StringEquals",
            ),
            (
                json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "x", "Extra": 1}]}),
                "unknown member 'Extra'",
            ),
        ];
        for (doc, expected) in cases {
            let err = Policy::from_json(&doc).unwrap_err();
            assert!(err.0.contains(expected), "{doc}: {err}");
        }
        let err = Policy::from_json(&json!("%7Bnot json%ZZ")).unwrap_err();
        assert!(err.0.contains("URL-encoded"), "{err}");
    }

    #[test]
    fn every_part_is_bounded() {
        let huge = "a".repeat(MAX_POLICY_CHARS + 1);
        assert!(Policy::from_json(&json!(huge)).unwrap_err().is_model());
        // Small statements, so the count and not the size is what is refused.
        let tiny = json!({"Effect": "Allow", "Principal": "*", "Action": "x"});
        let many = json!({"Statement": vec![tiny; MAX_STATEMENTS + 1]});
        let err = Policy::from_json(&many).unwrap_err();
        assert!(err.0.contains("Statement"), "{err}");
        let values: Vec<String> = (0..=MAX_VALUES).map(|i| i.to_string()).collect();
        let wide = json!({"Statement": {"Effect": "Allow", "Principal": "*", "Action": values}});
        assert!(Policy::from_json(&wide).unwrap_err().is_model());
        let long = "b".repeat(MAX_STRING_CHARS + 1);
        let long_value =
            json!({"Statement": {"Effect": "Allow", "Principal": "*", "Action": long}});
        assert!(Policy::from_json(&long_value).is_err());
        assert!(Policy::from_json(&json!(42)).is_err());
    }
}
