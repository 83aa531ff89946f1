//! Registered SAML providers: idbroker's equivalent of IAM SAML providers. A pool names one by
//! ARN in `SamlProviderARNs`, and a SAML login's Logins key is that ARN. The metadata document
//! itself is parsed by `idbroker-saml` (XML stays out of the domain).

use crate::ids::AccountId;
use crate::validation::{Validated, ValidationError, check_len};

/// A provider as stored: its name, the metadata the admin gave (kept verbatim: it is what a
/// rotation replaces and what an export carries) and what was read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlProvider {
    pub name: String,
    pub entity_id: String,
    pub metadata: String,
    /// RSA-SHA1 signatures and SHA-1 digests are accepted only when set.
    pub legacy_sha1: bool,
    /// The attribute whose one value is a login's subject (the identity's key) in place of
    /// the NameID; `None`: the NameID.
    pub subject_attribute: Option<String>,
}

/// The longest attribute name an assertion may carry (`idbroker-saml` refuses longer ones).
pub const MAX_ATTRIBUTE_NAME_CHARS: usize = 512;

/// The attribute whose values name the roles an assertion allows: `role ARN,provider ARN`
/// pairs (in either order, as AWS reads them). It names roles, never a user, so it is refused
/// as a subject attribute.
pub const ROLE_ATTRIBUTE: &str = "https://aws.amazon.com/SAML/Attributes/Role";

/// Characters shown as nothing: Unicode's Default_Ignorable_Code_Point set (zero-width
/// spaces and joiners, direction marks and overrides, variation selectors, fillers, tags, the
/// byte-order mark) and the interlinear annotation marks. Refused in subjects and subject
/// attribute names, where two values that look the same must not be two users (or one name
/// that can never match).
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}'..='\u{1160}' | '\u{17B4}'..='\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// A subject attribute is an attribute `Name` as an assertion writes it: 1–512 characters,
/// no control or invisible characters, no space around it, and not the Role attribute.
pub fn validate_subject_attribute(name: &str) -> Validated {
    check_len("subject_attribute", name, 1, MAX_ATTRIBUTE_NAME_CHARS)?;
    if name.chars().any(|c| c.is_control() || is_invisible(c)) {
        return Err(ValidationError::constraint_no_echo(
            "subject_attribute",
            "Member must not contain control or invisible characters",
        ));
    }
    if name.trim() != name {
        return Err(ValidationError::constraint_no_echo(
            "subject_attribute",
            "Member must not begin or end with white space",
        ));
    }
    if name == ROLE_ATTRIBUTE {
        return Err(ValidationError::message(
            "The Role attribute names roles, not a user: it cannot be the subject attribute.",
        ));
    }
    Ok(())
}

/// IAM's rule for SAML provider names: 1–128 of `[\w._-]`.
pub fn validate_name(name: &str) -> Validated {
    check_len("name", name, 1, 128)?;
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        return Err(ValidationError::constraint(
            "name",
            name,
            "Member must satisfy regular expression pattern: [\\w._-]+",
        ));
    }
    Ok(())
}

pub fn arn_for_name(account: &AccountId, name: &str) -> String {
    format!("arn:aws:iam::{account}:saml-provider/{name}")
}

/// The provider name of an IAM SAML-provider ARN
/// (`arn:<partition>:iam::<account>:saml-provider/<name>`).
pub fn saml_provider_name(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(rest))
            if !partition.is_empty()
                && account.len() == 12
                && account.chars().all(|c| c.is_ascii_digit()) =>
        {
            rest.strip_prefix("saml-provider/")
                .filter(|name| validate_name(name).is_ok())
        }
        _ => None,
    }
}

/// The roles a SAML assertion's `https://aws.amazon.com/SAML/Attributes/Role` values allow
/// under `provider_arn`: each value is a `role ARN,provider ARN` pair (AWS reads either
/// order); pairs naming another provider are ignored.
pub fn roles_for_provider(values: &[String], provider_arn: &str) -> Vec<String> {
    let mut roles = Vec::new();
    for value in values {
        let mut parts = value.split(',').map(str::trim);
        let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let role = match (a.contains(":role/"), b.contains(":role/")) {
            (true, false) if b == provider_arn => a,
            (false, true) if a == provider_arn => b,
            _ => continue,
        };
        if !roles.iter().any(|r| r == role) {
            roles.push(role.to_owned());
        }
    }
    roles
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "arn:aws:iam::123456789012:saml-provider/corp";

    #[test]
    fn arns_name_their_provider() {
        assert_eq!(saml_provider_name(P), Some("corp"));
        assert_eq!(
            saml_provider_name("arn:aws:iam::123456789012:oidc-provider/corp"),
            None
        );
        assert_eq!(
            saml_provider_name("arn:aws:iam::123:saml-provider/corp"),
            None
        );
        assert_eq!(
            saml_provider_name("arn:aws:iam::123456789012:saml-provider/a b"),
            None
        );
    }

    #[test]
    fn role_pairs_are_read_in_either_order_for_this_provider_only() {
        let values = vec![
            format!("arn:aws:iam::123456789012:role/a,{P}"),
            format!("{P}, arn:aws:iam::123456789012:role/b"),
            "arn:aws:iam::123456789012:role/c,arn:aws:iam::123456789012:saml-provider/other".into(),
            "garbage".into(),
        ];
        assert_eq!(
            roles_for_provider(&values, P),
            vec![
                "arn:aws:iam::123456789012:role/a".to_owned(),
                "arn:aws:iam::123456789012:role/b".to_owned()
            ]
        );
    }

    #[test]
    fn names_follow_iam() {
        assert!(validate_name("corp-AD_1.test").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("a/b").is_err());
        assert!(validate_name(&"a".repeat(129)).is_err());
    }

    #[test]
    fn subject_attributes_are_attribute_names_but_not_the_role_attribute() {
        assert!(validate_subject_attribute("urn:oid:0.9.2342.19200300.100.1.1").is_ok());
        assert!(validate_subject_attribute("employeeID").is_ok());
        assert!(validate_subject_attribute("").unwrap_err().is_model());
        assert!(
            validate_subject_attribute(&"a".repeat(513))
                .unwrap_err()
                .is_model()
        );
        assert!(validate_subject_attribute("a\nb").unwrap_err().is_model());
        assert!(validate_subject_attribute(" ").unwrap_err().is_model());
        assert!(validate_subject_attribute("uid ").unwrap_err().is_model());
        assert!(
            validate_subject_attribute("\u{202E}uid")
                .unwrap_err()
                .is_model()
        );
        assert!(
            validate_subject_attribute("u\u{200B}id")
                .unwrap_err()
                .is_model()
        );
        assert!(
            !validate_subject_attribute(ROLE_ATTRIBUTE)
                .unwrap_err()
                .is_model()
        );
    }
}
