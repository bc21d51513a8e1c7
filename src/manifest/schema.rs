//! The JSON schema, generated from [`super::raw`], and the validators built from it.
//!
//! Invariants: the schema is never written by hand; `schema/moor.schema.json` is this module's
//! output, committed, and a test fails when it is stale. Validation uses one schema per kind so
//! that an error names the field, not "matches none of the kinds". A violation's message says
//! what the field must be and which type was found, never the value itself: the validator's own
//! messages start with the value, and under `env` the value is a password as often as not.

use std::sync::LazyLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{ValidationError, Validator};
use schemars::{schema_for, JsonSchema};
use serde_json::Value;

use super::problem::{FieldPath, Segment};
use super::raw::{Document, NetworkDoc, SecretDoc, ServiceDoc, VolumeDoc};

pub const SCHEMA_ID: &str = "https://moor.dev/schema/moor.schema.json";

/// The schema of one manifest document, as committed in `schema/moor.schema.json`.
pub fn document_schema() -> Value {
    let mut schema = schema_for!(Document);
    schema.insert("$id".into(), SCHEMA_ID.into());
    schema.insert("title".into(), "moor manifest (apiVersion moor/v1)".into());
    schema.to_value()
}

/// The schema, pretty-printed with a trailing newline: the exact bytes of the committed file.
pub fn document_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&document_schema()).expect("a schema serializes");
    text.push('\n');
    text
}

/// A kind's schema, kept beside its validator to read a violated bound's other end.
struct KindSchema {
    schema: Value,
    validator: Validator,
}

fn kind_schema<T: JsonSchema>() -> KindSchema {
    let schema = schema_for!(T).to_value();
    let validator = jsonschema::validator_for(&schema).expect("the generated schema is valid");
    KindSchema { schema, validator }
}

static SERVICE: LazyLock<KindSchema> = LazyLock::new(kind_schema::<ServiceDoc>);
static NETWORK: LazyLock<KindSchema> = LazyLock::new(kind_schema::<NetworkDoc>);
static VOLUME: LazyLock<KindSchema> = LazyLock::new(kind_schema::<VolumeDoc>);
static SECRET: LazyLock<KindSchema> = LazyLock::new(kind_schema::<SecretDoc>);

/// The kinds this build knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Service,
    Network,
    Volume,
    Secret,
}

impl Kind {
    /// The kinds, as a message lists them.
    pub const NAMES: &'static str = "Service, Network, Volume or Secret";

    pub fn parse(text: &str) -> Option<Kind> {
        match text {
            "Service" => Some(Kind::Service),
            "Network" => Some(Kind::Network),
            "Volume" => Some(Kind::Volume),
            "Secret" => Some(Kind::Secret),
            _ => None,
        }
    }

    fn schema(self) -> &'static KindSchema {
        match self {
            Kind::Service => &SERVICE,
            Kind::Network => &NETWORK,
            Kind::Volume => &VOLUME,
            Kind::Secret => &SECRET,
        }
    }
}

/// A schema violation, placed either on a key (unknown field) or on a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: FieldPath,
    pub on_key: bool,
    pub message: String,
}

/// Validates one document (with `kind` already removed) against its kind's schema and returns
/// every violation.
pub fn violations(kind: Kind, document: &Value) -> Vec<Violation> {
    let checker = kind.schema();
    violations_against(&checker.validator, &checker.schema, document)
}

/// Every violation of `document` against `validator` (made from `schema`), described as for
/// manifests (the host policy file is checked against its own schema this way).
pub fn violations_against(validator: &Validator, schema: &Value, document: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    // Collecting errors costs far more than a yes/no answer, and almost every document is valid.
    if validator.is_valid(document) {
        return out;
    }
    for error in validator.iter_errors(document) {
        describe(&error, schema, &mut out);
    }
    out.dedup();
    out
}

