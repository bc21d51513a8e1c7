//! The JSON schema, generated from [`super::raw`], and the validators built from it.
//!
//! Invariants: the schema is never written by hand; `schema/moor.schema.json` is this module's
//! output, committed, and a test fails when it is stale. Validation uses one schema per kind so
//! that an error names the field, not "matches none of the kinds".

use std::sync::LazyLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{ValidationError, Validator};
use schemars::{schema_for, JsonSchema};
use serde_json::Value;

use super::problem::{FieldPath, Segment};
use super::raw::{Document, NetworkDoc, ServiceDoc, VolumeDoc};

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

fn validator<T: JsonSchema>() -> Validator {
    jsonschema::validator_for(&schema_for!(T).to_value()).expect("the generated schema is valid")
}

static SERVICE: LazyLock<Validator> = LazyLock::new(validator::<ServiceDoc>);
static NETWORK: LazyLock<Validator> = LazyLock::new(validator::<NetworkDoc>);
static VOLUME: LazyLock<Validator> = LazyLock::new(validator::<VolumeDoc>);

/// The kinds this build knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Service,
    Network,
    Volume,
}

impl Kind {
    pub fn parse(text: &str) -> Option<Kind> {
        match text {
            "Service" => Some(Kind::Service),
            "Network" => Some(Kind::Network),
            "Volume" => Some(Kind::Volume),
            _ => None,
        }
    }

    fn validator(self) -> &'static Validator {
        match self {
            Kind::Service => &SERVICE,
            Kind::Network => &NETWORK,
            Kind::Volume => &VOLUME,
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
    violations_against(kind.validator(), document)
}

/// Every violation of `document` against `validator`, described as for manifests (the host
/// policy file is checked against its own schema this way).
pub fn violations_against(validator: &Validator, document: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    // Collecting errors costs far more than a yes/no answer, and almost every document is valid.
    if validator.is_valid(document) {
        return out;
    }
    for error in validator.iter_errors(document) {
        describe(&error, &mut out);
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

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 60 {
        format!("{}…", &text[..text.floor_char_boundary(57)])
    } else {
        text
    }
}

fn describe(error: &ValidationError<'_>, out: &mut Vec<Violation>) {
    let path = field_path(error);
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
            let typed: Vec<_> = context
                .iter()
                .filter(|branch| {
                    !branch
                        .iter()
                        .any(|e| matches!(e.kind(), ValidationErrorKind::Type { .. }) && field_path(e) == path)
                })
                .collect();
            if let [branch] = typed.as_slice() {
                for e in branch.iter() {
                    describe(e, out);
                }
            } else {
                out.push(Violation {
                    path,
                    on_key: false,
                    message: format!(
                        "invalid value {}: it matches none of the accepted forms",
                        short(error.instance())
                    ),
                });
            }
        }
        ValidationErrorKind::Pattern { pattern } => out.push(Violation {
            path,
            on_key: false,
            message: format!("invalid value {}: must match {pattern}", short(error.instance())),
        }),
        _ => out.push(Violation { path, on_key: false, message: error.to_string() }),
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
    fn schema_has_one_entry_per_kind() {
        let text = document_schema_text();
        for kind in ["Service", "Network", "Volume"] {
            assert!(text.contains(&format!("\"const\": \"{kind}\"")), "{kind} missing from schema");
        }
    }
}
