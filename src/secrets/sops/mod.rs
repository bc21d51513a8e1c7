//! SOPS files decrypted with the host's age keys, in memory, the MAC verified; and the plain
//! (unencrypted) data files moor reads beside them.
//!
//! Formats: YAML, JSON, dotenv and binary (sops' JSON envelope `{"data": ..., "sops": ...}`), as
//! sops 3.11 writes them. The rules were taken from sops' source, not guessed: `aes/cipher.go`
//! (values), `sops.go` (tree walk, encryption rules, MAC), `stores/*` (formats, metadata),
//! `age/keysource.go` (the data key), `decrypt/decrypt.go` (the MAC check); each file below
//! names its part.
//!
//! Why a decoder of our own rather than the `rops` crate: sops' files need dotenv (env files are
//! the common case for moor), which rops does not read, so a second path was needed anyway; with
//! one decoder the MAC, the most delicate part, has one implementation checked against real sops
//! output for all four formats. The decoder is small because the cryptography is not ours: the
//! data key is opened by the `age` crate (X25519, armor; no plugin, ssh or CLI features) and
//! values by `aes-gcm` (`AesGcm<Aes256, U32>`, sops' 32-byte nonce), the MAC is `sha2`'s SHA-512.
//!
//! Parts:
//! - `tree`: YAML/JSON parsed in file order, sops' scalar kinds.
//! - `dotenv`: sops' dotenv form and plain env files (compose's basic rules).
//! - `metadata`: the `sops` metadata, the encryption rules, what is unsupported.
//! - `cipher`: `ENC[...]` values (AES-256-GCM) and the age-encrypted data key.
//! - `walk`: decrypting the tree and checking the MAC, one path for all formats.
//!
//! Values as moor passes them on ([`Data::Map`]): text as it is; ints and floats as sops writes
//! them (`8080`, `0.25`; JSON numbers are floats in sops, so `8080` stays `8080`); booleans as
//! `true`/`false`; a null (`key:` alone) as the empty string. A mapping or a list under a
//! top-level key is an error naming the key. Plain YAML/JSON files follow the same rules.
//!
//! Invariant: no value, decrypted or encrypted, in any error or `Debug`: errors name a key, a
//! line, a recipient (public); values are [`Sensitive`] from the moment they leave the decoder.

mod cipher;
mod dotenv;
mod metadata;
mod tree;
mod walk;

use crate::manifest::refs::DataFormat;
use crate::secrets::age_key::Identities;
use crate::sensitive::Sensitive;
use std::collections::BTreeMap;
use tree::{Items, Node};
use walk::{Plain, Top};

/// What a data file holds once read.
#[derive(Debug)]
pub enum Data {
    /// Top-level keys to their values as text (yaml/json/dotenv).
    Map(BTreeMap<String, Sensitive<String>>),
    /// The whole content (binary).
    Bytes(Sensitive<Vec<u8>>),
}

/// Why a data file could not be read or decrypted. No variant carries a value.
#[derive(Debug, thiserror::Error)]
pub enum SopsError {
    /// None of the file's age recipients is one of this host's identities.
    #[error("encrypted for {}, not for this host's key {}", list(file_recipients), list(host_recipients))]
    NoMatchingKey { file_recipients: Vec<String>, host_recipients: Vec<String> },
    /// The file was changed after it was encrypted: its MAC does not match (`key: None`), or the
    /// value under `key` (a path of keys joined with `.`) does not authenticate.
    #[error("the file was changed after it was encrypted ({})", match key {
        None => "its MAC does not match".to_string(),
        Some(key) => format!("the value of `{key}` does not authenticate"),
    })]
    MacMismatch { key: Option<String> },
    /// Not a well-formed file of its format; `at` is a key, a line or a part of the metadata.
    #[error("malformed file at {at}: {reason}")]
    Malformed { at: String, reason: String },
    /// A mapping or a list under a top-level key: moor takes scalars only.
    #[error("the value of `{key}` is a mapping or a list; only text, numbers and booleans can be used")]
    NotScalar { key: String },
    /// A sops feature moor does not read (no age recipient, Shamir key groups, ...).
    #[error("unsupported sops feature: {feature}")]
    Unsupported { feature: String },
    /// `decrypt` of a file without sops metadata.
    #[error("not a SOPS-encrypted file (no sops metadata)")]
    NotEncrypted,
    /// `read_plain` of a SOPS-encrypted file.
    #[error("a SOPS-encrypted file, read as a plain one")]
    Encrypted,
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".to_string()
    } else {
        items.join(", ")
    }
}

/// The key under which sops keeps its metadata (YAML, JSON, binary).
const SOPS_KEY: &str = "sops";

fn is_metadata((key, value): &(String, Node)) -> bool {
    key == SOPS_KEY && matches!(value, Node::Map(_))
}

/// The tree of a YAML, JSON or binary file (dotenv has none: its callers read it by its own rules).
fn parse_tree(format: DataFormat, bytes: &[u8]) -> Result<Items, SopsError> {
    match format {
        DataFormat::Yaml => tree::parse_yaml(bytes),
        // The binary store is sops' JSON store with a single `data` key.
        _ => tree::parse_json(bytes),
    }
}

