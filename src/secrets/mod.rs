//! Secrets, env files and configs: reading what manifests name, decrypting SOPS files with the
//! host's age key, sealing values into keyed digests, and the files moor writes for containers.
//!
//! After loading and admission, [`resolve`] reads what each service's references name, within
//! what [`read`] allows, decrypts SOPS files ([`sops`], with [`age_key`]'s identities), seals each
//! secret value with [`host_key`], and fills the service's spec and values. Apply writes files
//! through [`store`].
//!
//! - [`resolve`]: the step after admission; a service that cannot be resolved is a load problem.
//! - [`read`]: which files may be read (the manifest source, the policy's `readPaths`; symlinks
//!   resolved), and reading them within a size cap.
//! - [`age_key`]: the host's age identities (`SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`, sops' keys.txt).
//! - [`sops`]: SOPS files decrypted in memory with those keys, MAC verified; plain data files.
//! - [`host_key`]: the per-host key in `<state-dir>/digest.key` that seals secret values into
//!   `hmac-sha256:` digests, and the unkeyed `sha256:` digest of config files.
//! - [`store`]: the files moor writes for containers under the state dir (secret and config
//!   files, env bundles), content-addressed, never rewritten, garbage-collected.
//!
//! Invariant: no value read here reaches a message, a log or a label; values travel as
//! [`crate::sensitive::Sensitive`].

pub mod age_key;
pub mod host_key;
pub mod sops;
pub mod store;

/// Does an environment variable's name look like it holds a secret (`*PASSWORD*`, `*SECRET*`,
/// `*TOKEN*`, `*KEY*`, any case)? Such a plain `env` value is sealed like a Secret's (a digest in
/// the labels, `(secret)` in every output) and `moor validate` warns that it should move into a
/// Secret.
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    // `POSTGRES_PASSWORD_FILE`, `MYSQL_ROOT_PASSWORD_FILE`: the official images' convention for
    // the path of a mounted secret, which is no secret itself.
    if upper.ends_with("_FILE") {
        return false;
    }
    if ["PASSWORD", "SECRET", "TOKEN", "KEY", "CREDENTIAL"].iter().any(|w| upper.contains(w)) {
        return true;
    }
    // Short forms, as words of the name: `SMTP_PASS`, `PAPERLESS_DBPASS`, `LDAP_PASSWD`, and
    // `MYSQL_PWD` (`PWD` only as the last word of a longer name: alone, or first, it is the
    // working directory).
    let words: Vec<&str> = upper.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
    words.iter().any(|w| w.ends_with("PASS") || w.ends_with("PASSWD") || *w == "PASSPHRASE")
        || (words.len() > 1 && words.last() == Some(&"PWD"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_names() {
        for name in [
            "DB_PASSWORD",
            "password",
            "API_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "ssh_key",
            "KEYCLOAK_URL",
            "SMTP_PASS",
            "PAPERLESS_DBPASS",
            "MYSQL_PWD",
            "ldap_passwd",
            "GIT_CREDENTIALS",
        ] {
            assert!(looks_secret(name), "{name}");
        }
        for name in ["LOG_LEVEL", "PORT", "HOME", "POSTGRES_PASSWORD_FILE", "tls_key_file", "PASSAGE", "PWD_DIR"] {
            assert!(!looks_secret(name), "{name}");
        }
    }
}

pub mod read;
pub mod resolve;
