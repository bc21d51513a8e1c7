//! The two ciphers of a SOPS file.
//!
//! - The data key: 32 random bytes, encrypted for each age recipient as an ASCII-armored age file
//!   (sops' `age/keysource.go`, `MasterKey.Encrypt`). Opened with the `age` crate.
//! - Each value: AES-256-GCM under the data key with a 32-byte IV and the value's path as
//!   additional data, written `ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:<t>]` (sops'
//!   `aes/cipher.go`). `data` is the ciphertext without the 16-byte tag; the types are
//!   str/int/float/bool/bytes/time/comment.
//!
//! Invariant: nothing here puts a value in an error; a failed authentication is `None`, the
//! caller names the key.

use super::SopsError;
use crate::secrets::age_key::Identities;
use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine;
use regex::Regex;
use std::io::Read;
use std::sync::LazyLock;

/// AES-256-GCM with sops' 32-byte nonce.
type Aes256Gcm32 = AesGcm<Aes256, U32>;

/// The data key that encrypts every value of one file.
pub(super) struct DataKey([u8; 32]);

/// One `ENC[...]` value, decoded.
pub(super) struct Encrypted {
    data: Vec<u8>,
    iv: Vec<u8>,
    tag: Vec<u8>,
    /// sops' `type:` (str, int, float, bool, bytes, time, comment).
    pub(super) kind: String,
}

/// sops' own pattern (`encre` in aes/cipher.go), so that what it accepts, moor accepts: greedy
/// groups, anchored at the start only.
static ENC: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]").expect("a valid pattern"));

/// Go's `base64.StdEncoding`: padded, and lenient about the unused bits of the last character.
const GO_STD_BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

impl Encrypted {
    /// None when `text` is not sops' encrypted form (or its base64 does not decode).
    pub(super) fn parse(text: &str) -> Option<Encrypted> {
        let groups = ENC.captures(text)?;
        let b64 = |i: usize| GO_STD_BASE64.decode(groups[i].as_bytes()).ok();
        Some(Encrypted { data: b64(1)?, iv: b64(2)?, tag: b64(3)?, kind: groups[4].to_string() })
    }
}

impl DataKey {
    /// Opens `value` with `additional_data` (the value's path, or `lastmodified` for the MAC).
    /// None when it does not authenticate: the value, its path or the key is not what was
    /// encrypted.
    pub(super) fn open(&self, value: &Encrypted, additional_data: &[u8]) -> Option<Vec<u8>> {
        // sops always writes a 32-byte IV and a 16-byte tag; anything else cannot be its output.
        if value.iv.len() != 32 || value.tag.len() != 16 {
            return None;
        }
        let cipher = Aes256Gcm32::new((&self.0).into());
        let mut sealed = Vec::with_capacity(value.data.len() + value.tag.len());
        sealed.extend_from_slice(&value.data);
        sealed.extend_from_slice(&value.tag);
        cipher.decrypt(Nonce::<U32>::from_slice(&value.iv), Payload { msg: &sealed, aad: additional_data }).ok()
    }

    /// The data key, opened with the first of the file's age entries that one of `ids` can open
    /// (sops tries them in order too).
    pub(super) fn recover(entries: &[super::metadata::AgeKey], ids: &Identities) -> Result<DataKey, SopsError> {
        let ours = ids.recipients();
        for entry in entries {
            let failed = |reason: &str| SopsError::Malformed {
                at: format!("sops.age (recipient {})", entry.recipient),
                reason: reason.to_string(),
            };
            let armored = age::armor::ArmoredReader::new(entry.enc.as_bytes());
            let opened = age::Decryptor::new(armored).and_then(|d| d.decrypt(ids.as_age()));
            let mut reader = match opened {
                Ok(reader) => reader,
                Err(age::DecryptError::NoMatchingKeys) => continue,
                // An entry for one of our keys that does not open is a damaged file; one for
                // someone else's key is not our business (sops skips it as well).
                Err(_) if ours.contains(&entry.recipient) => {
                    return Err(failed("its data key is not a valid age file"))
                }
                Err(_) => continue,
            };
            let mut key = Vec::with_capacity(32);
            reader.read_to_end(&mut key).map_err(|_| failed("its data key does not decrypt"))?;
            let key: [u8; 32] = key.try_into().map_err(|_| failed("its data key is not 32 bytes"))?;
            return Ok(DataKey(key));
        }
        Err(SopsError::NoMatchingKey {
            file_recipients: entries.iter().map(|e| e.recipient.clone()).collect(),
            host_recipients: ours,
        })
    }

    #[cfg(test)]
    pub(super) fn from_bytes(key: [u8; 32]) -> DataKey {
        DataKey(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sealing as sops' `Cipher.Encrypt` does, to check the layout (data, then tag).
    fn seal(key: &[u8; 32], iv: &[u8; 32], plain: &[u8], aad: &[u8], kind: &str) -> String {
        let out =
            Aes256Gcm32::new(key.into()).encrypt(Nonce::<U32>::from_slice(iv), Payload { msg: plain, aad }).unwrap();
        let (data, tag) = out.split_at(out.len() - 16);
        let b = base64::engine::general_purpose::STANDARD;
        format!("ENC[AES256_GCM,data:{},iv:{},tag:{},type:{kind}]", b.encode(data), b.encode(iv), b.encode(tag))
    }

    #[test]
    fn opens_what_sops_seals_and_only_with_the_same_path() {
        let key = [7u8; 32];
        let text = seal(&key, &[9u8; 32], b"hunter2", b"db:password:", "str");
        let value = Encrypted::parse(&text).unwrap();
        assert_eq!(value.kind, "str");
        let data_key = DataKey::from_bytes(key);
        assert_eq!(data_key.open(&value, b"db:password:").unwrap(), b"hunter2");
        assert!(data_key.open(&value, b"db:user:").is_none());
        assert!(DataKey::from_bytes([8u8; 32]).open(&value, b"db:password:").is_none());
    }

    #[test]
    fn only_sops_form_parses() {
        assert!(Encrypted::parse("hunter2").is_none());
        assert!(Encrypted::parse("ENC[AES256_GCM,data:***,iv:AA==,tag:AA==,type:str]").is_none());
        assert!(Encrypted::parse("ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]").is_some());
    }
}
