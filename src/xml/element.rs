//! Elements: attributes, children, and the source text of their tags.

use super::{Node, Text, escape_attr};
use quick_xml::escape::unescape;

/// One attribute, its value kept escaped as written and its quote character,
/// so an element re-serialised after another attribute changed still spells
/// this one as the source did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    name: String,
    raw: String,
    quote: char,
}

impl Attribute {
    pub(crate) fn from_source(name: &str, raw: &str, quote: char) -> Self {
        Attribute {
            name: name.to_string(),
            raw: raw.to_string(),
            quote,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value with entities expanded (checked valid at parse time).
    pub fn value(&self) -> String {
        unescape(&self.raw)
            .map(|v| v.into_owned())
            .unwrap_or_else(|_| self.raw.clone())
    }
}

/// The exact text of a parsed element's tags.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TagSource {
    /// `<name …>` or, for an empty-element tag, `<name …/>`.
    start: String,
    /// `</name>`; None when the source used an empty-element tag.
    end: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    name: String,
    attrs: Vec<Attribute>,
    children: Vec<Node>,
    source: Option<TagSource>,
    /// Attributes changed since parsing: the start tag must be rebuilt.
    tag_dirty: bool,
}

impl Element {
    /// A new element with no attributes and no children.
    pub fn new(name: &str) -> Self {
        Element {
            name: name.to_string(),
            attrs: Vec::new(),
            children: Vec::new(),
            source: None,
            tag_dirty: true,
        }
    }

    /// Builder form of [`Element::set_attr`].
    pub fn with_attr(mut self, name: &str, value: &str) -> Self {
        self.set_attr(name, value);
        self
    }

    pub(crate) fn from_source(name: &str, attrs: Vec<Attribute>, start: &str) -> Self {
        Element {
            name: name.to_string(),
            attrs,
            children: Vec::new(),
            source: Some(TagSource {
                start: start.to_string(),
                end: None,
            }),
            tag_dirty: false,
        }
    }

    pub(crate) fn set_source_end(&mut self, end: &str) {
        if let Some(src) = &mut self.source {
            src.end = Some(end.to_string());
        }
    }

    pub(crate) fn children_vec_mut(&mut self) -> &mut Vec<Node> {
        &mut self.children
    }

    pub(crate) fn push_node(&mut self, node: Node) {
        self.children.push(node);
    }

    /// The name as written, prefix included (`qemu:commandline`).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn attrs(&self) -> &[Attribute] {
        &self.attrs
    }

    pub fn attr(&self, name: &str) -> Option<String> {
        self.attrs
            .iter()
            .find(|a| a.name == name)
            .map(Attribute::value)
    }

    pub fn has_attr(&self, name: &str) -> bool {
        self.attrs.iter().any(|a| a.name == name)
    }

    /// Sets an attribute, in place if it exists (order and quote kept), else
    /// appended.
    /// Setting the value it already has changes nothing.
    pub fn set_attr(&mut self, name: &str, value: &str) {
        if let Some(a) = self.attrs.iter_mut().find(|a| a.name == name) {
            if a.value() == value {
                return;
            }
            a.raw = escape_attr(value);
        } else {
            // Match the quoting the element already uses (libvirt's is ').
            let quote = self.attrs.first().map_or('\'', |a| a.quote);
            self.attrs.push(Attribute {
                name: name.to_string(),
                raw: escape_attr(value),
                quote,
            });
        }
        self.tag_dirty = true;
    }

    /// Keeps only the attributes `keep` accepts.
    pub fn retain_attrs(&mut self, mut keep: impl FnMut(&str) -> bool) {
        let before = self.attrs.len();
        self.attrs.retain(|a| keep(&a.name));
        if self.attrs.len() != before {
            self.tag_dirty = true;
        }
    }

    /// Removes an attribute, returning its value.
    pub fn remove_attr(&mut self, name: &str) -> Option<String> {
        let i = self.attrs.iter().position(|a| a.name == name)?;
        self.tag_dirty = true;
        Some(self.attrs.remove(i).value())
    }

    pub fn children(&self) -> &[Node] {
        &self.children
    }

