//! The tree walk of sops' `Tree.Decrypt` (sops.go) and the MAC check of `decrypt.DataWithFormat`,
//! one code path for every format.
//!
//! - Leaves are visited depth first in file order; a list item has its parent's path (positions
//!   are not part of it); a null is skipped (neither decrypted nor hashed).
//! - A leaf is encrypted when the file's rule says so for its path; its additional data is the
//!   path's keys joined with `:` plus a trailing `:` (`db:password:`). An empty string stays
//!   empty (sops does not encrypt it).
//! - The MAC is SHA-512 over each leaf's plaintext bytes in that order (sops' `ToBytes`: ints in
//!   decimal, floats as Go's `'f'` format, booleans `True`/`False`), every leaf or, with
//!   `mac_only_encrypted`, the encrypted ones after a fixed 32-byte prefix. Its upper-case hex is
//!   compared with the file's `mac`, itself encrypted with the data key and the formatted
//!   `lastmodified` as additional data. Comments are never hashed.
//!
//! Invariant: errors name the path of keys, never a value; plaintext stays in [`Plain`], which has
//! no `Debug`.

use super::cipher::{DataKey, Encrypted};
use super::metadata::Metadata;
use super::tree::{go_float, Key, Node};
use super::SopsError;
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

/// sops' `MACOnlyEncryptedInitialization` (sha256 of "sops"): hashed first with
/// `mac_only_encrypted`, so that such a MAC never equals one over every value.
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b, 0x0b, 0x97, 0x5b,
    0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// A plaintext scalar with the type sops gave it.
pub(super) enum Plain {
    /// str (and time, bytes): the bytes as they were encrypted.
    Text(Vec<u8>),
    Int(i128),
    Float(f64),
    Bool(bool),
}

impl Plain {
    /// sops' `ToBytes`: what the MAC hashes.
    fn mac_bytes(&self) -> Vec<u8> {
        match self {
            Plain::Text(b) => b.clone(),
            Plain::Int(i) => i.to_string().into_bytes(),
            Plain::Float(f) => go_float(*f).into_bytes(),
            Plain::Bool(true) => b"True".to_vec(),
            Plain::Bool(false) => b"False".to_vec(),
        }
    }

    /// The value as moor passes it on: text as it is, numbers as sops writes them, booleans as
    /// YAML/JSON spell them (`true`, as `sops -d` prints them). None for text that is not UTF-8.
    pub(super) fn into_text(self) -> Option<String> {
        match self {
            Plain::Text(b) => String::from_utf8(b).ok(),
            Plain::Int(i) => Some(i.to_string()),
            Plain::Float(f) => Some(go_float(f)),
            Plain::Bool(b) => Some(b.to_string()),
        }
    }

    pub(super) fn into_bytes(self) -> Vec<u8> {
        match self {
            Plain::Text(b) => b,
            other => other.mac_bytes(),
        }
    }

    /// A scalar node of a plain file (or an unencrypted leaf) as sops' tree holds it.
    pub(super) fn of_node(node: &Node) -> Option<Plain> {
        match node {
            Node::Str(s) => Some(Plain::Text(s.as_bytes().to_vec())),
            Node::Int(i) => Some(Plain::Int(*i)),
            Node::Float(f) => Some(Plain::Float(*f)),
            Node::Bool(b) => Some(Plain::Bool(*b)),
            Node::Null | Node::Tagged(_) | Node::List(_) | Node::Map(_) => None,
        }
    }
}

/// A top-level value after the walk.
pub(super) enum Top {
    Scalar(Plain),
    Null,
    /// A mapping or a list (decrypted for the MAC, then dropped).
    Nested,
}

