//! Builds the tree from quick-xml events, slicing each event's exact source
//! text out of the input by reader position.

use super::{Attribute, Document, Element, Node, Text, XmlError, is_xml_space};
use quick_xml::Reader;
use quick_xml::escape::unescape;
use quick_xml::events::{BytesStart, Event};

pub(super) fn parse(input: &str) -> Result<Document, XmlError> {
    let mut reader = Reader::from_str(input);
    reader.config_mut().check_comments = true;

    let mut top: Vec<Node> = Vec::new();
    let mut stack: Vec<Element> = Vec::new();

    loop {
        let before = pos(reader.buffer_position());
        let event = reader.read_event().map_err(|e| XmlError::Malformed {
            position: reader.error_position(),
            message: e.to_string(),
        })?;
        let after = pos(reader.buffer_position());
        let raw = input
            .get(before..after)
            .ok_or_else(|| XmlError::Malformed {
                position: before as u64,
                message: "event boundary is not a character boundary".into(),
            })?;
        let node = match event {
            Event::Eof => break,
            Event::Start(start) => {
                stack.push(element(&start, raw, before)?);
                continue;
            }
            Event::End(_) => {
                let Some(mut done) = stack.pop() else {
                    return Err(malformed(before, "closing tag without an open element"));
                };
                done.set_source_end(raw);
                Node::Element(done)
            }
            Event::Empty(start) => Node::Element(element(&start, raw, before)?),
            Event::Text(_) | Event::GeneralRef(_) => {
                unescape(raw).map_err(|e| malformed(before, &e.to_string()))?;
                let siblings = match stack.last_mut() {
                    Some(parent) => parent.children_vec_mut(),
                    None => &mut top,
                };
                // quick-xml splits text at entity references; one node is simpler.
                if let Some(Node::Text(prev)) = siblings.last_mut() {
                    prev.raw.push_str(raw);
                } else {
                    siblings.push(Node::Text(Text {
                        raw: raw.to_string(),
                    }));
                }
                continue;
            }
            Event::Comment(_) => Node::Comment(raw.to_string()),
            Event::CData(_) => Node::CData(raw.to_string()),
            Event::Decl(_) | Event::PI(_) | Event::DocType(_) => Node::Markup(raw.to_string()),
        };
        match stack.last_mut() {
            Some(parent) => parent.push_node(node),
            None => top.push(node),
        }
    }

    if let Some(open) = stack.last() {
        return Err(XmlError::Unclosed(open.name().to_string()));
    }
    split_top(top)
}

fn split_top(top: Vec<Node>) -> Result<Document, XmlError> {
    let mut prolog = Vec::new();
    let mut epilog = Vec::new();
    let mut root = None;
    for node in top {
        match node {
            Node::Element(e) if root.is_none() => root = Some(e),
            Node::Element(_) => return Err(XmlError::MultipleRoots),
            Node::Text(ref t) if !t.is_blank() => return Err(XmlError::TextOutsideRoot),
            other if root.is_none() => prolog.push(other),
            other => epilog.push(other),
        }
    }
    let root = root.ok_or(XmlError::NoRoot)?;
    Ok(Document {
        prolog,
        root,
        epilog,
    })
}

fn element(start: &BytesStart<'_>, raw: &str, at: usize) -> Result<Element, XmlError> {
    let name = std::str::from_utf8(start.name().as_ref())
        .map_err(|e| malformed(at, &e.to_string()))?
        .to_string();
    // quick-xml validates the attribute syntax and rejects duplicates …
    for a in start.attributes() {
        let a = a.map_err(|e| malformed(at, &e.to_string()))?;
        let value = std::str::from_utf8(&a.value).map_err(|e| malformed(at, &e.to_string()))?;
        unescape(value).map_err(|e| malformed(at, &e.to_string()))?;
    }
    // … and this lexer recovers each value's quote character.
    let attr_text =
        std::str::from_utf8(start.attributes_raw()).map_err(|e| malformed(at, &e.to_string()))?;
    let attrs = lex_attrs(attr_text).ok_or_else(|| malformed(at, "unreadable attributes"))?;
    Ok(Element::from_source(&name, attrs, raw))
}

/// Splits `a='1' b="2"` into attributes. Input already validated by quick-xml.
fn lex_attrs(mut rest: &str) -> Option<Vec<Attribute>> {
    let mut attrs = Vec::new();
    loop {
        rest = rest.trim_start_matches(is_xml_space);
        // An empty-element tag's trailing `/` may or may not be included.
        if rest.is_empty() || rest == "/" {
            return Some(attrs);
        }
        let eq = rest.find('=')?;
        let name = rest[..eq].trim_end_matches(is_xml_space);
        rest = rest[eq + 1..].trim_start_matches(is_xml_space);
        let quote = rest.chars().next().filter(|q| *q == '\'' || *q == '"')?;
        rest = &rest[1..];
        let close = rest.find(quote)?;
        attrs.push(Attribute::from_source(name, &rest[..close], quote));
        rest = &rest[close + 1..];
    }
}

fn pos(p: u64) -> usize {
    usize::try_from(p).unwrap_or(usize::MAX)
}

fn malformed(at: usize, message: &str) -> XmlError {
    XmlError::Malformed {
        position: at as u64,
        message: message.to_string(),
    }
}
