use super::*;
use proptest::prelude::*;

const SAMPLES: &[&str] = &[
    include_str!("../../tests/data/domains/uefi-tpm.xml"),
    include_str!("../../tests/data/domains/multi-live.xml"),
    include_str!("../../tests/data/domains/network-nvram.xml"),
];

#[test]
fn samples_round_trip_byte_for_byte() {
    for s in SAMPLES {
        let doc = Document::parse(s).unwrap();
        assert_eq!(doc.to_xml(), *s);
    }
}

#[test]
fn odd_but_valid_syntax_round_trips() {
    let src = "<?xml version=\"1.0\"?>\n<!DOCTYPE a>\n<!-- before -->\n<a  x = \"1\"\ty='&apos;&#x41;'>\
               t &lt;&amp;&gt; &#169;<![CDATA[<raw>]]><?pi data?><b/><c ></c ><d\n/></a >\n<!-- after -->\n";
    let doc = Document::parse(src).unwrap();
    assert_eq!(doc.to_xml(), src);
    assert_eq!(doc.root.attr("y").as_deref(), Some("'A"));
    assert_eq!(doc.root.text(), "t <&> \u{a9}<raw>");
    assert_eq!(doc.prolog.len(), 6); // decl, nl, doctype, nl, comment, nl
}

#[test]
fn changing_one_attribute_rewrites_only_that_tag() {
    let src = "<a>\n  <b x=\"1\"  y='2'/>\n  <c k='v'>keep</c>\n</a>";
    let mut doc = Document::parse(src).unwrap();
    doc.root.child_mut("b").unwrap().set_attr("y", "it's");
    assert_eq!(
        doc.to_xml(),
        "<a>\n  <b x=\"1\" y='it&apos;s'/>\n  <c k='v'>keep</c>\n</a>"
    );
}

#[test]
fn setting_an_unchanged_value_keeps_the_source_text() {
    let src = "<a  x = '1' />";
    let mut doc = Document::parse(src).unwrap();
    doc.root.set_attr("x", "1");
    assert_eq!(doc.to_xml(), src);
}

#[test]
fn removing_elements_takes_their_indentation_and_collapses_empty_parents() {
    let src = "<a>\n  <b/>\n  <l>1</l>\n  <l>2</l>\n  <c/>\n</a>";
    let mut doc = Document::parse(src).unwrap();
    assert_eq!(doc.root.remove_elements_where(|e| e.name() == "l"), 2);
    assert_eq!(doc.to_xml(), "<a>\n  <b/>\n  <c/>\n</a>");
    doc.root.remove_elements_where(|e| e.name() != "x");
    assert_eq!(doc.to_xml(), "<a/>");
}

#[test]
fn inserted_elements_copy_their_neighbours_indentation() {
    let mut doc = Document::parse("<a>\n    <b/>\n    <c/>\n  </a>").unwrap();
    doc.root
        .insert_element(1, Element::new("x").with_attr("v", "<&>"));
    doc.root.insert_element(9, Element::new("z"));
    doc.root.insert_element(0, Element::new("first"));
    assert_eq!(
        doc.to_xml(),
        "<a>\n    <first/>\n    <b/>\n    <x v='&lt;&amp;&gt;'/>\n    <c/>\n    <z/>\n  </a>"
    );
}

#[test]
fn text_can_be_set_on_empty_element_tags_and_cleared() {
    let mut doc = Document::parse("<a><n/><g>x</g></a>").unwrap();
    doc.root.child_mut("n").unwrap().set_text("a&b");
    doc.root.child_mut("g").unwrap().set_text("");
    assert_eq!(doc.to_xml(), "<a><n>a&amp;b</n><g/></a>");
}

#[test]
fn malformed_documents_are_errors() {
    for bad in [
        "",
        "<a>",
        "<a></b>",
        "<a x='1' x='2'/>",
        "<a x=1/>",
        "<a>&bogus;</a>",
        "<a/><b/>",
        "text<a/>",
        "<a><!-- -- --></a>",
    ] {
        assert!(Document::parse(bad).is_err(), "{bad:?} should not parse");
    }
}

#[test]
fn namespaced_names_are_kept_as_written() {
    let src = "<d xmlns:q='urn:q'><q:cmd><q:arg value='-S'/></q:cmd></d>";
    let doc = Document::parse(src).unwrap();
    let arg = doc.root.find("q:cmd/q:arg").unwrap();
    assert_eq!(arg.attr("value").as_deref(), Some("-S"));
    assert_eq!(doc.root.attr("xmlns:q").as_deref(), Some("urn:q"));
}

/// Arbitrary well-formed XML: names, attribute values and text that need
/// escaping, both quote styles, comments, CDATA and odd whitespace.
pub(crate) fn arb_element(depth: u32) -> impl Strategy<Value = String> {
    let name = "[a-z][a-z0-9_.-]{0,6}(:[a-z][a-z0-9]{0,4})?";
    let value = "[ -~\u{e9}\u{2014}]{0,12}";
    // Keyed by name, so one element never gets the same attribute twice.
    let attr = (value, prop::bool::ANY, "[ \t\n]{0,2}");
    let attrs = prop::collection::btree_map(name, attr, 0..4).prop_map(|m| {
        m.into_iter()
            .map(|(n, (v, dq, ws))| {
                let v = quick_xml::escape::escape(v.as_str()).into_owned();
                if dq {
                    format!(" {n}{ws}=\"{v}\"")
                } else {
                    format!(" {n}='{v}'")
                }
            })
            .collect::<String>()
    });
    let leaf = (name, attrs.clone(), "[ \n]{0,2}")
        .prop_map(|(n, a, ws)| format!("<{n}{a}{ws}/>"))
        .boxed();
    let text = "[ -~\n\u{e9}]{0,16}"
        .prop_map(|t| quick_xml::escape::partial_escape(t.as_str()).into_owned());
    let comment = "[a-z <>&]{0,10}".prop_map(|c| format!("<!--{c}-->"));
    let cdata = "[a-z <>&]{0,10}".prop_map(|c| format!("<![CDATA[{c}]]>"));
    leaf.prop_recursive(depth, 48, 6, move |inner| {
        let child = prop_oneof![
            4 => inner,
            2 => text.clone(),
            1 => comment.clone(),
            1 => cdata.clone(),
        ];
        (name, attrs.clone(), prop::collection::vec(child, 0..6))
            .prop_map(|(n, a, kids)| format!("<{n}{a}>{}</{n}>", kids.concat()))
    })
}

proptest! {
    #[test]
    fn arbitrary_documents_round_trip(body in arb_element(4)) {
        let src = format!("<?xml version='1.0'?>\n{body}\n");
        let doc = Document::parse(&src).unwrap();
        prop_assert_eq!(doc.to_xml(), src);
    }
}
