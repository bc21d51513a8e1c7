//! The `sops` metadata of an encrypted file, read as sops' `stores/stores.go` (`Metadata`,
//! `ToInternal`) reads it: the age recipients with their encrypted data keys, `lastmodified`, the
//! encrypted `mac`, which values are encrypted (`unencrypted_suffix`, `encrypted_suffix`,
//! `unencrypted_regex`, `encrypted_regex`; `_unencrypted` suffix when none is set) and
//! `mac_only_encrypted`.
//!
//! One reader for every format: YAML/JSON hand over their `sops` mapping, dotenv its `sops_*`
//! lines unflattened (stores/flatten.go) into the same JSON shape.
//!
//! Refused as unsupported, with a message that says what: no age recipient (only pgp, kms, ...),
//! several key groups (the data key is split with Shamir's scheme), the comment regexes (they
//! depend on YAML comments, which moor's parser drops).

use super::SopsError;
use regex::Regex;
use serde_json::{Map, Value};

/// What decrypting needs from the metadata.
pub(super) struct Metadata {
    /// The file's age recipients, in file order.
    pub(super) age: Vec<AgeKey>,
    /// `lastmodified` as sops formats it again before using it as the MAC's additional data.
    pub(super) last_modified: String,
    /// The encrypted MAC (`ENC[...]`), empty when the file has none.
    pub(super) mac: String,
    pub(super) rule: Rule,
    pub(super) mac_only_encrypted: bool,
}

/// One age recipient and the data key encrypted for it (ASCII-armored age file).
pub(super) struct AgeKey {
    pub(super) recipient: String,
    pub(super) enc: String,
}

/// Which values are encrypted: sops allows one rule per file.
pub(super) enum Rule {
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    UnencryptedRegex(Regex),
    EncryptedRegex(Regex),
}

impl Rule {
    /// `Tree.shouldBeEncrypted` for one rule: the path is the keys from the top to the value
    /// (list positions are not part of it).
    pub(super) fn encrypts(&self, path: &[String]) -> bool {
        match self {
            Rule::UnencryptedSuffix(s) => !path.iter().any(|k| k.ends_with(s.as_str())),
            Rule::EncryptedSuffix(s) => path.iter().any(|k| k.ends_with(s.as_str())),
            Rule::UnencryptedRegex(r) => !path.iter().any(|k| r.is_match(k)),
            Rule::EncryptedRegex(r) => path.iter().any(|k| r.is_match(k)),
        }
    }
}

/// The key types sops knows besides age, as the metadata names them.
const OTHER_KEY_TYPES: [&str; 5] = ["pgp", "kms", "gcp_kms", "azure_kv", "hc_vault"];

fn malformed(at: &str, reason: impl Into<String>) -> SopsError {
    SopsError::Malformed { at: format!("sops.{at}"), reason: reason.into() }
}

fn unsupported(feature: impl Into<String>) -> SopsError {
    SopsError::Unsupported { feature: feature.into() }
}

/// A string field; absent, null and empty are all "not set", as Go's zero value.
fn text<'a>(meta: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, SopsError> {
    match meta.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(malformed(name, "not a string")),
    }
}

fn list<'a>(meta: &'a Map<String, Value>, name: &str, at: &str) -> Result<&'a [Value], SopsError> {
    match meta.get(name) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(malformed(at, "not a list")),
    }
}

/// The age entries of one key group, and the other key types it has.
fn group(meta: &Map<String, Value>, at: &str) -> Result<(Vec<AgeKey>, Vec<&'static str>), SopsError> {
    let mut age = Vec::new();
    for (i, entry) in list(meta, "age", &format!("{at}age"))?.iter().enumerate() {
        let at = format!("{at}age[{i}]");
        let entry = entry.as_object().ok_or_else(|| malformed(&at, "not a mapping"))?;
        let field = |name: &str| {
            text(entry, name)?.map(str::to_string).ok_or_else(|| malformed(&format!("{at}.{name}"), "missing"))
        };
        age.push(AgeKey { recipient: field("recipient")?, enc: field("enc")? });
    }
    let mut others = Vec::new();
    for kind in OTHER_KEY_TYPES {
        if !list(meta, kind, &format!("{at}{kind}"))?.is_empty() {
            others.push(kind);
        }
    }
    Ok((age, others))
}

