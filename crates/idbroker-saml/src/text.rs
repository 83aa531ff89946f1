//! Reading values out of parsed XML: namespaces compared by URI, text only where the element
//! holds nothing but text.

use roxmltree::Node;

pub(crate) const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub(crate) const ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub(crate) const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
pub(crate) const METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";

/// Whether `node` is the element `{ns}name`.
pub(crate) fn is(node: &Node<'_, '_>, ns: &str, name: &str) -> bool {
    node.is_element() && node.tag_name().name() == name && node.tag_name().namespace() == Some(ns)
}

/// The child elements `{ns}name` of `node`.
pub(crate) fn children<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &'static str,
    name: &'static str,
) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(move |c| is(c, ns, name))
}

/// The one child `{ns}name`, or an error naming it when there is none or several.
pub(crate) fn only_child<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &'static str,
    name: &'static str,
) -> Result<Node<'a, 'i>, String> {
    let mut found = children(node, ns, name);
    match (found.next(), found.next()) {
        (Some(one), None) => Ok(one),
        (None, _) => Err(format!("no {name} element")),
        (Some(_), Some(_)) => Err(format!("more than one {name} element")),
    }
}

/// The text of an element that holds only text (no child elements), without the XML
/// whitespace (space, tab, CR, LF) around it. Other Unicode spaces (a no-break space) are kept,
/// so that a subject checks refuses them instead of two values meeting in one key.
pub(crate) fn text_only(node: Node<'_, '_>, what: &str) -> Result<String, String> {
    if node.children().any(|c| !c.is_text()) {
        return Err(format!("{what} holds markup, not only text"));
    }
    let text: String = node.children().filter_map(|c| c.text()).collect();
    Ok(text
        .trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
        .to_owned())
}

pub(crate) fn parse(xml: &str) -> Result<roxmltree::Document<'_>, String> {
    // DTDs are refused by roxmltree's defaults too; the raw check has already refused them.
    roxmltree::Document::parse_with_options(
        xml,
        roxmltree::ParsingOptions {
            allow_dtd: false,
            nodes_limit: 20_000,
        },
    )
    .map_err(|e| format!("not well-formed XML ({e})"))
}
