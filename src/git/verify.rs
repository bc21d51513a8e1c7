//! SSH commit signatures, checked as `git verify-commit` does with `gpg.format=ssh`: an `sshsig`
//! in the namespace `git` over the commit without its `gpgsig` header, by a key listed in an
//! OpenSSH allowed_signers file (ssh-keygen(1), ALLOWED SIGNERS).
//!
//! Invariants:
//! - A commit is accepted only when its signature verifies cryptographically AND a line listing
//!   its key allows it: `namespaces=` (when given) must match `git`, and `valid-after=` /
//!   `valid-before=` must hold at the commit's committer time (git passes that time to
//!   `ssh-keygen -Y verify` as `verify-time`). Every other case is a typed [`VerifyError`].
//! - `cert-authority` lines (keys that sign certificates) are not supported and fail the load, so
//!   a file relying on them is never half-honoured. So do options moor does not know, and
//!   `valid-*` times without a `Z` (OpenSSH reads those as the machine's local time).
//! - Only Ed25519 keys (`ssh-ed25519`, `sk-ssh-ed25519@openssh.com`) can be verified (ssh-key's
//!   `ed25519` feature); other keys load but a signature by one is [`VerifyError::Unsupported`].
//!
//! ssh-key 0.6 has no allowed_signers parser. Its authorized_keys parser reads the same
//! `[options] key` tail, but splits the options off at the first space (a quoted option with a
//! space breaks it) and has no principals field, so the few lines of parsing are done here.

use std::path::Path;

use ssh_key::public::KeyData;
use ssh_key::{HashAlg, PublicKey, SshSig};

use super::Commit;

/// Who signed: the principals of the allowed_signers line (as written) and the key's
/// fingerprint as `ssh-keygen -l` prints it (`SHA256:...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    pub principal: String,
    pub fingerprint: String,
}

impl std::fmt::Display for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.principal, self.fingerprint)
    }
}

/// Why a commit's signature is not accepted, or why the allowed_signers file cannot be used.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("commit {sha} is not signed")]
    Unsigned { sha: String },
    #[error("commit {sha} has a GPG or X.509 signature, not an SSH one")]
    NotSsh { sha: String },
    #[error("commit {sha} has a malformed SSH signature: {message}")]
    Malformed { sha: String, message: String },
    #[error("commit {sha} is signed by {fingerprint}, which is not an allowed signer")]
    UnknownKey { sha: String, fingerprint: String },
    #[error("commit {sha}: the signature by {fingerprint} does not verify")]
    BadSignature { sha: String, fingerprint: String },
    #[error("commit {sha}: the key {fingerprint} is listed but not allowed to sign it: {reason}")]
    NotAllowed { sha: String, fingerprint: String, reason: String },
    #[error("commit {sha} is signed with a {algorithm} key; only ssh-ed25519 keys can be verified")]
    Unsupported { sha: String, algorithm: String },
    /// The file cannot be read or used; `path` is `file` or `file:line`.
    #[error("{path}: {message}")]
    File { path: String, message: String },
}

/// One line of the file.
#[derive(Debug, Clone)]
struct Entry {
    principals: String,
    key: PublicKey,
    /// The `namespaces=` pattern list; `None` allows every namespace.
    namespaces: Option<String>,
    valid_after: Option<i64>,
    valid_before: Option<i64>,
}

/// The keys allowed to sign commits, from an OpenSSH allowed_signers file.
#[derive(Debug, Clone)]
pub struct AllowedSigners {
    entries: Vec<Entry>,
}

impl AllowedSigners {
    pub fn load(path: &Path) -> Result<AllowedSigners, VerifyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| VerifyError::File { path: path.display().to_string(), message: e.to_string() })?;
        Self::parse(&text, path)
    }

    /// Parses the file's text; problems are located as `origin:line`. A file without any key
    /// is an error: it would refuse every commit.
    pub fn parse(text: &str, origin: &Path) -> Result<AllowedSigners, VerifyError> {
        let mut entries = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let located =
                |message: String| VerifyError::File { path: format!("{}:{}", origin.display(), index + 1), message };
            entries.push(parse_line(line).map_err(located)?);
        }
        if entries.is_empty() {
            return Err(VerifyError::File {
                path: origin.display().to_string(),
                message: "no signers in the file".into(),
            });
        }
        Ok(AllowedSigners { entries })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn parse_line(line: &str) -> Result<Entry, String> {
    let (principals, rest) = next_field(line)?;
    if principals.is_empty() || rest.is_empty() {
        return Err("expected: principals [options] key-type base64-key [comment]".into());
    }
    let (options, key) = match PublicKey::from_openssh(rest) {
        Ok(key) => (String::new(), key),
        Err(_) => {
            let (options, key_text) = next_field(rest)?;
            let key = PublicKey::from_openssh(key_text).map_err(|e| format!("not a public key: {e}"))?;
            (options, key)
        }
    };
    let mut entry = Entry { principals, key, namespaces: None, valid_after: None, valid_before: None };
    for option in split_unquoted(&options, ',') {
        let (name, value) = match option.split_once('=') {
            Some((name, value)) => (name.to_ascii_lowercase(), Some(unquote(value)?)),
            None => (option.to_ascii_lowercase(), None),
        };
        match (name.as_str(), value) {
            ("cert-authority", None) => return Err("cert-authority (certificate) lines are not supported".into()),
            ("namespaces", Some(list)) => entry.namespaces = Some(list),
            ("valid-after", Some(time)) => entry.valid_after = Some(parse_time(&time)?),
            ("valid-before", Some(time)) => entry.valid_before = Some(parse_time(&time)?),
            _ => return Err(format!("unsupported option {option:?}")),
        }
    }
    Ok(entry)
}