impl Metadata {
    /// Reads the `sops` mapping (as JSON).
    pub(super) fn from_json(sops: &Value) -> Result<Metadata, SopsError> {
        let meta = sops
            .as_object()
            .ok_or_else(|| SopsError::Malformed { at: "sops".to_string(), reason: "not a mapping".to_string() })?;

        // `internalKeygroups`: the top-level keys form one group; else `key_groups`.
        let (top_age, top_others) = group(meta, "")?;
        let (age, others) = if !top_age.is_empty() || !top_others.is_empty() {
            (top_age, top_others)
        } else {
            let groups = list(meta, "key_groups", "key_groups")?;
            match groups {
                [] => return Err(malformed("age", "the file names no key at all")),
                [one] => group(
                    one.as_object().ok_or_else(|| malformed("key_groups[0]", "not a mapping"))?,
                    "key_groups[0].",
                )?,
                several => {
                    return Err(unsupported(format!(
                        "{} key groups (the data key is split with Shamir's scheme)",
                        several.len()
                    )))
                }
            }
        };
        if age.is_empty() {
            return Err(unsupported(format!("no age recipient: the file is encrypted only for {}", others.join(", "))));
        }

        let last_modified = text(meta, "lastmodified")?.ok_or_else(|| malformed("lastmodified", "missing"))?;
        let last_modified =
            rfc3339_again(last_modified).ok_or_else(|| malformed("lastmodified", "not an RFC 3339 time"))?;
        let mac = text(meta, "mac")?.unwrap_or_default().to_string();

        Ok(Metadata {
            age,
            last_modified,
            mac,
            rule: rule(meta)?,
            mac_only_encrypted: match meta.get("mac_only_encrypted") {
                // dotenv stores it as text (`DecodeNonStrings`: only "true" is true).
                Some(Value::Bool(b)) => *b,
                Some(Value::String(s)) => s == "true",
                None | Some(Value::Null) => false,
                Some(_) => return Err(malformed("mac_only_encrypted", "not a boolean")),
            },
        })
    }
}

fn rule(meta: &Map<String, Value>) -> Result<Rule, SopsError> {
    for name in ["unencrypted_comment_regex", "encrypted_comment_regex"] {
        if text(meta, name)?.is_some() {
            return Err(unsupported(format!("{name} (it depends on YAML comments)")));
        }
    }
    let regex = |name: &str, source: &str| {
        // Go's RE2 syntax and the regex crate's agree but for rare corners: say so if one is hit.
        Regex::new(source).map_err(|_| unsupported(format!("{name} that moor's regex engine cannot read")))
    };
    let mut rules = Vec::new();
    if let Some(s) = text(meta, "unencrypted_suffix")? {
        rules.push(Rule::UnencryptedSuffix(s.to_string()));
    }
    if let Some(s) = text(meta, "encrypted_suffix")? {
        rules.push(Rule::EncryptedSuffix(s.to_string()));
    }
    if let Some(s) = text(meta, "unencrypted_regex")? {
        rules.push(Rule::UnencryptedRegex(regex("unencrypted_regex", s)?));
    }
    if let Some(s) = text(meta, "encrypted_regex")? {
        rules.push(Rule::EncryptedRegex(regex("encrypted_regex", s)?));
    }
    match rules.len() {
        0 => Ok(Rule::UnencryptedSuffix(DEFAULT_UNENCRYPTED_SUFFIX.to_string())),
        1 => Ok(rules.remove(0)),
        _ => Err(SopsError::Malformed {
            at: "sops".to_string(),
            reason: "more than one of unencrypted_suffix, encrypted_suffix, unencrypted_regex, encrypted_regex"
                .to_string(),
        }),
    }
}

/// sops' `DefaultUnencryptedSuffix`.
const DEFAULT_UNENCRYPTED_SUFFIX: &str = "_unencrypted";