fn field_path(error: &ValidationError<'_>) -> FieldPath {
    FieldPath(
        error
            .instance_path()
            .iter()
            .map(|seg| match seg {
                jsonschema::paths::LocationSegment::Property(p) => Segment::Key(p.to_string()),
                jsonschema::paths::LocationSegment::Index(i) => Segment::Index(i),
            })
            .collect(),
    )
}

/// A JSON type as the manifest's reader knows it.
fn type_name(json_type: &str) -> &'static str {
    match json_type {
        "null" => "empty",
        "boolean" => "true or false",
        "integer" => "an integer",
        "number" => "a number",
        "string" => "a string",
        "array" => "a list",
        "object" => "a mapping",
        _ => "another type",
    }
}

/// The type of a value, never the value.
fn found_type(value: &Value) -> &'static str {
    type_name(match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    })
}

/// `a`, `a or b`, `a, b or c`; `a, true or false, or b` when an item has an "or" of its own.
fn one_of(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] if rest.len() > 1 && items.iter().any(|i| i.contains(" or ")) => {
            format!("{}, or {last}", rest.join(", "))
        }
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// The types a type error expects. `null` is left out unless it is all there is: in this schema
/// it only says that a field may be left out.
fn expected_types(kind: &TypeKind) -> Vec<String> {
    let all: Vec<String> = match kind {
        TypeKind::Single(t) => vec![t.to_string()],
        TypeKind::Multiple(set) => set.iter().map(|t| t.to_string()).collect(),
    };
    let named: Vec<String> = all.iter().filter(|t| *t != "null").cloned().collect();
    let names = if named.is_empty() { all } else { named };
    let mut out: Vec<String> = Vec::new();
    for t in names {
        // An integer is a number; "an integer or a number" says no more than "a number".
        if t == "integer" && out.iter().any(|o| o == "number") {
            continue;
        }
        out.push(type_name(&t).to_string());
    }
    out
}

fn type_message(expected: &[String], instance: &Value) -> String {
    format!("must be {}, not {}", one_of(expected), found_type(instance))
}

/// The other end of a violated `minimum` or `maximum`: the schema object that holds the keyword.
fn bounds<'s>(error: &ValidationError<'_>, schema: &'s Value) -> Option<(&'s Value, &'s Value)> {
    let location = error.schema_path().as_str();
    let (parent, _keyword) = location.rsplit_once('/')?;
    let node = schema.pointer(parent)?;
    Some((node.get("minimum")?, node.get("maximum")?))
}

