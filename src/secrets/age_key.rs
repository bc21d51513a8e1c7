//! The host's age identities: the X25519 keys that open the data key of a SOPS file.
//!
//! Where they come from follows sops' own `age/keysource.go` (`loadIdentities`), so a host set up
//! for `sops -d` works for moor unchanged: `SOPS_AGE_KEY` (the key text itself),
//! `SOPS_AGE_KEY_FILE` (a path), and the user's `sops/age/keys.txt` under `$XDG_CONFIG_HOME`, else
//! `$HOME/.config` (Go's `os.UserConfigDir` on Linux). Like sops, every source that is there is
//! read and the keys are pooled (sops does not stop at the first one). Unlike sops, a source that
//! is configured but broken (an unreadable `SOPS_AGE_KEY_FILE`, a file without a key) is an error
//! even when another source has keys: a daemon should say so rather than decrypt by luck.
//! Not supported (sops has them, a daemon without a terminal cannot use them or they run programs):
//! `SOPS_AGE_KEY_CMD`, SSH keys, age plugins, passphrase-protected key files.
//!
//! Invariant: no key material in any output. `Debug` shows the public recipients only, and errors
//! name the source and a line number, never the line (it may hold a key).

use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The host's age identities (X25519). Debug never shows key material.
pub struct Identities {
    keys: Vec<age::x25519::Identity>,
}

/// Why the host's age keys could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the age key file {path}: {source}")]
    Unreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: no age key in it (expected an AGE-SECRET-KEY-1... line)")]
    NoKey { origin: String },
    #[error("{origin}: line {line} is not an age X25519 secret key (AGE-SECRET-KEY-1...)")]
    Malformed { origin: String, line: usize },
    #[error("{origin}: {what} is not supported (only plain X25519 keys, AGE-SECRET-KEY-1...)")]
    Unsupported { origin: String, what: &'static str },
}

/// The file sops reads when no variable names a key: `<user config dir>/sops/age/keys.txt`.
const USER_KEY_FILE: &str = "sops/age/keys.txt";

impl Identities {
    /// An age key file's text: `AGE-SECRET-KEY-1...` lines, `#` comments, blank lines. `origin`
    /// names it in errors.
    ///
    /// Each key is parsed by `age::x25519::Identity`; only the line walk is here. Not
    /// `age::IdentityFile`: it also takes plugin identities, which the SOPS decoder cannot use,
    /// and its errors do not name the line, which a user needs to find a mistyped key that must
    /// never be quoted.
    pub fn parse(text: &str, origin: &str) -> Result<Identities, KeyError> {
        let first = text.trim_start();
        // `age -p`/`age-keygen | age -p` output: the key file itself is encrypted.
        if first.starts_with("-----BEGIN AGE ENCRYPTED FILE-----") || first.starts_with("age-encryption.org/") {
            return Err(KeyError::Unsupported { origin: origin.to_string(), what: "a passphrase-protected key file" });
        }
        let mut keys = Vec::new();
        for (index, line) in text.lines().enumerate() {
            // sops skips empty lines and `#` lines without trimming; trimming also accepts a
            // stray space or a CRLF file, which cannot change what a key line means.
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with("AGE-PLUGIN-") {
                return Err(KeyError::Unsupported { origin: origin.to_string(), what: "an age plugin identity" });
            }
            // The parser's error is a fixed text, but a line that fails may still be a key with a
            // typo: name the line, never quote it.
            let key = age::x25519::Identity::from_str(line)
                .map_err(|_| KeyError::Malformed { origin: origin.to_string(), line: index + 1 })?;
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(KeyError::NoKey { origin: origin.to_string() });
        }
        Ok(Identities { keys })
    }

    /// sops' own conventions: SOPS_AGE_KEY (the key text itself), SOPS_AGE_KEY_FILE (a path),
    /// and `$XDG_CONFIG_HOME/sops/age/keys.txt` or `$HOME/.config/sops/age/keys.txt` when that
    /// file exists; the keys of all that are there, pooled as sops does. Ok(None) when nothing is
    /// configured.
    pub fn from_env() -> Result<Option<Identities>, KeyError> {
        Identities::from_lookup(|name| std::env::var(name).ok())
    }

    /// The same with an injected environment lookup (for tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Identities>, KeyError> {
        // An empty variable counts as unset (the usual shell idiom `SOPS_AGE_KEY= cmd`).
        let get = |name: &str| get(name).filter(|v| !v.is_empty());
        let mut keys = Vec::new();
        if let Some(text) = get("SOPS_AGE_KEY") {
            keys.extend(Identities::parse(&text, "SOPS_AGE_KEY")?.keys);
        }
        if let Some(path) = get("SOPS_AGE_KEY_FILE") {
            keys.extend(read_file(Path::new(&path))?.keys);
        }
        if let Some(path) = user_key_file(&get) {
            // sops reads this file only when it exists; a missing one is not an error.
            if path.exists() {
                keys.extend(read_file(&path)?.keys);
            }
        }
        Ok((!keys.is_empty()).then_some(Identities { keys }))
    }

    /// The public recipients (age1...), for messages such as "encrypted for age1x.., not for this
    /// host's key age1y..".
    pub fn recipients(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.to_public().to_string()).collect()
    }

    /// The identities as age's decryptor takes them.
    pub(crate) fn as_age(&self) -> impl Iterator<Item = &dyn age::Identity> {
        self.keys.iter().map(|k| k as &dyn age::Identity)
    }
}

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identities").field("recipients", &self.recipients()).finish()
    }
}

