//! Reading EC2's XML answers: elements by local name, `<item>` lists.

use roxmltree::{Document, Node};

use crate::AwsError;

pub(crate) fn parse<'a>(action: &str, text: &'a str) -> Result<Document<'a>, AwsError> {
    Document::parse(text).map_err(|e| AwsError::Answer {
        action: action.to_owned(),
        message: e.to_string(),
    })
}

/// The first child element of `node` named `name`.
pub(crate) fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.children()
        .find(|n| n.is_element() && n.has_tag_name(name))
}

/// The text of the child `name` (`None` when missing or empty).
pub(crate) fn text(node: Node<'_, '_>, name: &str) -> Option<String> {
    child(node, name)
        .and_then(|n| n.text())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// The `<item>` elements of the child list `name` (`<imagesSet><item>…`).
pub(crate) fn items<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Vec<Node<'a, 'i>> {
    child(node, name)
        .map(|list| {
            list.children()
                .filter(|n| n.is_element() && n.has_tag_name("item"))
                .collect()
        })
        .unwrap_or_default()
}

/// The `<tagSet>` of `node` as (key, value) pairs.
pub(crate) fn tags(node: Node<'_, '_>) -> Vec<(String, String)> {
    items(node, "tagSet")
        .into_iter()
        .filter_map(|t| Some((text(t, "key")?, text(t, "value").unwrap_or_default())))
        .collect()
}

/// The first descendant element of the document named `name`, for answers whose
/// interesting value is unique (`<imageId>` of CreateImage).
pub(crate) fn find_text(doc: &Document<'_>, name: &str) -> Option<String> {
    doc.descendants()
        .find(|n| n.is_element() && n.has_tag_name(name))
        .and_then(|n| n.text())
        .map(str::to_owned)
}

pub(crate) fn missing(action: &str, what: &str) -> AwsError {
    AwsError::Answer {
        action: action.to_owned(),
        message: format!("no {what} in the answer"),
    }
}