    /// Child elements, in order.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(Node::as_element)
    }

    pub fn elements_mut(&mut self) -> impl Iterator<Item = &mut Element> {
        self.children.iter_mut().filter_map(Node::as_element_mut)
    }

    /// The first child element called `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    pub fn child_mut(&mut self, name: &str) -> Option<&mut Element> {
        self.elements_mut().find(|e| e.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.elements().filter(move |e| e.name == name)
    }

    pub fn children_named_mut<'a>(
        &'a mut self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a mut Element> {
        self.elements_mut().filter(move |e| e.name == name)
    }

    /// Follows a `/`-separated path of child names (first match at each step).
    pub fn find(&self, path: &str) -> Option<&Element> {
        path.split('/')
            .filter(|s| !s.is_empty())
            .try_fold(self, |e, step| e.child(step))
    }

    pub fn find_mut(&mut self, path: &str) -> Option<&mut Element> {
        let mut cur = self;
        for step in path.split('/').filter(|s| !s.is_empty()) {
            cur = cur.child_mut(step)?;
        }
        Some(cur)
    }

    /// The element's own character data (text and CDATA children), unescaped.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for n in &self.children {
            match n {
                Node::Text(t) => s.push_str(&t.value()),
                Node::CData(raw) => {
                    let inner = raw
                        .strip_prefix("<![CDATA[")
                        .and_then(|r| r.strip_suffix("]]>"))
                        .unwrap_or(raw);
                    s.push_str(inner);
                }
                _ => {}
            }
        }
        s
    }

    /// Replaces all children with this text (none at all when empty, which
    /// serialises as an empty-element tag).
    pub fn set_text(&mut self, value: &str) {
        if self.text() == value && self.elements().next().is_none() {
            return;
        }
        self.children.clear();
        if value.is_empty() {
            self.tag_dirty = true;
        } else {
            self.children.push(Node::Text(Text::new(value)));
        }
    }

    /// Removes every child node; the element then serialises as `<name …/>`.
    pub fn clear_children(&mut self) {
        if !self.children.is_empty() {
            self.children.clear();
            self.tag_dirty = true;
        }
    }

    /// Removes the child elements `pred` selects, each with the indentation
    /// in front of it. Returns how many were removed. An element left with
    /// only whitespace collapses to an empty-element tag.
    pub fn remove_elements_where(&mut self, mut pred: impl FnMut(&Element) -> bool) -> usize {
        let mut removed = 0;
        let mut i = 0;
        while i < self.children.len() {
            let hit = matches!(&self.children[i], Node::Element(e) if pred(e));
            if !hit {
                i += 1;
                continue;
            }
            self.children.remove(i);
            removed += 1;
            if i > 0 && self.children[i - 1].is_blank() {
                self.children.remove(i - 1);
                i -= 1;
            }
        }
        if removed > 0 && self.children.iter().all(Node::is_blank) {
            self.clear_children();
        }
        removed
    }

    /// Inserts `el` so it becomes the `pos`-th child element (clamped to the
    /// end), copying the indentation its neighbours use.
    pub fn insert_element(&mut self, pos: usize, el: Element) {
        let element_indices: Vec<usize> = self
            .children
            .iter()
            .enumerate()
            .filter(|(_, n)| matches!(n, Node::Element(_)))
            .map(|(i, _)| i)
            .collect();
        let indent_before = |children: &[Node], idx: usize| -> Option<Node> {
            idx.checked_sub(1)
                .map(|p| &children[p])
                .filter(|n| n.is_blank())
                .cloned()
        };
        if let Some(&at) = element_indices.get(pos) {
            // [.., ws, X] -> [.., ws, NEW, ws, X]
            let indent = indent_before(&self.children, at);
            self.children.insert(at, Node::Element(el));
            if let Some(ws) = indent {
                self.children.insert(at + 1, ws);
            }
        } else if let Some(&last) = element_indices.last() {
            // [.., ws, LAST, tail] -> [.., ws, LAST, ws, NEW, tail]
            let indent = indent_before(&self.children, last);
            let mut at = last + 1;
            if let Some(ws) = indent {
                self.children.insert(at, ws);
                at += 1;
            }
            self.children.insert(at, Node::Element(el));
        } else {
            self.children.push(Node::Element(el));
        }
    }

    pub(crate) fn write(&self, out: &mut String) {
        match (&self.source, self.tag_dirty) {
            (Some(src), false) => match &src.end {
                Some(end) => {
                    out.push_str(&src.start);
                    self.write_children(out);
                    out.push_str(end);
                }
                None if self.children.is_empty() => out.push_str(&src.start),
                None => self.write_rebuilt(out),
            },
            _ => self.write_rebuilt(out),
        }
    }

    fn write_rebuilt(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        for a in &self.attrs {
            out.push(' ');
            out.push_str(&a.name);
            out.push('=');
            out.push(a.quote);
            out.push_str(&a.raw);
            out.push(a.quote);
        }
        if self.children.is_empty() {
            out.push_str("/>");
        } else {
            out.push('>');
            self.write_children(out);
            out.push_str("</");
            out.push_str(&self.name);
            out.push('>');
        }
    }

    fn write_children(&self, out: &mut String) {
        for c in &self.children {
            c.write(out);
        }
    }

    /// Serialises this element alone.
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }
}