/// `time.Parse(time.RFC3339, s).Format(time.RFC3339)`: sops parses `lastmodified` and formats it
/// again for the MAC's additional data, which drops fractional seconds and writes a zero offset
/// as `Z`. None when `s` is not an RFC 3339 time.
pub(super) fn rfc3339_again(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| b.get(range).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let shape = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let end = frac.find(|c: char| !c.is_ascii_digit()).unwrap_or(frac.len());
        if end == 0 {
            return None;
        }
        rest = &frac[end..];
    }
    let zone = match rest {
        "Z" | "+00:00" | "-00:00" => "Z".to_string(),
        z if z.len() == 6
            && (z.starts_with('+') || z.starts_with('-'))
            && z[1..3].bytes().all(|d| d.is_ascii_digit())
            && &z[3..4] == ":"
            && z[4..6].bytes().all(|d| d.is_ascii_digit()) =>
        {
            z.to_string()
        }
        _ => return None,
    };
    Some(format!("{}{zone}", &s[..19]))
}

/// dotenv's `sops_*` keys (without the prefix) to the JSON shape of the `sops` mapping:
/// `age__list_0__map_enc` is `age[0].enc` (stores/flatten.go, `Unflatten`).
pub(super) fn unflatten(flat: &[(String, String)]) -> Result<Value, SopsError> {
    let mut root = Value::Object(Map::new());
    for (key, value) in flat {
        let bad =
            || SopsError::Malformed { at: format!("sops_{key}"), reason: "not a metadata key sops writes".to_string() };
        let tokens = tokenize(key).ok_or_else(bad)?;
        insert(&mut root, &tokens, value).ok_or_else(bad)?;
    }
    Ok(root)
}

enum Token<'a> {
    Map(&'a str),
    List(usize),
}

const MAP_SEPARATOR: &str = "__map_";
const LIST_SEPARATOR: &str = "__list_";
/// More list entries than any real file has: a guard against `__list_99999999` allocating.
const MAX_LIST_INDEX: usize = 1000;

fn tokenize(path: &str) -> Option<Vec<Token<'_>>> {
    let mut tokens = Vec::new();
    let mut rest = path;
    let mut current: Option<&str> = None; // the separator the current token started with
    loop {
        let next = [MAP_SEPARATOR, LIST_SEPARATOR].iter().filter_map(|sep| rest.find(sep).map(|i| (i, *sep))).min();
        let (end, sep) = match next {
            Some((i, sep)) => (i, Some(sep)),
            None => (rest.len(), None),
        };
        let text = &rest[..end];
        tokens.push(match current {
            Some(LIST_SEPARATOR) => Token::List(text.parse().ok().filter(|i| *i <= MAX_LIST_INDEX)?),
            _ => Token::Map(text),
        });
        match sep {
            Some(sep) => {
                rest = &rest[end + sep.len()..];
                current = Some(sep);
            }
            None => return Some(tokens),
        }
    }
}

