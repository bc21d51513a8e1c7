//! One YAML document to a JSON value, as `serde_json::Value::deserialize` makes it, without its
//! silent misreadings.
//!
//! JSON has no infinity and no NaN, so serde_json turns `.inf` and `.nan` into `null`, and a
//! `null` reads as a field left out: `cpus: .inf` would validate as no CPU limit at all. An
//! integer beyond 64 bits fails the whole document with a message about JSON. A key written
//! twice in one mapping silently keeps its last value. Each is [`Flagged`] here, at its field.
//!
//! Invariants:
//! - A problem in the data never fails the deserialization, so every problem of a document is
//!   found and the next document is still read. An `Err` is `serde_yaml`'s own (syntax, nesting
//!   or alias-expansion limits), after which its stream cannot be read further.
//! - Messages never quote the value: it may be a secret.
//! - Tags are not this module's: `serde_yaml` applies or drops them before a visitor sees them;
//!   `super::locate` finds them on the YAML events.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};

use super::problem::{FieldPath, Segment};

/// A value that could not be represented as read, at its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flagged {
    pub path: FieldPath,
    pub flag: Flag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// `.inf`, `-.inf` or `.nan`.
    NotFinite,
    /// An integer beyond 64 bits.
    TooBig,
    /// The key that ends the path was written again in its mapping; the path's last occurrence
    /// is the repetition.
    DuplicateKey,
}

impl Flag {
    /// What to say, for the flags whose message needs no position.
    pub fn message(self) -> &'static str {
        match self {
            Flag::NotFinite => "must be a finite number: .inf and .nan are not accepted",
            Flag::TooBig => "this number is too large: integers must fit in 64 bits",
            Flag::DuplicateKey => "duplicate key: YAML would keep only the last",
        }
    }
}

/// Reads one document. The flagged values are `null` in the result.
pub fn document<'de, D: Deserializer<'de>>(d: D) -> Result<(Value, Vec<Flagged>), D::Error> {
    let found = RefCell::new(Vec::new());
    let value = Node(&found).deserialize(d)?;
    let flagged = found
        .into_inner()
        .into_iter()
        .map(|Found { mut reversed, flag }| {
            reversed.reverse();
            Flagged { path: FieldPath(reversed), flag }
        })
        .collect();
    Ok((value, flagged))
}

/// A flagged value whose path is built on the way back up, innermost segment first: paths cost
/// nothing unless something is flagged.
struct Found {
    reversed: Vec<Segment>,
    flag: Flag,
}

#[derive(Clone, Copy)]
struct Node<'a>(&'a RefCell<Vec<Found>>);

impl Node<'_> {
    fn flag(self, flag: Flag) -> Value {
        self.0.borrow_mut().push(Found { reversed: Vec::new(), flag });
        Value::Null
    }

    /// Reads one child, and adds `segment` to the paths of whatever it flagged.
    fn child<T, E>(self, segment: impl FnOnce() -> Segment, read: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let before = self.0.borrow().len();
        let value = read()?;
        let mut found = self.0.borrow_mut();
        if found.len() > before {
            let segment = segment();
            for f in &mut found[before..] {
                f.reversed.push(segment.clone());
            }
        }
        Ok(value)
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(i64::try_from(v).map(Value::from).unwrap_or_else(|_| self.flag(Flag::TooBig)))
    }

    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok(u64::try_from(v).map(Value::from).unwrap_or_else(|_| self.flag(Flag::TooBig)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map(Value::Number).unwrap_or_else(|| self.flag(Flag::NotFinite)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let i = items.len();
            match self.child(|| Segment::Index(i), || seq.next_element_seed(self))? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key_seed(Key)? {
            let value = self.child(|| Segment::Key(key.clone()), || map.next_value_seed(self))?;
            match out.entry(key) {
                Entry::Vacant(entry) => {
                    entry.insert(value);
                }
                Entry::Occupied(mut entry) => {
                    let segment = Segment::Key(entry.key().clone());
                    self.0.borrow_mut().push(Found { reversed: vec![segment], flag: Flag::DuplicateKey });
                    entry.insert(value);
                }
            }
        }
        Ok(Value::Object(out))
    }

    /// A tagged node (`!local x`): `super::locate` reports the tag; the content is read on so
    /// that the rest of the document is checked too.
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        let (_, content) = data.variant::<de::IgnoredAny>()?;
        content.newtype_variant_seed(self)
    }
}

/// A mapping key, read as text the way serde_json reads one (`1:` is the key "1").
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_string<E>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<String, A::Error> {
        let (_, content) = data.variant::<de::IgnoredAny>()?;
        content.newtype_variant_seed(Key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    fn read(text: &str) -> (Value, Vec<(String, Flag)>) {
        let (value, flagged) = document(serde_yaml::Deserializer::from_str(text)).unwrap();
        (value, flagged.into_iter().map(|f| (f.path.to_string(), f.flag)).collect())
    }

    #[test]
    fn ordinary_values_read_as_serde_json_reads_them() {
        let text = "a: [1, -2, 2.5, true, ~, text, \"7\"]\n1: x\nb: { c: 18446744073709551615 }\n";
        let (value, flagged) = read(text);
        assert!(flagged.is_empty(), "{flagged:?}");
        let plain = serde_json::Value::deserialize(serde_yaml::Deserializer::from_str(text)).unwrap();
        assert_eq!(value, plain);
        assert_eq!(value["b"]["c"], json!(u64::MAX));
    }

    #[test]
    fn infinities_and_nan_are_flagged_where_they_are_not_read_as_null() {
        let (value, flagged) = read("spec:\n  resources: { cpus: .inf }\n  env: { A: .nan }\n  x: [1, -.inf]\n");
        let paths: Vec<&str> = flagged.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["spec.resources.cpus", "spec.env.A", "spec.x[1]"]);
        assert!(flagged.iter().all(|(_, f)| *f == Flag::NotFinite), "{flagged:?}");
        assert_eq!(value["spec"]["x"][0], json!(1));
    }

    #[test]
    fn integers_beyond_64_bits_are_flagged_without_their_digits() {
        let (_, flagged) = read("ports: [{ container: 99999999999999999999999 }]\n");
        assert_eq!(flagged, [("ports[0].container".to_string(), Flag::TooBig)]);
    }

    #[test]
    fn a_key_written_twice_is_flagged_at_any_depth() {
        let (value, flagged) = read("a: 1\nspec:\n  image: x\n  env: { A: 1, A: 2 }\n  image: y\n");
        let paths: Vec<&str> = flagged.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["spec.env.A", "spec.image"]);
        assert!(flagged.iter().all(|(_, f)| *f == Flag::DuplicateKey));
        assert_eq!(value["spec"]["image"], json!("y"), "the last is kept, as serde_json keeps it");
        assert_eq!(read("\"1\": a\n1: b\n").1.len(), 1, "the same key once read as text");
    }

    #[test]
    fn equal_keys_in_different_mappings_are_not_duplicates() {
        let (_, flagged) = read("a: { x: 1 }\nb: { x: 1 }\nc: [{ x: 1 }, { x: 2 }]\n");
        assert!(flagged.is_empty(), "{flagged:?}");
    }

    #[test]
    fn a_tagged_node_is_read_as_its_content() {
        let (value, flagged) = read("a: !local { b: 1 }\nc: !x 2\n");
        assert!(flagged.is_empty());
        assert_eq!(value, json!({"a": {"b": 1}, "c": 2}));
    }
}