/// The first whitespace-delimited field (`"..."` may quote spaces; the quotes are removed) and
/// the rest of the line, trimmed.
fn next_field(text: &str) -> Result<(String, &str), String> {
    let text = text.trim_start();
    let end = split_unquoted(text, ' ').next().map_or(0, str::len);
    let end = text[..end].find('\t').unwrap_or(end);
    let field = &text[..end];
    let value = if field.starts_with('"') { unquote(field)? } else { field.to_string() };
    Ok((value, text[end..].trim()))
}

/// `text` split at each `separator` outside double quotes.
fn split_unquoted(text: &str, separator: char) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    text.split(move |c: char| {
        if c == '"' {
            quoted = !quoted;
        }
        c == separator && !quoted
    })
    .filter(|part| !part.is_empty())
}

fn unquote(value: &str) -> Result<String, String> {
    match value.strip_prefix('"') {
        Some(inner) => {
            inner.strip_suffix('"').map(str::to_string).ok_or_else(|| format!("unterminated quote in {value}"))
        }
        None => Ok(value.to_string()),
    }
}

/// `YYYYMMDD[HHMM[SS]]Z` as seconds since the epoch (UTC).
fn parse_time(text: &str) -> Result<i64, String> {
    let digits = text.strip_suffix(['Z', 'z']).ok_or_else(|| {
        format!("{text:?}: times without a Z suffix are local times in OpenSSH; moor needs UTC: add Z")
    })?;
    let bad = || format!("{text:?}: expected YYYYMMDD[HHMM[SS]]Z");
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let field = |range: std::ops::Range<usize>| digits.get(range).map_or(0, |d| d.parse::<i64>().unwrap_or(0));
    let (year, month, day) = (field(0..4), field(4..6), field(6..8));
    let (hour, minute, second) = (field(8..10), field(10..12), field(12..14));
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return Err(bad());
    }
    // Days from the civil date (Howard Hinnant's algorithm), proleptic Gregorian.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Ok(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// OpenSSH's pattern lists: comma-separated, `*` and `?` wildcards, a `!` pattern vetoes.
fn matches_pattern_list(text: &str, list: &str) -> bool {
    let mut matched = false;
    for pattern in list.split(',').map(str::trim) {
        match pattern.strip_prefix('!') {
            Some(negated) if wildcard(text.as_bytes(), negated.as_bytes()) => return false,
            Some(_) => {}
            None => matched |= wildcard(text.as_bytes(), pattern.as_bytes()),
        }
    }
    matched
}

fn wildcard(text: &[u8], pattern: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, _) => text.is_empty(),
        (Some(b'*'), _) => wildcard(text, &pattern[1..]) || (!text.is_empty() && wildcard(&text[1..], pattern)),
        (Some(b'?'), Some(_)) => wildcard(&text[1..], &pattern[1..]),
        (Some(p), Some(t)) if p == t => wildcard(&text[1..], &pattern[1..]),
        _ => false,
    }
}

/// The committer time (seconds since the epoch) in the commit's header.
fn committer_time(payload: &[u8]) -> Option<i64> {
    let text = String::from_utf8_lossy(payload);
    let header = text.split("\n\n").next()?;
    let line = header.lines().find_map(|l| l.strip_prefix("committer "))?;
    let mut fields = line.rsplit(' ');
    let _zone = fields.next()?;
    fields.next()?.parse().ok()
}

