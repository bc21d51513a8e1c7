//! The document tree of a YAML or JSON file, in file order, as sops' stores build it.
//!
//! The MAC covers the values in tree order, so the order of keys must survive parsing:
//! `serde_json::Value` sorts its keys (moor builds serde_json without `preserve_order`, and turning
//! it on would change the canonical JSON of every spec), hence one small [`Node`] type whose
//! `Deserialize` keeps the order and serves both serde_yaml and serde_json.
//!
//! Scalars follow what sops' stores hand to its tree walk:
//! - YAML (go-yaml v3 into `interface{}`): bool, int, float, string, null; a timestamp-looking
//!   plain scalar stays a string (go-yaml v3 keeps it a string for `interface{}`, serde_yaml too).
//! - JSON (`encoding/json` tokens): every number is a float64, so [`parse_json`] turns integers
//!   into floats (`8080` hashes and shows as `8080` either way; integers past 2^53 lose digits
//!   exactly as in sops).
//!
//! Invariant: a parse error names a line and column (or the part of the file), never text from
//! the file; `Debug` of a node shows its shape and keys, each scalar as `***`.

use super::SopsError;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// A YAML or JSON value, maps in file order.
pub(super) enum Node {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    List(Vec<Node>),
    Map(Vec<(Key, Node)>),
    /// A YAML value with a tag sops does not know (`!secret x`): only the tag is kept.
    Tagged(String),
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Null => f.write_str("Null"),
            Node::Bool(_) | Node::Int(_) | Node::Float(_) | Node::Str(_) => f.write_str("***"),
            Node::List(items) => f.debug_list().entries(items).finish(),
            Node::Map(items) => f.debug_map().entries(items.iter().map(|(k, v)| (k, v))).finish(),
            Node::Tagged(tag) => write!(f, "!{tag}"),
        }
    }
}

/// A mapping key: sops' tree walk takes only string keys.
#[derive(Debug)]
pub(super) enum Key {
    Str(String),
    /// A key that is not a string (`8080: x`, `true: x`), as text for messages: keys are names,
    /// not values.
    Other(String),
}

/// A document's top level: its keys and values in file order.
pub(super) type Items = Vec<(String, Node)>;

/// A YAML file's top-level mapping. An empty file (or a `---` alone) is an empty mapping; several
/// documents in one file are refused (sops walks each as a branch, moor reads one mapping).
pub(super) fn parse_yaml(bytes: &[u8]) -> Result<Items, SopsError> {
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_slice(bytes) {
        docs.push(Node::deserialize(doc).map_err(|e| yaml_error(&e))?);
    }
    if docs.len() > 1 {
        return Err(SopsError::Unsupported {
            feature: format!("{} YAML documents in one file (moor reads one mapping)", docs.len()),
        });
    }
    top_level(docs.pop().unwrap_or(Node::Null))
}

/// A JSON file's top-level object, numbers as floats (see the module doc).
pub(super) fn parse_json(bytes: &[u8]) -> Result<Items, SopsError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let node = Node::deserialize(&mut de).and_then(|n| de.end().map(|()| n)).map_err(|e| json_error(&e))?;
    if !matches!(node, Node::Map(_)) {
        return Err(malformed("the top level", "not a JSON object"));
    }
    let mut items = top_level(node)?;
    for (_, value) in &mut items {
        ints_to_floats(value);
    }
    Ok(items)
}

fn ints_to_floats(node: &mut Node) {
    match node {
        Node::Int(i) => *node = Node::Float(*i as f64),
        Node::List(items) => items.iter_mut().for_each(ints_to_floats),
        Node::Map(items) => items.iter_mut().for_each(|(_, v)| ints_to_floats(v)),
        _ => {}
    }
}