/// Is this a SOPS file? yaml/json: a top-level `sops` mapping; dotenv: a `sops_version=`/
/// `sops_mac=` line; binary: sops' binary form (JSON with `data` and `sops`).
pub fn is_encrypted(format: DataFormat, bytes: &[u8]) -> bool {
    match format {
        DataFormat::Dotenv => dotenv::is_encrypted(bytes),
        DataFormat::Yaml | DataFormat::Json => {
            parse_tree(format, bytes).is_ok_and(|items| items.iter().any(is_metadata))
        }
        DataFormat::Binary => parse_tree(format, bytes)
            .is_ok_and(|items| items.iter().any(is_metadata) && items.iter().any(|(k, _)| k == "data")),
    }
}

/// The top-level keys of a file, encrypted or not, WITHOUT decrypting (sops leaves keys in
/// clear), the sops metadata excluded: so `moor validate` can check that a referenced key exists
/// on a machine without the key. Binary: an empty list. In file order, each once.
pub fn keys(format: DataFormat, bytes: &[u8]) -> Result<Vec<String>, SopsError> {
    let names: Vec<String> = match format {
        DataFormat::Binary => Vec::new(),
        DataFormat::Dotenv if dotenv::is_encrypted(bytes) => {
            dotenv::parse_sops(bytes)?.0.into_iter().map(|(k, _)| k).collect()
        }
        DataFormat::Dotenv => dotenv::parse_plain(bytes)?.into_iter().map(|(k, _)| k).collect(),
        DataFormat::Yaml | DataFormat::Json => {
            parse_tree(format, bytes)?.into_iter().filter(|item| !is_metadata(item)).map(|(k, _)| k).collect()
        }
    };
    let mut seen = std::collections::HashSet::new();
    Ok(names.into_iter().filter(|k| seen.insert(k.clone())).collect())
}

/// Decrypts a SOPS file with `ids`, verifying the MAC.
pub fn decrypt(format: DataFormat, bytes: &[u8], ids: &Identities) -> Result<Data, SopsError> {
    let (items, meta) = match format {
        DataFormat::Dotenv => {
            if !dotenv::is_encrypted(bytes) {
                return Err(SopsError::NotEncrypted);
            }
            let (items, flat) = dotenv::parse_sops(bytes)?;
            (items, metadata::Metadata::from_json(&metadata::unflatten(&flat)?)?)
        }
        _ => {
            let mut items = parse_tree(format, bytes)?;
            let at = items.iter().position(is_metadata).ok_or(SopsError::NotEncrypted)?;
            let (_, sops) = items.remove(at);
            (items, metadata::Metadata::from_json(&tree::to_json(&sops))?)
        }
    };
    let key = cipher::DataKey::recover(&meta.age, ids)?;
    let tops = walk::decrypt_items(&items, &meta, &key)?;
    match format {
        DataFormat::Binary => {
            let data = tops.into_iter().find(|(k, _)| k == "data").map(|(_, top)| top);
            match data {
                Some(Top::Scalar(plain)) => Ok(Data::Bytes(Sensitive::new(plain.into_bytes()))),
                _ => Err(SopsError::Malformed {
                    at: "key `data`".to_string(),
                    reason: "sops' binary form holds its content as one value under `data`".to_string(),
                }),
            }
        }
        _ => map(tops.into_iter()),
    }
}

/// Reads a file that is not SOPS-encrypted (a plain env file, a plain YAML secret under
/// /etc/moor, a binary file).
pub fn read_plain(format: DataFormat, bytes: &[u8]) -> Result<Data, SopsError> {
    if is_encrypted(format, bytes) {
        return Err(SopsError::Encrypted);
    }
    match format {
        DataFormat::Binary => Ok(Data::Bytes(Sensitive::new(bytes.to_vec()))),
        DataFormat::Dotenv => {
            let pairs = dotenv::parse_plain(bytes)?;
            Ok(Data::Map(pairs.into_iter().map(|(k, v)| (k, Sensitive::new(v))).collect()))
        }
        DataFormat::Yaml | DataFormat::Json => {
            let items = parse_tree(format, bytes)?;
            let mut tops = Vec::with_capacity(items.len());
            for (key, node) in items {
                let top = match node {
                    Node::Null => Top::Null,
                    Node::Tagged(tag) => {
                        return Err(SopsError::Unsupported { feature: format!("a YAML tag (!{tag}) at key `{key}`") })
                    }
                    other => Plain::of_node(&other).map_or(Top::Nested, Top::Scalar),
                };
                tops.push((key, top));
            }
            map(tops.into_iter())
        }
    }
}

/// Top-level values to [`Data::Map`]: scalars as text, null as empty, nested values refused.
fn map(tops: impl Iterator<Item = (String, Top)>) -> Result<Data, SopsError> {
    let mut out = BTreeMap::new();
    for (key, top) in tops {
        let text = match top {
            Top::Null => String::new(),
            Top::Nested => return Err(SopsError::NotScalar { key }),
            Top::Scalar(plain) => plain.into_text().ok_or_else(|| SopsError::Malformed {
                at: format!("key `{key}`"),
                reason: "the value is not UTF-8 text".to_string(),
            })?,
        };
        // A key given twice (dotenv allows it): the later value wins, as in compose.
        out.insert(key, Sensitive::new(text));
    }
    Ok(Data::Map(out))
}

#[cfg(test)]
mod tests;
