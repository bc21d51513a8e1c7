//! Secrets, env files and configs: reading what manifests name, decrypting SOPS files with the
//! host's age key, sealing values into keyed digests, and the files moor writes for containers.
//!
//! (Module map and invariants: filled in as the parts land.)
//! - [`age_key`]: the host's age identities (`SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`, sops' keys.txt).
//! - [`sops`]: SOPS files decrypted in memory with those keys, MAC verified; plain data files.

pub mod age_key;
pub mod sops;

/// Does an environment variable's name look like it holds a secret (`*PASSWORD*`, `*SECRET*`,
/// `*TOKEN*`, `*KEY*`, any case)? Such a plain `env` value is sealed like a Secret's (a digest in
/// the labels, `(secret)` in every output) and `moor validate` warns that it should move into a
/// Secret.
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["PASSWORD", "SECRET", "TOKEN", "KEY"].iter().any(|w| upper.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_names() {
        for name in ["DB_PASSWORD", "password", "API_TOKEN", "AWS_SECRET_ACCESS_KEY", "ssh_key", "KEYCLOAK_URL"] {
            assert!(looks_secret(name), "{name}");
        }
        for name in ["LOG_LEVEL", "PORT", "PASSWD_FILE_PATH", "HOME"] {
            assert!(!looks_secret(name), "{name}");
        }
    }
}