fn top_level(node: Node) -> Result<Items, SopsError> {
    match node {
        Node::Null => Ok(Vec::new()),
        Node::Map(items) => {
            let mut out: Items = Vec::with_capacity(items.len());
            for (key, value) in items {
                let key = string_key(key)?;
                if out.iter().any(|(k, _)| *k == key) {
                    return Err(malformed(&format!("key `{key}`"), "the key appears twice"));
                }
                out.push((key, value));
            }
            Ok(out)
        }
        _ => Err(malformed("the top level", "not a mapping of keys to values")),
    }
}

/// A key as sops' walk needs it (`Tree contains a non-string key` otherwise).
fn string_key(key: Key) -> Result<String, SopsError> {
    match key {
        Key::Str(k) => Ok(k),
        Key::Other(k) => Err(malformed(&format!("key `{k}`"), "keys must be strings")),
    }
}

fn malformed(at: &str, reason: &str) -> SopsError {
    SopsError::Malformed { at: at.to_string(), reason: reason.to_string() }
}

// serde_yaml's messages come from libyaml's fixed problem texts, but a message from a visitor can
// quote input: keep only the position.
fn yaml_error(e: &serde_yaml::Error) -> SopsError {
    let at = match e.location() {
        Some(l) => format!("line {} column {}", l.line(), l.column()),
        None => "the document".to_string(),
    };
    malformed(&at, "not valid YAML")
}

