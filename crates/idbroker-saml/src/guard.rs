//! Checks on the raw bytes, before any XML parser sees them.
//!
//! A document type declaration is refused here rather than by a parser setting: entity
//! expansion ("billion laughs") and external entities need one, and no SAML message has a
//! reason to carry one. Comments, processing instructions and CDATA sections are refused too:
//! exclusive canonicalisation drops comments from what is signed, which is what makes
//! `user@example.com<!---->.evil` a valid signature over `user@example.com.evil`; no IdP
//! needs them, so the document that has one is not read at all.

/// Why the raw document was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawRefusal {
    NotUtf8,
    Doctype,
    Comment,
    ProcessingInstruction,
    Cdata,
    Encoding,
}

impl RawRefusal {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::NotUtf8 => "the document is not UTF-8",
            Self::Doctype => "the document has a document type declaration (DOCTYPE or ENTITY)",
            Self::Comment => "the document has an XML comment",
            Self::ProcessingInstruction => "the document has a processing instruction",
            Self::Cdata => "the document has a CDATA section",
            Self::Encoding => "the XML declaration names an encoding other than UTF-8",
        }
    }
}

/// The document as text, if nothing in it is refused.
pub(crate) fn check_raw(bytes: &[u8]) -> Result<&str, RawRefusal> {
    let text = std::str::from_utf8(bytes).map_err(|_| RawRefusal::NotUtf8)?;
    // A byte-order mark is allowed (UTF-8's); nothing else may precede the declaration.
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let body = match body.strip_prefix("<?xml") {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_whitespace()) => {
            let end = rest.find("?>").ok_or(RawRefusal::ProcessingInstruction)?;
            let declaration = rest[..end].to_ascii_lowercase();
            if let Some(at) = declaration.find("encoding") {
                let value = declaration[at + "encoding".len()..]
                    .trim_start()
                    .trim_start_matches('=')
                    .trim_start()
                    .trim_start_matches(['"', '\''])
                    .split(['"', '\''])
                    .next()
                    .unwrap_or_default();
                if value != "utf-8" && value != "utf8" {
                    return Err(RawRefusal::Encoding);
                }
            }
            &rest[end + 2..]
        }
        _ => body,
    };
    // Markup cannot hide in attribute values ('<' is not allowed there unescaped), so a plain
    // search finds every declaration, comment, instruction and CDATA section.
    let upper = body.to_ascii_uppercase();
    if upper.contains("<!DOCTYPE") || upper.contains("<!ENTITY") {
        return Err(RawRefusal::Doctype);
    }
    if body.contains("<!--") {
        return Err(RawRefusal::Comment);
    }
    if body.contains("<![CDATA[") {
        return Err(RawRefusal::Cdata);
    }
    if body.contains("<?") || body.contains("<!") {
        return Err(RawRefusal::ProcessingInstruction);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_documents_pass() {
        assert!(check_raw(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><a>b</a>").is_ok());
        assert!(check_raw(b"<a x=\"1\">b</a>").is_ok());
    }

    #[test]
    fn markup_that_changes_meaning_is_refused() {
        let cases: [(&[u8], RawRefusal); 7] = [
            (
                b"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
                RawRefusal::Doctype,
            ),
            (
                b"<?xml version=\"1.0\"?><!doctype a><a/>",
                RawRefusal::Doctype,
            ),
            (b"<a>user@example.com<!---->.evil</a>", RawRefusal::Comment),
            (b"<a><![CDATA[x]]></a>", RawRefusal::Cdata),
            (b"<a><?pi x?></a>", RawRefusal::ProcessingInstruction),
            (
                b"<?xml version=\"1.0\" encoding=\"UTF-16\"?><a/>",
                RawRefusal::Encoding,
            ),
            (b"<a>\xff</a>", RawRefusal::NotUtf8),
        ];
        for (input, want) in cases {
            assert_eq!(
                check_raw(input),
                Err(want),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }
}
