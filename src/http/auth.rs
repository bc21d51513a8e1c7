//! The listener's authentication: one shared token, as a bearer token or as the password of
//! HTTP Basic auth (so that a browser can open `/status`), on every endpoint but `/healthz`
//! (liveness probes carry no credentials) and `/hooks/git` (git servers cannot send a token: the
//! hook is authenticated by its own HMAC).
//!
//! Invariants: the token is compared in constant time; it never appears in a log, an error or a
//! `Debug`; a request without valid credentials gets `401` with a `WWW-Authenticate` challenge
//! and reaches no handler.

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use subtle::ConstantTimeEq;

/// The listener's token; `Debug` hides it.
#[derive(Clone)]
pub struct ListenToken(Arc<[u8]>);

impl std::fmt::Debug for ListenToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ListenToken(***)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("reading the listener token file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("the listener token file {path} is empty")]
    Empty { path: String },
}

impl ListenToken {
    /// Reads the token from `path`, without surrounding whitespace (a trailing newline is what
    /// `echo … > file` leaves). An empty token is refused: it would let anyone in.
    pub fn load(path: &Path) -> Result<ListenToken, TokenFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read(path).map_err(|source| TokenFileError::Read { path: shown.clone(), source })?;
        let token = text.trim_ascii();
        if token.is_empty() {
            return Err(TokenFileError::Empty { path: shown });
        }
        Ok(ListenToken(token.into()))
    }

    pub fn from_bytes(token: impl AsRef<[u8]>) -> ListenToken {
        ListenToken(token.as_ref().into())
    }

    /// True when `headers` carry this token as `Bearer TOKEN` or as Basic auth's password (any
    /// user name).
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
        let credentials = credentials.trim();
        let offered = if scheme.eq_ignore_ascii_case("bearer") {
            credentials.as_bytes().to_vec()
        } else if scheme.eq_ignore_ascii_case("basic") {
            let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(credentials) else {
                return false;
            };
            match decoded.iter().position(|b| *b == b':') {
                Some(colon) => decoded[colon + 1..].to_vec(),
                None => return false,
            }
        } else {
            return false;
        };
        // `ct_eq` on slices of different lengths is false without comparing: the length of the
        // token is not a secret worth hiding, its bytes are.
        bool::from(offered.as_slice().ct_eq(&self.0))
    }
}

/// The middleware: lets a request through only with the token.
pub async fn require_token(State(token): State<ListenToken>, request: Request, next: Next) -> Response {
    if token.admits(request.headers()) {
        return next.run(request).await;
    }
    tracing::debug!(path = %request.uri().path(), "listener request without a valid token: 401");
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, r#"Basic realm="moor", charset="UTF-8""#)],
        "a token is required: Authorization: Bearer TOKEN (or Basic auth with the token as password)\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    fn basic(user_pass: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user_pass))
    }

    #[test]
    fn the_token_is_accepted_as_bearer_or_as_basic_password_and_nothing_else() {
        let token = ListenToken::from_bytes("s3cret-t0ken");
        assert!(token.admits(&headers("Bearer s3cret-t0ken")));
        assert!(token.admits(&headers("bearer s3cret-t0ken")));
        assert!(token.admits(&headers(&basic("admin:s3cret-t0ken"))));
        assert!(token.admits(&headers(&basic(":s3cret-t0ken"))));
        assert!(!token.admits(&HeaderMap::new()));
        assert!(!token.admits(&headers("Bearer s3cret-t0ke")));
        assert!(!token.admits(&headers("Bearer s3cret-t0ken2")));
        assert!(!token.admits(&headers("Bearer ")));
        assert!(!token.admits(&headers(&basic("s3cret-t0ken"))), "no colon: no password");
        assert!(!token.admits(&headers(&basic("s3cret-t0ken:x"))), "the user name is not the password");
        assert!(!token.admits(&headers("Basic !!!not-base64")));
        assert!(!token.admits(&headers("Token s3cret-t0ken")));
    }

    #[test]
    fn the_token_file_is_trimmed_and_may_not_be_empty_and_debug_hides_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "abc123\n").unwrap();
        let token = ListenToken::load(&file).unwrap();
        assert!(token.admits(&headers("Bearer abc123")));
        assert_eq!(format!("{token:?}"), "ListenToken(***)");
        std::fs::write(&file, " \n").unwrap();
        let e = ListenToken::load(&file).unwrap_err();
        assert!(matches!(e, TokenFileError::Empty { .. }), "{e}");
        let e = ListenToken::load(&dir.path().join("missing")).unwrap_err();
        assert!(matches!(e, TokenFileError::Read { .. }), "{e}");
    }
}
