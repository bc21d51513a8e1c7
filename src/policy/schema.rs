//! The host policy's JSON schema, generated from [`super::raw`], and its validator.
//!
//! Invariant: never written by hand; `schema/moor-policy.schema.json` is this module's output,
//! committed, and a test fails when it is stale (as for the manifest schema).

use std::sync::LazyLock;

use jsonschema::Validator;
use schemars::schema_for;
use serde_json::Value;

use super::raw::PolicyDoc;

pub const SCHEMA_ID: &str = "https://moor.dev/schema/moor-policy.schema.json";

/// The schema of a policy file, as committed in `schema/moor-policy.schema.json`.
pub fn policy_schema() -> Value {
    let mut schema = schema_for!(PolicyDoc);
    schema.insert("$id".into(), SCHEMA_ID.into());
    schema.insert("title".into(), "moor host policy (apiVersion moor/v1, kind HostPolicy)".into());
    schema.to_value()
}

/// The schema, pretty-printed with a trailing newline: the exact bytes of the committed file.
pub fn policy_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&policy_schema()).expect("a schema serializes");
    text.push('\n');
    text
}

/// The schema the validator is made from (its `$ref`s explain a violation), and the validator.
pub static SCHEMA: LazyLock<Value> = LazyLock::new(|| schema_for!(PolicyDoc).to_value());
pub static VALIDATOR: LazyLock<Validator> =
    LazyLock::new(|| jsonschema::validator_for(&SCHEMA).expect("the generated schema is valid"));