/// Decrypts every value under `items` and checks the MAC; the top-level values in order.
pub(super) fn decrypt_items(
    items: &[(String, Node)],
    meta: &Metadata,
    key: &DataKey,
) -> Result<Vec<(String, Top)>, SopsError> {
    let mut walk = Walk { meta, key, hash: Sha512::new(), path: Vec::new() };
    if meta.mac_only_encrypted {
        walk.hash.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    let mut out = Vec::with_capacity(items.len());
    for (name, node) in items {
        walk.path.push(name.clone());
        let top = match node {
            Node::Null => Top::Null,
            Node::List(_) | Node::Map(_) => {
                walk.node(node)?;
                Top::Nested
            }
            _ => Top::Scalar(walk.leaf(node)?),
        };
        walk.path.pop();
        out.push((name.clone(), top));
    }
    let computed = hex::encode_upper(walk.hash.finalize());
    verify_mac(meta, key, &computed)?;
    Ok(out)
}

fn verify_mac(meta: &Metadata, key: &DataKey, computed: &str) -> Result<(), SopsError> {
    let mismatch = SopsError::MacMismatch { key: None };
    // An empty or unreadable `mac`, or one that does not open with this `lastmodified` (changed
    // after encryption): all mean the file is not as it was encrypted.
    let sealed = Encrypted::parse(&meta.mac).ok_or(SopsError::MacMismatch { key: None })?;
    let stored = key.open(&sealed, meta.last_modified.as_bytes()).ok_or(SopsError::MacMismatch { key: None })?;
    if bool::from(stored.as_slice().ct_eq(computed.as_bytes())) {
        Ok(())
    } else {
        Err(mismatch)
    }
}

struct Walk<'a> {
    meta: &'a Metadata,
    key: &'a DataKey,
    hash: Sha512,
    path: Vec<String>,
}

impl Walk<'_> {
    fn at(&self) -> String {
        self.path.join(".")
    }

    fn node(&mut self, node: &Node) -> Result<(), SopsError> {
        match node {
            Node::Null => Ok(()),
            Node::List(items) => items.iter().try_for_each(|item| self.node(item)),
            Node::Map(items) => {
                for (key, value) in items {
                    // A key that is not a string: sops refuses the tree (`non-string key`).
                    let key = match key {
                        Key::Str(k) => k.clone(),
                        Key::Other(k) => {
                            return Err(SopsError::Malformed {
                                at: format!("key `{k}`"),
                                reason: "keys must be strings".to_string(),
                            })
                        }
                    };
                    self.path.push(key);
                    let walked = self.node(value);
                    self.path.pop();
                    walked?;
                }
                Ok(())
            }
            _ => self.leaf(node).map(drop),
        }
    }

    fn leaf(&mut self, node: &Node) -> Result<Plain, SopsError> {
        let encrypted = self.meta.rule.encrypts(&self.path);
        let plain = if encrypted {
            let Node::Str(text) = node else {
                return Err(self.malformed("a value sops would have encrypted is not an encrypted string"));
            };
            if text.is_empty() {
                Plain::Text(Vec::new())
            } else {
                self.decrypt(text)?
            }
        } else {
            match node {
                Node::Tagged(tag) => {
                    return Err(SopsError::Unsupported {
                        feature: format!("a YAML tag (!{tag}) at key `{}`", self.at()),
                    })
                }
                other => Plain::of_node(other).ok_or_else(|| self.malformed("not a scalar"))?,
            }
        };
        if !self.meta.mac_only_encrypted || encrypted {
            self.hash.update(plain.mac_bytes());
        }
        Ok(plain)
    }

    fn decrypt(&self, text: &str) -> Result<Plain, SopsError> {
        let value = Encrypted::parse(text).ok_or_else(|| self.malformed("not in sops' ENC[AES256_GCM,...] form"))?;
        let additional_data = format!("{}:", self.path.join(":"));
        let bytes = self
            .key
            .open(&value, additional_data.as_bytes())
            .ok_or_else(|| SopsError::MacMismatch { key: Some(self.at()) })?;
        let text = || String::from_utf8(bytes.clone()).ok();
        let bad_type = || self.malformed(&format!("the decrypted value is not a valid {}", value.kind));
        // aes/cipher.go `Decrypt`: the type says how sops reads the plaintext back.
        Ok(match value.kind.as_str() {
            "str" | "bytes" | "time" => Plain::Text(bytes),
            "int" => Plain::Int(text().and_then(|t| t.parse::<i64>().ok()).ok_or_else(bad_type)?.into()),
            "float" => Plain::Float(text().and_then(|t| t.parse::<f64>().ok()).ok_or_else(bad_type)?),
            // Go's strconv.ParseBool.
            "bool" => Plain::Bool(match text().as_deref() {
                Some("1" | "t" | "T" | "true" | "TRUE" | "True") => true,
                Some("0" | "f" | "F" | "false" | "FALSE" | "False") => false,
                _ => return Err(bad_type()),
            }),
            _ => return Err(self.malformed("an encrypted value of an unknown type")),
        })
    }

    fn malformed(&self, reason: &str) -> SopsError {
        SopsError::Malformed { at: format!("key `{}`", self.at()), reason: reason.to_string() }
    }
}
