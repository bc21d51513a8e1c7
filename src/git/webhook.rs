//! Authentication of a git server's push webhook (`POST /hooks/git`): the shared secret and the
//! check of a request's headers against it. Pure: no I/O but [`WebhookSecret::load`].
//!
//! Invariants:
//!
//! - **The secret never leaves this module as text.** [`WebhookSecret`]'s `Debug` prints `***`, its
//!   load errors name the file only, and no [`HookError`] carries a header's value (a wrong
//!   GitLab token is the secret mistyped, or a guess at it).
//! - **Every comparison with the secret is constant time.** HMACs through
//!   [`Mac::verify_slice`], the GitLab token through [`ConstantTimeEq`]. Only public facts (which
//!   header is present, whether it is well-formed hex of a SHA-256's length) decide early.
//! - **A valid hook is only a trigger.** [`verify`] says who signed and nothing about the body;
//!   the caller fetches and asks the remote itself, never trusting a SHA in the payload.

use std::fmt;
use std::path::{Path, PathBuf};

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The secret shared with the git server: the HMAC key, or GitLab's token itself.
pub struct WebhookSecret(Vec<u8>);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HookSecretError {
    /// The I/O error is about the file (not found, permission); it never holds the content.
    #[error("reading the webhook secret file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the webhook secret file {path} is empty: an empty key would let anyone sign a hook")]
    Empty { path: PathBuf },
}

impl WebhookSecret {
    /// Reads `path`. One trailing newline (`\n` or `\r\n`) is dropped, as an editor or
    /// `echo secret > file` adds one the git server's form never had; anything else is kept, byte
    /// for byte.
    pub fn load(path: &Path) -> Result<WebhookSecret, HookSecretError> {
        let mut bytes =
            std::fs::read(path).map_err(|source| HookSecretError::Read { path: path.to_path_buf(), source })?;
        if bytes.ends_with(b"\r\n") {
            bytes.truncate(bytes.len() - 2);
        } else if bytes.ends_with(b"\n") {
            bytes.truncate(bytes.len() - 1);
        }
        if bytes.is_empty() {
            return Err(HookSecretError::Empty { path: path.to_path_buf() });
        }
        Ok(WebhookSecret(bytes))
    }

    /// The secret as given, with no file and no newline stripping (tests, or a caller that
    /// already holds it).
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> WebhookSecret {
        WebhookSecret(bytes.into())
    }
}

/// Who signed a hook, as told by the header that was checked. Forgejo counts as Gitea: it sends
/// Gitea's header, and its own is the same HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    GitHub,
    Gitea,
    Gogs,
    GitLab,
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::GitHub => "github",
            Provider::Gitea => "gitea",
            Provider::Gogs => "gogs",
            Provider::GitLab => "gitlab",
        })
    }
}

/// Why a hook was refused. The messages name the header, never its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    #[error(
        "no webhook signature: none of X-Hub-Signature-256, X-Gitea-Signature, X-Forgejo-Signature, \
         X-Gogs-Signature, X-Gitlab-Token is present"
    )]
    NoSignature,
    #[error("the {} does not match the webhook secret", header_of(*provider))]
    BadSignature { provider: Provider },
    #[error("the {} is not {}", header_of(*provider), form_of(*provider))]
    Malformed { provider: Provider },
}

impl HookError {
    /// A short fixed text for the HTTP answer and the metric's log line.
    pub fn reason(&self) -> &'static str {
        match self {
            HookError::NoSignature => "no signature",
            HookError::BadSignature { .. } => "bad signature",
            HookError::Malformed { .. } => "malformed signature",
        }
    }
}

fn header_of(provider: Provider) -> &'static str {
    match provider {
        Provider::GitHub => "X-Hub-Signature-256 header",
        Provider::Gitea => "X-Gitea-Signature (or X-Forgejo-Signature) header",
        Provider::Gogs => "X-Gogs-Signature header",
        Provider::GitLab => "X-Gitlab-Token header",
    }
}