fn json_error(e: &serde_json::Error) -> SopsError {
    let reason = match e.classify() {
        serde_json::error::Category::Eof => "not valid JSON (it ends too early)",
        _ => "not valid JSON",
    };
    malformed(&format!("line {} column {}", e.line(), e.column()), reason)
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`, sops' text for a float (its MAC bytes and its
/// encrypted form): the shortest digits that read back as the same float, never an exponent.
/// Rust's `Display` for f64 is the same rule; only the infinities are spelled differently.
pub(super) fn go_float(f: f64) -> String {
    if f == f64::INFINITY {
        "+Inf".to_string()
    } else if f == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        format!("{f}")
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML or JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Node::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(key) = map.next_key::<Key>()? {
            items.push((key, map.next_value::<Node>()?));
        }
        Ok(Node::Map(items))
    }
    // serde_yaml hands a value with a non-core tag (`!secret x`) over as an enum, tag first.
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Node, A::Error> {
        use de::VariantAccess;
        let (tag, variant): (String, _) = data.variant()?;
        variant.newtype_variant::<de::IgnoredAny>()?;
        Ok(Node::Tagged(tag))
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        d.deserialize_any(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping key")
    }
    fn visit_str<E>(self, v: &str) -> Result<Key, E> {
        Ok(Key::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Key, E> {
        Ok(Key::Str(v))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Key, E> {
        Ok(Key::Other(v.to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Key, E> {
        Ok(Key::Other(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Key, E> {
        Ok(Key::Other(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Key, E> {
        Ok(Key::Other(v.to_string()))
    }
    fn visit_unit<E>(self) -> Result<Key, E> {
        Ok(Key::Other("null".to_string()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Key, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(Key::Other("(a list)".to_string()))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
        while map.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
        Ok(Key::Other("(a mapping)".to_string()))
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Key, A::Error> {
        use de::VariantAccess;
        let (tag, variant): (String, _) = data.variant()?;
        variant.newtype_variant::<de::IgnoredAny>()?;
        Ok(Key::Other(format!("!{tag}")))
    }
}

/// A node as JSON, for reading the `sops` metadata (which holds no secret value: recipients,
/// the age-encrypted data key, the encrypted MAC, settings).
pub(super) fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value;
    match node {
        Node::Null | Node::Tagged(_) => Value::Null,
        Node::Bool(b) => Value::Bool(*b),
        Node::Int(i) => i64::try_from(*i).map(Value::from).unwrap_or(Value::Null),
        Node::Float(f) => serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
        Node::Str(s) => Value::String(s.clone()),
        Node::List(items) => Value::Array(items.iter().map(to_json).collect()),
        Node::Map(items) => Value::Object(
            items
                .iter()
                .filter_map(|(k, v)| match k {
                    Key::Str(k) => Some((k.clone(), to_json(v))),
                    Key::Other(_) => None,
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(items: &Items) -> Vec<&str> {
        items.iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn yaml_keeps_file_order_and_scalar_kinds() {
        let items = parse_yaml(b"zeta: 1\nalpha: 0.5\nmid: true\nnone:\ntext: 2001-12-14\nlist: [a, 1]\n").unwrap();
        assert_eq!(keys(&items), ["zeta", "alpha", "mid", "none", "text", "list"]);
        assert!(matches!(items[0].1, Node::Int(1)));
        assert!(matches!(items[1].1, Node::Float(f) if f == 0.5));
        assert!(matches!(items[2].1, Node::Bool(true)));
        assert!(matches!(items[3].1, Node::Null));
        assert!(matches!(&items[4].1, Node::Str(s) if s == "2001-12-14"));
        assert!(matches!(&items[5].1, Node::List(l) if l.len() == 2));
    }

    #[test]
    fn json_numbers_are_floats_and_order_is_kept() {
        let items = parse_json(br#"{"b": 8080, "a": {"x": 2}}"#).unwrap();
        assert_eq!(keys(&items), ["b", "a"]);
        assert!(matches!(items[0].1, Node::Float(f) if f == 8080.0));
        let Node::Map(inner) = &items[1].1 else { panic!("a map") };
        assert!(matches!(inner[0].1, Node::Float(f) if f == 2.0));
    }

    #[test]
    fn malformed_documents_name_a_place_never_text() {
        let err = parse_yaml(b"user: admin\npassword: \"hunter2\n").unwrap_err();
        assert!(matches!(&err, SopsError::Malformed { at, .. } if at.starts_with("line ")), "{err:?}");
        assert!(!format!("{err} {err:?}").contains("hunter2"));
        let err = parse_json(br#"{"password": "hunter2" "x": 1}"#).unwrap_err();
        assert!(matches!(&err, SopsError::Malformed { at, .. } if at == "line 1 column 24"), "{err:?}");
        assert!(!format!("{err} {err:?}").contains("hunter2"));
        for (doc, what) in [(&b"- a\n- b\n"[..], "a list"), (b"just text\n", "a scalar"), (b"[1]", "json list")] {
            let err = if what == "json list" { parse_json(doc) } else { parse_yaml(doc) };
            assert!(matches!(err, Err(SopsError::Malformed { .. })), "{what}");
        }
    }

    #[test]
    fn duplicate_non_string_and_multi_document_are_refused() {
        let err = parse_yaml(b"a: 1\na: 2\n").unwrap_err();
        assert!(matches!(&err, SopsError::Malformed { at, .. } if at == "key `a`"), "{err:?}");
        let err = parse_yaml(b"8080: x\n").unwrap_err();
        assert!(matches!(&err, SopsError::Malformed { at, .. } if at == "key `8080`"), "{err:?}");
        let err = parse_yaml(b"a: 1\n---\nb: 2\n").unwrap_err();
        assert!(matches!(err, SopsError::Unsupported { .. }), "{err:?}");
        assert!(parse_yaml(b"").unwrap().is_empty());
    }

    #[test]
    fn tagged_values_keep_only_the_tag() {
        let items = parse_yaml(b"a: !vault hunter2\n").unwrap();
        assert!(matches!(&items[0].1, Node::Tagged(t) if t == "vault"));
    }

    #[test]
    fn floats_as_go_formats_them() {
        assert_eq!(go_float(0.25), "0.25");
        assert_eq!(go_float(8080.0), "8080");
        assert_eq!(go_float(1e21), "1000000000000000000000");
        assert_eq!(go_float(1e-7), "0.0000001");
        assert_eq!(go_float(f64::INFINITY), "+Inf");
        assert_eq!(go_float(-2.5), "-2.5");
    }
}
