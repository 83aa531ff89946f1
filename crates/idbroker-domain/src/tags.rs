//! Resource tags on identity pools (≤ 50; key 1–128, value 0–256).

use std::collections::BTreeMap;

use crate::validation::{Validated, ValidationError, check_count, check_len};

pub const MAX_TAGS: usize = 50;

pub type Tags = BTreeMap<String, String>;

/// Checks one tag map against the model; `field` names the member in messages.
pub fn validate_tags(field: &str, tags: &Tags) -> Validated {
    check_count(field, tags.len(), MAX_TAGS)?;
    for (key, value) in tags {
        validate_tag_key(&format!("{field}.key"), key)?;
        check_len(&format!("{field}.value"), value, 0, 256)?;
    }
    Ok(())
}

/// Tag keys are 1–128 characters, and the `aws:` prefix is AWS's own.
pub fn validate_tag_key(field: &str, key: &str) -> Validated {
    check_len(field, key, 1, 128)?;
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err(ValidationError::message(format!(
            "Tag key '{key}' uses the reserved prefix 'aws:'"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifty_tags_are_fine_and_fifty_one_are_not() {
        let mut tags: Tags = (0..50).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(validate_tags("tags", &tags).is_ok());
        tags.insert("one-more".into(), "v".into());
        assert!(validate_tags("tags", &tags).is_err());
    }

    #[test]
    fn reserved_and_oversized_keys_are_rejected() {
        assert!(validate_tag_key("k", "aws:team").is_err());
        assert!(validate_tag_key("k", &"k".repeat(129)).is_err());
        assert!(validate_tag_key("k", "").is_err());
    }
}