fn form_of(provider: Provider) -> &'static str {
    match provider {
        Provider::GitHub => "`sha256=` followed by 64 hex digits",
        Provider::Gitea | Provider::Gogs => "64 hex digits",
        // A token is any bytes; only a comparison can refuse it.
        Provider::GitLab => "a token",
    }
}

/// How a header carries its proof.
#[derive(Clone, Copy)]
enum Proof {
    /// Hex HMAC-SHA256 of the body, after this prefix.
    Hmac(&'static str),
    /// The secret itself.
    Token,
}

/// The headers [`verify`] knows, in the order it looks for them: the first present one decides,
/// and no other is looked at (a present but wrong signature is refused even if another header
/// would pass, so a forger gains nothing from sending several). Gitea and Forgejo also send
/// GitHub's `X-Hub-Signature-256` (and Gitea Gogs's header), all the same HMAC with the same
/// key, so the Gitea-family headers come first only to name the provider right in logs; GitHub
/// never sends theirs. GitHub's SHA-1 `X-Hub-Signature` is not accepted: its `-256` sibling is
/// always sent beside it.
const HEADERS: [(&str, Provider, Proof); 5] = [
    ("x-gitea-signature", Provider::Gitea, Proof::Hmac("")),
    ("x-forgejo-signature", Provider::Gitea, Proof::Hmac("")),
    ("x-gogs-signature", Provider::Gogs, Proof::Hmac("")),
    ("x-hub-signature-256", Provider::GitHub, Proof::Hmac("sha256=")),
    ("x-gitlab-token", Provider::GitLab, Proof::Token),
];

/// Checks a hook's signature (or GitLab's token) against `secret`. `Ok` names the provider
/// whose header proved it; the body's content is not looked at.
pub fn verify(headers: &HeaderMap, body: &[u8], secret: &WebhookSecret) -> Result<Provider, HookError> {
    let (value, provider, proof) = HEADERS
        .iter()
        .find_map(|&(name, provider, proof)| headers.get(name).map(|v| (v.as_bytes(), provider, proof)))
        .ok_or(HookError::NoSignature)?;
    match proof {
        Proof::Token => {
            // `ct_eq` on slices of different lengths is false; the length is not hidden, which
            // tells a guesser only the secret's length.
            if bool::from(value.ct_eq(&secret.0)) {
                Ok(provider)
            } else {
                Err(HookError::BadSignature { provider })
            }
        }
        Proof::Hmac(prefix) => {
            let digest = value
                .strip_prefix(prefix.as_bytes())
                .and_then(decode_hex)
                .filter(|d| d.len() == SHA256_LEN)
                .ok_or(HookError::Malformed { provider })?;
            let mut mac = Hmac::<Sha256>::new_from_slice(&secret.0).expect("HMAC takes a key of any length");
            mac.update(body);
            mac.verify_slice(&digest).map(|()| provider).map_err(|_| HookError::BadSignature { provider })
        }
    }
}

const SHA256_LEN: usize = 32;

/// Hex digits, either case, to bytes; `None` for an odd length or any other character.
fn decode_hex(hex: &[u8]) -> Option<Vec<u8>> {
    hex::decode(hex).ok()
}

/// The event's name (`push`, `ping`, …) from the provider's event header, for logs. Only
/// visible ASCII is returned, cut to 64 bytes: the value is the sender's and goes into a log
/// line. Every event is a valid trigger, `ping` included (GitHub sends one when the hook is
/// created): a trigger only makes moor fetch, which is harmless when nothing changed.
pub fn event_kind(headers: &HeaderMap) -> Option<String> {
    const EVENT_HEADERS: [&str; 5] =
        ["x-gitea-event", "x-forgejo-event", "x-gogs-event", "x-github-event", "x-gitlab-event"];
    let value = EVENT_HEADERS.iter().find_map(|name| headers.get(*name))?;
    // `to_str` refuses anything but ASCII, so the cut is on a char boundary.
    let text = value.to_str().ok()?;
    Some(text[..text.len().min(64)].to_string())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const BODY: &[u8] = br#"{"ref":"refs/heads/main","after":"0123456789abcdef"}"#;
    const SECRET: &[u8] = b"It's a Secret to Everybody";

    fn secret() -> WebhookSecret {
        WebhookSecret::from_bytes(SECRET)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    /// HMAC-SHA256 of `body` under `key`, as hex, computed by `openssl` (an implementation
    /// independent of the `hmac` crate), or `None` where no `openssl` is installed.
    fn openssl_hmac(key: &[u8], body: &[u8]) -> Option<String> {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let key = std::str::from_utf8(key).unwrap();
        let mut child = Command::new("openssl")
            .args(["dgst", "-sha256", "-hmac", key, "-r"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        child.stdin.take().unwrap().write_all(body).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        // `-r` prints `<hex> *stdin`.
        Some(String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string())
    }

    /// HMAC-SHA256 of `BODY` under `SECRET`, computed outside this crate (by `openssl dgst
    /// -sha256 -hmac` and Python's `hmac`, which agree); `openssl_agrees` checks it again where
    /// `openssl` is installed.
    const EXPECTED: &str = "378fd8ef898f9f62b40ff08a04e27fa2c573642cc582ffa7adbcb55d87c82947";

    fn expected() -> String {
        EXPECTED.to_string()
    }

    #[test]
    fn openssl_agrees() {
        if let Some(theirs) = openssl_hmac(SECRET, BODY) {
            assert_eq!(theirs, EXPECTED);
        }
    }

    #[test]
    fn rfc_4231_test_case_2() {
        // Key "Jefe", data "what do ya want for nothing?".
        let sig = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        let secret = WebhookSecret::from_bytes("Jefe");
        let body = b"what do ya want for nothing?";
        assert_eq!(verify(&headers(&[("X-Gitea-Signature", sig)]), body, &secret), Ok(Provider::Gitea));
        let github = format!("sha256={sig}");
        assert_eq!(verify(&headers(&[("X-Hub-Signature-256", &github)]), body, &secret), Ok(Provider::GitHub));
        if let Some(theirs) = openssl_hmac(b"Jefe", body) {
            assert_eq!(theirs, sig, "openssl agrees with RFC 4231");
        }
    }

    #[test]
    fn each_provider_signature_is_accepted() {
        let sig = expected();
        let github = format!("sha256={sig}");
        let cases: [(&'static str, &str, Provider); 4] = [
            ("X-Hub-Signature-256", &github, Provider::GitHub),
            ("X-Gitea-Signature", &sig, Provider::Gitea),
            ("X-Forgejo-Signature", &sig, Provider::Gitea),
            ("X-Gogs-Signature", &sig, Provider::Gogs),
        ];
        for (name, value, provider) in cases {
            assert_eq!(verify(&headers(&[(name, value)]), BODY, &secret()), Ok(provider), "{name}");
        }
    }

    #[test]
    fn upper_case_hex_is_accepted() {
        let sig = expected().to_ascii_uppercase();
        assert_eq!(verify(&headers(&[("X-Gogs-Signature", &sig)]), BODY, &secret()), Ok(Provider::Gogs));
        let github = format!("sha256={sig}");
        assert_eq!(verify(&headers(&[("X-Hub-Signature-256", &github)]), BODY, &secret()), Ok(Provider::GitHub));
    }

    #[test]
    fn a_wrong_signature_a_changed_body_or_another_key_is_refused() {
        let sig = expected();
        // One digit changed.
        let mut wrong = sig.clone().into_bytes();
        wrong[10] = if wrong[10] == b'0' { b'1' } else { b'0' };
        let wrong = String::from_utf8(wrong).unwrap();
        let bad = Err(HookError::BadSignature { provider: Provider::Gitea });
        assert_eq!(verify(&headers(&[("X-Gitea-Signature", &wrong)]), BODY, &secret()), bad);
        let right = headers(&[("X-Gitea-Signature", &sig)]);
        assert_eq!(verify(&right, b"{\"ref\":\"refs/heads/evil\"}", &secret()), bad);
        assert_eq!(verify(&right, BODY, &WebhookSecret::from_bytes("another secret")), bad);
        let github = format!("sha256={wrong}");
        assert_eq!(
            verify(&headers(&[("X-Hub-Signature-256", &github)]), BODY, &secret()),
            Err(HookError::BadSignature { provider: Provider::GitHub })
        );
    }

    #[test]
    fn a_signature_not_of_the_expected_form_is_malformed() {
        let sig = expected();
        let gitea = Err(HookError::Malformed { provider: Provider::Gitea });
        let github = Err(HookError::Malformed { provider: Provider::GitHub });
        for value in [&sig[..62], &sig[..63], &format!("{sig}00"), &format!("{}zz", &sig[..62]), ""] {
            assert_eq!(verify(&headers(&[("X-Gitea-Signature", value)]), BODY, &secret()), gitea, "{value:?}");
        }
        for value in [sig.clone(), format!("sha1={sig}"), format!("SHA256:{sig}"), format!("sha256={}", &sig[..40])] {
            assert_eq!(verify(&headers(&[("X-Hub-Signature-256", &value)]), BODY, &secret()), github, "{value:?}");
        }
    }

    #[test]
    fn no_known_header_is_no_signature() {
        assert_eq!(verify(&HeaderMap::new(), BODY, &secret()), Err(HookError::NoSignature));
        // GitHub's legacy SHA-1 header alone does not count, even with the right SHA-1.
        let only_sha1 = headers(&[("X-Hub-Signature", "sha1=0000000000000000000000000000000000000000")]);
        assert_eq!(verify(&only_sha1, BODY, &secret()), Err(HookError::NoSignature));
    }

    #[test]
    fn gitlab_token_is_compared_with_the_secret() {
        let token = std::str::from_utf8(SECRET).unwrap();
        assert_eq!(verify(&headers(&[("X-Gitlab-Token", token)]), BODY, &secret()), Ok(Provider::GitLab));
        let bad = Err(HookError::BadSignature { provider: Provider::GitLab });
        for wrong in ["It's a Secret to Everybodz", "It's a Secret to Everybody!", "It's a Secret", ""] {
            assert_eq!(verify(&headers(&[("X-Gitlab-Token", wrong)]), BODY, &secret()), bad, "{wrong:?}");
        }
    }

    #[test]
    fn the_first_known_header_decides() {
        let sig = expected();
        let github = format!("sha256={sig}");
        // Gitea sends its own header beside GitHub's and Gogs's: it is named Gitea.
        let gitea =
            headers(&[("X-Gitea-Signature", &sig), ("X-Gogs-Signature", &sig), ("X-Hub-Signature-256", &github)]);
        assert_eq!(verify(&gitea, BODY, &secret()), Ok(Provider::Gitea));
        // A wrong first header is not rescued by a right later one.
        let wrong_first = headers(&[("X-Gogs-Signature", &"0".repeat(64)), ("X-Hub-Signature-256", &github)]);
        assert_eq!(verify(&wrong_first, BODY, &secret()), Err(HookError::BadSignature { provider: Provider::Gogs }));
        let token = std::str::from_utf8(SECRET).unwrap();
        let with_token = headers(&[("X-Hub-Signature-256", "sha256=00"), ("X-Gitlab-Token", token)]);
        assert_eq!(verify(&with_token, BODY, &secret()), Err(HookError::Malformed { provider: Provider::GitHub }));
    }

    #[test]
    fn errors_name_the_header_and_never_its_value() {
        let value = "sha256=deadbeef";
        let err = verify(&headers(&[("X-Hub-Signature-256", value)]), BODY, &secret()).unwrap_err();
        assert_eq!(err.to_string(), "the X-Hub-Signature-256 header is not `sha256=` followed by 64 hex digits");
        assert_eq!(err.reason(), "malformed signature");
        let err = verify(&headers(&[("X-Gitlab-Token", "guess")]), BODY, &secret()).unwrap_err();
        assert_eq!(err.to_string(), "the X-Gitlab-Token header does not match the webhook secret");
        assert_eq!(err.reason(), "bad signature");
        assert_eq!(HookError::NoSignature.reason(), "no signature");
    }

    #[test]
    fn event_kind_reads_the_providers_event_header() {
        assert_eq!(event_kind(&headers(&[("X-GitHub-Event", "ping")])).as_deref(), Some("ping"));
        assert_eq!(event_kind(&headers(&[("X-Gitlab-Event", "Push Hook")])).as_deref(), Some("Push Hook"));
        assert_eq!(
            event_kind(&headers(&[("X-Gogs-Event", "push"), ("X-Gitea-Event", "create")])).as_deref(),
            Some("create")
        );
        assert_eq!(event_kind(&HeaderMap::new()), None);
        let long = "x".repeat(100);
        assert_eq!(event_kind(&headers(&[("X-GitHub-Event", &long)])).unwrap().len(), 64);
        let mut map = HeaderMap::new();
        map.insert("x-github-event", HeaderValue::from_bytes(b"push\xff").unwrap());
        assert_eq!(event_kind(&map), None);
    }

    #[test]
    fn debug_of_the_secret_shows_no_content() {
        assert_eq!(format!("{:?}", secret()), "WebhookSecret(***)");
        assert_eq!(format!("{:#?}", secret()), "WebhookSecret(***)");
    }

    #[test]
    fn load_strips_one_newline_and_refuses_an_empty_secret() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, content: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            path
        };
        let cases: [(&str, &[u8], &[u8]); 5] = [
            ("plain", b"s3cret", b"s3cret"),
            ("lf", b"s3cret\n", b"s3cret"),
            ("crlf", b"s3cret\r\n", b"s3cret"),
            ("two", b"s3cret\n\n", b"s3cret\n"),
            ("spaces", b" s3cret \n", b" s3cret "),
        ];
        for (name, content, secret) in cases {
            assert_eq!(WebhookSecret::load(&write(name, content)).unwrap().0, secret, "{name}");
        }
        for (name, content) in [("empty", &b""[..]), ("newline", b"\n"), ("crlf-only", b"\r\n")] {
            let path = write(name, content);
            let err = WebhookSecret::load(&path).unwrap_err();
            assert!(matches!(&err, HookSecretError::Empty { path: p } if *p == path), "{name}: {err:?}");
            assert_eq!(
                err.to_string(),
                format!(
                    "the webhook secret file {} is empty: an empty key would let anyone sign a hook",
                    path.display()
                )
            );
        }
        let missing = dir.path().join("missing");
        let err = WebhookSecret::load(&missing).unwrap_err();
        assert!(matches!(&err, HookSecretError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound));
    }

    #[test]
    fn a_load_error_never_shows_the_content() {
        // A directory cannot be read as a file: the error names the path, and the content of
        // a real secret is nowhere in any error or Debug.
        let dir = tempfile::tempdir().unwrap();
        let err = WebhookSecret::load(dir.path()).unwrap_err();
        assert!(matches!(err, HookSecretError::Read { .. }));
        let path = dir.path().join("secret");
        std::fs::write(&path, b"hunter2\n").unwrap();
        let loaded = WebhookSecret::load(&path).unwrap();
        assert!(!format!("{loaded:?}").contains("hunter2"));
    }
}