fn describe(error: &ValidationError<'_>, schema: &Value, out: &mut Vec<Violation>) {
    let path = field_path(error);
    let value = |message: String| Violation { path: path.clone(), on_key: false, message };
    match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            for field in unexpected {
                out.push(Violation {
                    path: path.key(field),
                    on_key: true,
                    message: format!("unknown field {field:?}"),
                });
            }
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().map(str::to_string).unwrap_or_else(|| property.to_string());
            // Point at the key of the incomplete mapping (`spec:`), not into its body.
            out.push(Violation { path, on_key: true, message: format!("missing required field {name:?}") });
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            // An untagged form (say a port as text or as a mapping): report the errors of the
            // one form whose type matched, which name the real field.
            let type_error = |e: &ValidationError<'_>| match e.kind() {
                ValidationErrorKind::Type { kind } if field_path(e) == path => Some(expected_types(kind)),
                _ => None,
            };
            let typed: Vec<_> =
                context.iter().filter(|branch| !branch.iter().any(|e| type_error(e).is_some())).collect();
            if let [branch] = typed.as_slice() {
                for e in branch.iter() {
                    describe(e, schema, out);
                }
            } else if typed.is_empty() {
                let mut expected: Vec<String> = Vec::new();
                for t in context.iter().flat_map(|branch| branch.iter().filter_map(type_error)).flatten() {
                    if !expected.contains(&t) {
                        expected.push(t);
                    }
                }
                out.push(value(type_message(&expected, error.instance())));
            } else {
                out.push(value("matches none of the accepted forms".into()));
            }
        }
        ValidationErrorKind::Type { kind } => out.push(value(type_message(&expected_types(kind), error.instance()))),
        ValidationErrorKind::Enum { options } => {
            let options: Vec<String> = options.as_array().into_iter().flatten().map(Value::to_string).collect();
            out.push(value(format!("must be one of {}", one_of(&options))));
        }
        ValidationErrorKind::Minimum { limit } | ValidationErrorKind::Maximum { limit } => {
            out.push(value(match bounds(error, schema) {
                Some((min, max)) => format!("must be {min}-{max}"),
                None if matches!(error.kind(), ValidationErrorKind::Minimum { .. }) => {
                    format!("must be at least {limit}")
                }
                None => format!("must be at most {limit}"),
            }))
        }
        ValidationErrorKind::Pattern { pattern } => out.push(value(format!("must match {pattern}"))),
        _ => out.push(value(error.masked_with("the value").to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(spec: Value) -> Value {
        json!({"apiVersion": "moor/v1", "metadata": {"name": "web"}, "spec": spec})
    }

    #[test]
    fn every_violation_is_reported_with_its_field() {
        let v = violations(
            Kind::Service,
            &doc(json!({"image": "x", "imagee": "y", "ports": [{"container": 80, "hots": 1}], "state": "up"})),
        );
        let found: Vec<_> = v.iter().map(|v| (v.path.to_string(), v.on_key)).collect();
        assert!(found.contains(&("spec.imagee".into(), true)), "{v:?}");
        assert!(found.contains(&("spec.ports[0].hots".into(), true)), "{v:?}");
        assert!(found.contains(&("spec.state".into(), false)), "{v:?}");
        assert_eq!(v.len(), 3, "{v:?}");
    }

    #[test]
    fn missing_image_is_named() {
        let v = violations(Kind::Service, &doc(json!({})));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].message, "missing required field \"image\"");
        assert_eq!(v[0].path.to_string(), "spec");
    }

    #[test]
    fn no_message_quotes_the_value() {
        let secret = "s3cret-value";
        let v = violations(
            Kind::Service,
            &doc(json!({
                "image": [secret],
                "env": {"A": [secret], "B": {"k": secret}},
                "replicas": secret,
                "state": secret,
                "restart": secret,
                "ports": [{"container": secret}, secret.len() as u64 * 10_000],
                "resources": {"cpus": secret, "pids": -7},
            })),
        );
        assert!(v.len() >= 9, "{v:?}");
        for violation in &v {
            assert!(!violation.message.contains("s3cret"), "{violation:?}");
            assert!(!violation.message.contains("-7") && !violation.message.contains("120000"), "{violation:?}");
        }
        let at = |path: &str| v.iter().find(|v| v.path.to_string() == path).map(|v| v.message.as_str());
        assert_eq!(
            at("spec.env.A"),
            Some("must be a string, an integer, a number, true or false, or a mapping, not a list")
        );
        assert_eq!(at("spec.replicas"), Some("must be an integer, not a string"));
        assert_eq!(at("spec.state"), Some("must be one of \"running\", \"stopped\" or \"absent\""));
        assert_eq!(at("spec.resources.pids"), Some("must be at least 1"));
    }

    #[test]
    fn a_number_out_of_range_names_both_bounds() {
        let v = violations(Kind::Service, &doc(json!({"image": "x", "ports": [{"container": 99_999_999_999u64}]})));
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].path.to_string(), "spec.ports[0].container");
        assert_eq!(v[0].message, "must be 1-65535");
    }

    #[test]
    fn schema_has_one_entry_per_kind() {
        let text = document_schema_text();
        for kind in ["Service", "Network", "Volume", "Secret"] {
            assert!(text.contains(&format!("\"const\": \"{kind}\"")), "{kind} missing from schema");
        }
    }
}