/// Why `entry` does not allow a commit made at `time`, or `None` when it does.
fn refusal(entry: &Entry, time: Option<i64>) -> Option<String> {
    if let Some(list) = entry.namespaces.as_deref().filter(|list| !matches_pattern_list("git", list)) {
        return Some(format!("its namespaces={list:?} do not include \"git\""));
    }
    if entry.valid_after.is_none() && entry.valid_before.is_none() {
        return None;
    }
    let Some(time) = time else { return Some("the commit has no committer time to check validity against".into()) };
    match (entry.valid_after, entry.valid_before) {
        (Some(after), _) if time < after => Some("the commit is older than the key's valid-after".into()),
        (_, Some(before)) if time > before => Some("the commit is newer than the key's valid-before".into()),
        _ => None,
    }
}

/// Verifies the SSH signature of `commit` (namespace `git`, as git uses) against `signers`.
pub fn verify(signers: &AllowedSigners, commit: &Commit) -> Result<Signer, VerifyError> {
    let sha = commit.sha.clone();
    let signature = commit.signature.as_ref().ok_or_else(|| VerifyError::Unsigned { sha: sha.clone() })?;
    let armored = signature.armored.trim_start();
    if !armored.starts_with("-----BEGIN SSH SIGNATURE-----") {
        return Err(VerifyError::NotSsh { sha });
    }
    let sshsig =
        SshSig::from_pem(armored).map_err(|e| VerifyError::Malformed { sha: sha.clone(), message: e.to_string() })?;
    let key_data = sshsig.public_key();
    let fingerprint = key_data.fingerprint(HashAlg::Sha256).to_string();
    let listed: Vec<&Entry> = signers.entries.iter().filter(|e| e.key.key_data() == key_data).collect();
    let Some(first) = listed.first() else {
        return Err(VerifyError::UnknownKey { sha, fingerprint });
    };
    if !matches!(key_data, KeyData::Ed25519(_) | KeyData::SkEd25519(_)) {
        return Err(VerifyError::Unsupported { sha, algorithm: key_data.algorithm().to_string() });
    }
    // Checks the namespace inside the signature too: one made for `file` does not verify here.
    if first.key.verify("git", &signature.payload, &sshsig).is_err() {
        return Err(VerifyError::BadSignature { sha, fingerprint });
    }
    let time = committer_time(&signature.payload);
    let mut reasons = Vec::new();
    for entry in listed {
        match refusal(entry, time) {
            None => return Ok(Signer { principal: entry.principals.clone(), fingerprint }),
            Some(reason) => reasons.push(reason),
        }
    }
    Err(VerifyError::NotAllowed { sha, fingerprint, reason: reasons.join("; ") })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti";

    fn parse(text: &str) -> Result<AllowedSigners, VerifyError> {
        AllowedSigners::parse(text, Path::new("signers"))
    }

    #[test]
    fn lines_with_options_quotes_and_comments_parse() {
        let text = format!(
            "# team\n\nalice@x {KEY} alice laptop\n\"bob@x,carol@x\" namespaces=\"git,file\",valid-after=\"20240101Z\" {KEY}\n"
        );
        let signers = parse(&text).unwrap();
        assert_eq!(signers.len(), 2);
        let bob = &signers.entries[1];
        assert_eq!(bob.principals, "bob@x,carol@x");
        assert_eq!(bob.namespaces.as_deref(), Some("git,file"));
        assert_eq!(bob.valid_after, Some(1_704_067_200));
    }

    #[test]
    fn problems_are_located_and_refused() {
        let located = |text: &str| match parse(text) {
            Err(VerifyError::File { path, message }) => format!("{path}: {message}"),
            other => panic!("{other:?}"),
        };
        assert!(located(&format!("a {KEY}\nb cert-authority {KEY}")).starts_with("signers:2: cert-authority"));
        assert!(located(&format!("a restrict {KEY}")).contains("unsupported option \"restrict\""));
        assert!(located(&format!("a valid-before=\"20240101\" {KEY}")).contains("add Z"));
        assert!(located("a ssh-ed25519 notbase64").starts_with("signers:1: not a public key"));
        assert_eq!(located("# only a comment\n"), "signers: no signers in the file");
    }

    #[test]
    fn times_and_patterns_follow_openssh() {
        assert_eq!(parse_time("19700101Z"), Ok(0));
        assert_eq!(parse_time("20000301123045Z"), Ok(951_913_845));
        assert!(parse_time("20241301Z").is_err());
        assert!(matches_pattern_list("git", "file,g*"));
        assert!(!matches_pattern_list("git", "*,!git"));
        assert!(!matches_pattern_list("git", "file"));
    }

    #[test]
    fn the_committer_time_is_read_from_the_header() {
        let payload = b"tree 0\nauthor A <a@x> 5 +0000\ncommitter C <c@x> 1700000000 +0200\n\ncommitter 9 +0000\n";
        assert_eq!(committer_time(payload), Some(1_700_000_000));
    }
}
