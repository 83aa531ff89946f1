//! Form fields as the API's types: a textarea of `key=value` lines is a map, one of lines a
//! list, a blank number is absent. A line that cannot be read is an error naming it (bounded,
//! as every echo of caller input is).

use std::collections::BTreeMap;

use crate::echo::bounded;
use crate::rest::problem::Problem;

/// An error shown above a form: the kind and the message, as the API words them.
pub type FormError = (String, String);

pub fn invalid(detail: String) -> FormError {
    ("InvalidParameterException".to_owned(), detail)
}

pub fn from_problem(problem: Problem) -> FormError {
    (problem.kind.to_owned(), problem.detail)
}

/// Non-blank lines, trimmed.
pub fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `key=value` lines as a map; `what` names the field in the error.
pub fn pairs(what: &str, text: &str) -> Result<BTreeMap<String, String>, FormError> {
    lines(text)
        .into_iter()
        .map(|line| match line.split_once('=') {
            Some((k, v)) => Ok((k.trim().to_owned(), v.trim().to_owned())),
            None => Err(invalid(format!(
                "{what}: each line is key=value; this one is not: {}",
                bounded(line)
            ))),
        })
        .collect()
}

/// The inverse of `pairs`, to fill a textarea.
pub fn unpairs(map: &BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A blank field is absent; anything else must be a whole number.
pub fn number(what: &str, text: &str) -> Result<Option<i64>, FormError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        invalid(format!(
            "{what} must be a whole number of seconds, not {}",
            bounded(text.to_owned())
        ))
    })
}

/// A non-blank field, trimmed.
pub fn optional(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textareas_become_the_apis_shapes() {
        let map = pairs("tags", "a = 1\n\n b=2=3 \n").unwrap();
        assert_eq!(map["a"], "1");
        assert_eq!(map["b"], "2=3");
        assert_eq!(unpairs(&map), "a=1\nb=2=3");
        assert!(
            pairs("tags", "no equals sign")
                .unwrap_err()
                .1
                .contains("no equals sign")
        );
        assert_eq!(number("x", " ").unwrap(), None);
        assert_eq!(number("x", "900").unwrap(), Some(900));
        assert!(number("x", "soon").is_err());
        assert_eq!(lines(" a \n\nb"), ["a", "b"]);
    }
}
