//! A small XML DOM that round-trips byte for byte.
//!
//! Every parsed node keeps the exact source text it came from, so serialising
//! an untouched document returns the input unchanged: attribute order, quote
//! style, whitespace inside tags, comments, CDATA, processing instructions and
//! entity spellings all survive. Only what is changed through this API is
//! re-serialised, and only locally (a changed attribute rewrites its own start
//! tag, nothing else). Namespaces are not resolved: names are kept as written
//! (`qemu:commandline`) and `xmlns:*` declarations are ordinary attributes.
//!
//! Parsing is done by `quick-xml`; this module only builds the tree.

mod element;
mod parse;
#[cfg(test)]
pub(crate) mod tests;

pub use element::{Attribute, Element};

use quick_xml::escape::{escape, partial_escape, unescape};

/// Why a document could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("malformed XML at byte {position}: {message}")]
    Malformed { position: u64, message: String },
    #[error("the XML document has no root element")]
    NoRoot,
    #[error("the XML document has more than one root element")]
    MultipleRoots,
    #[error("text outside the root element of the XML document")]
    TextOutsideRoot,
    #[error("element <{0}> is never closed")]
    Unclosed(String),
}

/// One child of an element (or of the document, around the root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(Text),
    /// `<!-- … -->`, kept verbatim including the delimiters.
    Comment(String),
    /// `<![CDATA[ … ]]>`, kept verbatim including the delimiters.
    CData(String),
    /// XML declaration, processing instruction or DOCTYPE, kept verbatim.
    Markup(String),
}

impl Node {
    pub fn as_element(&self) -> Option<&Element> {
        match self {
            Node::Element(e) => Some(e),
            _ => None,
        }
    }

    pub fn as_element_mut(&mut self) -> Option<&mut Element> {
        match self {
            Node::Element(e) => Some(e),
            _ => None,
        }
    }

    /// True for text made only of XML whitespace (indentation).
    pub fn is_blank(&self) -> bool {
        matches!(self, Node::Text(t) if t.is_blank())
    }

    fn write(&self, out: &mut String) {
        match self {
            Node::Element(e) => e.write(out),
            Node::Text(t) => out.push_str(&t.raw),
            Node::Comment(raw) | Node::CData(raw) | Node::Markup(raw) => out.push_str(raw),
        }
    }
}

/// Character data, stored escaped exactly as written in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    raw: String,
}

impl Text {
    /// New text from an unescaped value.
    pub fn new(value: &str) -> Self {
        Text {
            raw: partial_escape(value).into_owned(),
        }
    }

    /// Text exactly as written in the source (entities not expanded).
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The text with entities expanded. Parsing already checked that every
    /// entity is valid, so the fallback to the raw text is never taken.
    pub fn value(&self) -> String {
        unescape(&self.raw)
            .map(|v| v.into_owned())
            .unwrap_or_else(|_| self.raw.clone())
    }

    pub fn is_blank(&self) -> bool {
        self.raw.chars().all(is_xml_space)
    }
}

/// A parsed document: whatever precedes the root (declaration, comments),
/// the root element, and whatever follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub prolog: Vec<Node>,
    pub root: Element,
    pub epilog: Vec<Node>,
}

impl Document {
    pub fn parse(input: &str) -> Result<Self, XmlError> {
        parse::parse(input)
    }

    /// Serialises the document; untouched parts come out as they went in.
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        for n in &self.prolog {
            n.write(&mut out);
        }
        self.root.write(&mut out);
        for n in &self.epilog {
            n.write(&mut out);
        }
        out
    }
}

pub(crate) fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Escapes an attribute value so it is safe inside either quote style.
pub(crate) fn escape_attr(value: &str) -> String {
    escape(value).into_owned()
}