fn read_file(path: &Path) -> Result<Identities, KeyError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| KeyError::Unreadable { path: path.display().to_string(), source })?;
    Identities::parse(&text, &path.display().to_string())
}

/// Go's `os.UserConfigDir` on Linux: `$XDG_CONFIG_HOME` when set and absolute (Go refuses a
/// relative one), else `$HOME/.config`; none without either.
fn user_key_file(get: &impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let dir = match get("XDG_CONFIG_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(get("HOME")?).join(".config"),
    };
    dir.is_absolute().then(|| dir.join(USER_KEY_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;
    use std::collections::HashMap;

    fn fresh_key() -> (String, String) {
        let id = age::x25519::Identity::generate();
        (id.to_string().expose_secret().to_string(), id.to_public().to_string())
    }

    #[test]
    fn parses_a_key_file_with_comments_and_blank_lines() {
        let (secret, public) = fresh_key();
        let (secret2, public2) = fresh_key();
        let text = format!("# created: today\n# public key: {public}\n{secret}\n\n  {secret2}\r\n");
        let ids = Identities::parse(&text, "keys.txt").unwrap();
        assert_eq!(ids.recipients(), vec![public, public2]);
    }

    #[test]
    fn errors_name_the_line_never_the_key() {
        let (secret, _) = fresh_key();
        // A key with its last character changed: the checksum fails.
        let mut broken = secret.clone();
        let last = broken.pop().unwrap();
        broken.push(if last == 'Q' { 'P' } else { 'Q' });
        let text = format!("# comment\n{secret}\n{broken}\n");
        let err = Identities::parse(&text, "keys.txt").unwrap_err();
        assert!(matches!(err, KeyError::Malformed { line: 3, .. }), "{err:?}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(&broken) && !shown.contains(&secret[20..]), "{shown}");
        assert!(shown.contains("keys.txt") && shown.contains("line 3"), "{shown}");
    }

    #[test]
    fn no_key_plugin_and_passphrase_files_are_typed_errors() {
        assert!(matches!(Identities::parse("# nothing\n\n", "f"), Err(KeyError::NoKey { .. })));
        assert!(matches!(
            Identities::parse("AGE-PLUGIN-YUBIKEY-1QQQ\n", "f"),
            Err(KeyError::Unsupported { what: "an age plugin identity", .. })
        ));
        assert!(matches!(
            Identities::parse("-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n", "f"),
            Err(KeyError::Unsupported { what: "a passphrase-protected key file", .. })
        ));
    }

    #[test]
    fn debug_shows_recipients_not_keys() {
        let (secret, public) = fresh_key();
        let ids = Identities::parse(&secret, "env").unwrap();
        let shown = format!("{ids:?}");
        assert!(shown.contains(&public), "{shown}");
        assert!(!shown.contains("AGE-SECRET-KEY") && !shown.contains(&secret[16..]), "{shown}");
    }

    fn lookup(vars: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        move |name: &str| map.get(name).cloned()
    }

    #[test]
    fn env_sources_are_pooled_like_sops() {
        let dir = tempfile::tempdir().unwrap();
        let (k1, p1) = fresh_key();
        let (k2, p2) = fresh_key();
        let (k3, p3) = fresh_key();
        let file = dir.path().join("host.agekey");
        std::fs::write(&file, format!("{k2}\n")).unwrap();
        let config = dir.path().join("config");
        std::fs::create_dir_all(config.join("sops/age")).unwrap();
        std::fs::write(config.join("sops/age/keys.txt"), format!("{k3}\n")).unwrap();

        let ids = Identities::from_lookup(lookup(&[
            ("SOPS_AGE_KEY", k1.clone()),
            ("SOPS_AGE_KEY_FILE", file.display().to_string()),
            ("XDG_CONFIG_HOME", config.display().to_string()),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(ids.recipients(), vec![p1.clone(), p2.clone(), p3.clone()]);

        // $HOME/.config when XDG_CONFIG_HOME is not set.
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join(".config/sops/age")).unwrap();
        std::fs::write(home.join(".config/sops/age/keys.txt"), format!("{k3}\n")).unwrap();
        let ids = Identities::from_lookup(lookup(&[("HOME", home.display().to_string())])).unwrap().unwrap();
        assert_eq!(ids.recipients(), vec![p3]);
    }

    #[test]
    fn nothing_configured_is_none_and_a_broken_source_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        // A HOME without the default file, an empty SOPS_AGE_KEY: nothing configured.
        let none = Identities::from_lookup(lookup(&[
            ("HOME", dir.path().display().to_string()),
            ("SOPS_AGE_KEY", String::new()),
        ]))
        .unwrap();
        assert!(none.is_none());

        let missing = dir.path().join("missing.agekey");
        let err = Identities::from_lookup(lookup(&[("SOPS_AGE_KEY_FILE", missing.display().to_string())])).unwrap_err();
        assert!(matches!(err, KeyError::Unreadable { .. }), "{err:?}");
        assert!(err.to_string().contains("missing.agekey"), "{err}");

        let empty = dir.path().join("empty.agekey");
        std::fs::write(&empty, "# no key here\n").unwrap();
        let err = Identities::from_lookup(lookup(&[("SOPS_AGE_KEY_FILE", empty.display().to_string())])).unwrap_err();
        assert!(matches!(err, KeyError::NoKey { .. }), "{err:?}");
    }
}