fn insert(node: &mut Value, tokens: &[Token], value: &str) -> Option<()> {
    let (first, rest) = tokens.split_first()?;
    let child = match first {
        Token::Map(key) => node.as_object_mut()?.entry(key.to_string()).or_insert(Value::Null),
        Token::List(i) => {
            let items = node.as_array_mut()?;
            if items.len() <= *i {
                items.resize(i + 1, Value::Null);
            }
            &mut items[*i]
        }
    };
    match rest.first() {
        None => *child = Value::String(value.to_string()),
        Some(next) => {
            if child.is_null() {
                *child = match next {
                    Token::Map(_) => Value::Object(Map::new()),
                    Token::List(_) => Value::Array(Vec::new()),
                };
            }
            insert(child, rest, value)?;
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lastmodified_is_formatted_again_as_go_does() {
        assert_eq!(rfc3339_again("2026-11-29T23:46:14Z").unwrap(), "2026-11-29T23:46:14Z");
        assert_eq!(rfc3339_again("2026-11-29T23:46:14.123456Z").unwrap(), "2026-11-29T23:46:14Z");
        assert_eq!(rfc3339_again("2026-11-29T23:46:14+00:00").unwrap(), "2026-11-29T23:46:14Z");
        assert_eq!(rfc3339_again("2026-11-29T23:46:14+02:00").unwrap(), "2026-11-29T23:46:14+02:00");
        for bad in ["", "2026-11-29", "2026-11-29 23:46:14Z", "2026-11-29T23:46:14", "2026-11-29T23:46:14.Z"] {
            assert!(rfc3339_again(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn dotenv_keys_unflatten_to_the_yaml_shape() {
        let flat = [
            ("age__list_0__map_recipient", "age1a"),
            ("age__list_0__map_enc", "ENC1"),
            ("age__list_1__map_recipient", "age1b"),
            ("age__list_1__map_enc", "ENC2"),
            ("lastmodified", "2026-11-29T23:46:14Z"),
            ("key_groups__list_0__map_age__list_0__map_enc", "E"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        assert_eq!(
            unflatten(&flat).unwrap(),
            json!({
                "age": [{"recipient": "age1a", "enc": "ENC1"}, {"recipient": "age1b", "enc": "ENC2"}],
                "lastmodified": "2026-11-29T23:46:14Z",
                "key_groups": [{"age": [{"enc": "E"}]}],
            })
        );
        let huge = [("age__list_99999999__map_enc".to_string(), "x".to_string())];
        assert!(matches!(unflatten(&huge), Err(SopsError::Malformed { .. })));
        let clash = [("age".to_string(), "x".to_string()), ("age__list_0__map_enc".to_string(), "y".to_string())];
        assert!(matches!(unflatten(&clash), Err(SopsError::Malformed { .. })));
    }

    fn base() -> Value {
        json!({"age": [{"recipient": "age1x", "enc": "E"}], "lastmodified": "2026-01-01T00:00:00Z", "mac": "M"})
    }

    #[test]
    fn rules_and_their_defaults() {
        let m = Metadata::from_json(&base()).unwrap();
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(m.rule.encrypts(&path(&["db", "password"])));
        assert!(!m.rule.encrypts(&path(&["db_unencrypted", "password"])));
        assert!(!m.mac_only_encrypted);

        let mut v = base();
        v["encrypted_regex"] = json!("^(data|stringData)$");
        v["mac_only_encrypted"] = json!("true");
        let m = Metadata::from_json(&v).unwrap();
        assert!(m.rule.encrypts(&path(&["stringData", "x"])));
        assert!(!m.rule.encrypts(&path(&["metadata", "name"])));
        assert!(m.mac_only_encrypted);

        v["unencrypted_suffix"] = json!("_plain");
        assert!(matches!(Metadata::from_json(&v), Err(SopsError::Malformed { .. })));
    }

    #[test]
    fn unsupported_features_say_what() {
        let mut v = base();
        v["age"] = json!([]);
        v["pgp"] = json!([{"fp": "ABC", "enc": "x", "created_at": "2026-01-01T00:00:00Z"}]);
        v["kms"] = json!([{"arn": "arn:aws:kms:x", "enc": "x"}]);
        let Err(SopsError::Unsupported { feature }) = Metadata::from_json(&v) else { panic!() };
        assert!(feature.contains("no age recipient") && feature.contains("pgp, kms"), "{feature}");

        let mut v = base();
        v["encrypted_comment_regex"] = json!("sops:enc");
        assert!(matches!(Metadata::from_json(&v), Err(SopsError::Unsupported { .. })));

        let groups = json!({"key_groups": [{"age": [{"recipient": "a", "enc": "b"}]}, {"age": [{"recipient": "c", "enc": "d"}]}],
            "lastmodified": "2026-01-01T00:00:00Z", "mac": "M"});
        let Err(SopsError::Unsupported { feature }) = Metadata::from_json(&groups) else { panic!() };
        assert!(feature.contains("Shamir"), "{feature}");

        let one_group = json!({"key_groups": [{"age": [{"recipient": "a", "enc": "b"}], "hc_vault": null}],
            "lastmodified": "2026-01-01T00:00:00Z", "mac": "M"});
        assert_eq!(Metadata::from_json(&one_group).unwrap().age[0].recipient, "a");
    }
}
