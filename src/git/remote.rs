//! The remote as the user names it, and what gix is given to reach it.
//!
//! Invariants:
//! - A secret (a [`Token`], or a password written into the URL) is never part of the URL gix
//!   sees: gix gets the URL without userinfo and the secret only as the answer to a credential
//!   request, so it cannot end up in gix's messages; `Target::scrub` still removes it from every
//!   message, in case.
//! - [`Remote::display_url`] has no userinfo; it is the only form of the URL in errors and logs.
//! - HTTPS trust: gix's reqwest transport builds its own client with rustls' platform verifier,
//!   which on Linux loads the system's CAs, or only `SSL_CERT_FILE` / `SSL_CERT_DIR` when one of
//!   them is set (rustls-native-certs' rule). gix's `http.sslCAInfo` is honoured by its curl
//!   transport only, so it is not offered; nor are client certificates or `http.sslVerify=false`.
//! - Proxies: reqwest's own `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` (gix's `http.proxy` is
//!   not read: the state repository's config is the only one, and moor writes none).
//! - SSH runs the system `ssh` (host keys from the user's `known_hosts`, `BatchMode=yes` so it
//!   never prompts); with [`Remote::ssh_key`] it is `ssh -i KEY -o IdentitiesOnly=yes`.

use std::fmt;
use std::path::PathBuf;

use super::{error_chain, GitError};

/// A secret string (a token); `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(secret: String) -> Self {
        Token(secret)
    }

    /// The secret itself, for the one place that hands it over.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A git remote and how to authenticate to it. `Debug` shows [`Remote::display_url`], since the
/// URL may carry a password.
#[derive(Clone)]
pub struct Remote {
    /// As the user gave it: `https://`, `http://`, `ssh://`, scp-like `git@host:org/repo`,
    /// `file://`, or a local path.
    pub url: String,
    /// A branch, a tag, a full ref name (`refs/...`) or a full 40-hex commit SHA; `None` is the
    /// remote's HEAD. A short name is looked up as a branch first, then as a tag (`git clone
    /// --branch`'s order).
    pub reference: Option<String>,
    /// The HTTPS basic-auth password; the user name is the URL's, else `x-access-token`.
    pub token: Option<Token>,
    /// Given to ssh as `-i FILE -o IdentitiesOnly=yes`.
    pub ssh_key: Option<PathBuf>,
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote")
            .field("url", &self.display_url())
            .field("reference", &self.reference)
            .field("token", &self.token)
            .field("ssh_key", &self.ssh_key)
            .finish()
    }
}

impl Remote {
    /// A remote at `url`'s HEAD, without credentials.
    pub fn new(url: impl Into<String>) -> Remote {
        Remote { url: url.into(), reference: None, token: None, ssh_key: None }
    }

    /// The URL with any userinfo (`user:password@`) removed; safe for logs and `/status`.
    /// An scp-like `git@host:path` has no password and is shown as given.
    pub fn display_url(&self) -> String {
        if let Some(userinfo) = unparsable_userinfo(&self.url) {
            return self.url.replacen(&format!("{userinfo}@"), "", 1);
        }
        match split_url(&self.url) {
            Some(parts) => format!("{}://{}", parts.scheme, parts.rest),
            None => self.url.clone(),
        }
    }

    /// `main`, `v1.2`, a SHA, or `HEAD`.
    pub fn display_ref(&self) -> String {
        self.reference.clone().unwrap_or_else(|| "HEAD".to_string())
    }

    /// The reference when it is a full commit SHA (lower-cased): nothing to ask the remote.
    pub(crate) fn reference_sha(&self) -> Option<String> {
        let reference = self.reference.as_deref()?;
        (reference.len() == 40 && reference.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| reference.to_ascii_lowercase())
    }
}

/// A URL with a `scheme://`, split around its userinfo.
struct UrlParts<'a> {
    scheme: String,
    user: Option<&'a str>,
    password: Option<&'a str>,
    /// Everything after the userinfo: `host[:port]/path...`.
    rest: &'a str,
}

/// In a URL that does not parse, the text between `://` and its last `@`: a password holding an
/// unescaped `/`, `?` or `#` ends the authority early, so [`split_url`] sees no userinfo and the
/// password would be shown. Such a URL can never work; it is shown without that text. `None` for
/// a URL that parses (`https://host/a@b` has an `@` in its path), or has no `@` past `://`.
fn unparsable_userinfo(url: &str) -> Option<&str> {
    let (_, after) = url.split_once("://")?;
    let at = after.rfind('@')?;
    gix::url::parse(gix::bstr::BStr::new(url)).is_err().then_some(&after[..at])
}

fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let (scheme, after) = url.split_once("://")?;
    if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) {
        return None;
    }
    let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (user, password, rest) = match after[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &after[..at];
            let (user, password) = match userinfo.split_once(':') {
                Some((user, password)) => (user, Some(password)),
                None => (userinfo, None),
            };
            (Some(user).filter(|u| !u.is_empty()), password, &after[at + 1..])
        }
        None => (None, None, after),
    };
    Some(UrlParts { scheme: scheme.to_ascii_lowercase(), user, password, rest })
}

/// `%XX` escapes decoded (userinfo may hold them); invalid escapes stay as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).and_then(|b| hex(*b)), bytes.get(i + 2).and_then(|b| hex(*b))) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Quoted for `sh`: gix runs `core.sshCommand` through a shell.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// What the fetcher hands to gix for one [`Remote`]: the URL without secrets, the basic-auth
/// identity, and the texts to scrub from messages.
pub(crate) struct Target {
    /// The URL for gix: no password ever; no user name for http(s) (it goes with the token).
    pub url: String,
    /// [`Remote::display_url`].
    pub display: String,
    pub is_https_or_http: bool,
    /// User name and password for an HTTP credential request.
    pub credentials: Option<(String, Token)>,
    secrets: Vec<String>,
}

impl Target {
    pub fn new(remote: &Remote) -> Target {
        let display = remote.display_url();
        if let Some(userinfo) = unparsable_userinfo(&remote.url) {
            // gix refuses the URL (InvalidUrl) and quotes it: scrub the userinfo and its parts.
            let mut secrets: Vec<String> = remote.token.iter().map(|t| t.expose().to_string()).collect();
            secrets.push(userinfo.to_string());
            if let Some((_, password)) = userinfo.split_once(':') {
                secrets.extend([password.to_string(), percent_decode(password)]);
            }
            secrets.retain(|s| !s.is_empty());
            let is_https_or_http =
                ["http://", "https://"].iter().any(|p| remote.url.to_ascii_lowercase().starts_with(p));
            return Target { url: remote.url.clone(), display, is_https_or_http, credentials: None, secrets };
        }
        let Some(parts) = split_url(&remote.url) else {
            // scp-like or a local path: nothing secret in it.
            let secrets = remote.token.iter().map(|t| t.expose().to_string()).collect();
            return Target { url: remote.url.clone(), display, is_https_or_http: false, credentials: None, secrets };
        };
        let url_password = parts.password.filter(|p| !p.is_empty());
        let mut secrets: Vec<String> = remote.token.iter().map(|t| t.expose().to_string()).collect();
        if let Some(password) = url_password {
            secrets.push(password.to_string());
            secrets.push(percent_decode(password));
        }
        secrets.retain(|s| !s.is_empty());
        let is_http = parts.scheme == "http" || parts.scheme == "https";
        let url = match (is_http, parts.user) {
            // ssh needs its user name; it never uses a password from the URL.
            (false, Some(user)) if parts.scheme != "file" => format!("{}://{user}@{}", parts.scheme, parts.rest),
            _ => display.clone(),
        };
        let token = remote.token.clone().or_else(|| url_password.map(|p| Token::new(percent_decode(p))));
        let credentials = match (is_http, token) {
            (true, Some(token)) => {
                let user = parts.user.map(percent_decode).unwrap_or_else(|| "x-access-token".to_string());
                Some((user, token))
            }
            _ => None,
        };
        Target { url, display, is_https_or_http: is_http, credentials, secrets }
    }

    /// `message` with every secret replaced by `***`.
    pub fn scrub(&self, message: &str) -> String {
        let mut message = message.to_string();
        for secret in &self.secrets {
            message = message.replace(secret.as_str(), "***");
        }
        message
    }

    pub fn invalid_url(&self, message: &str) -> GitError {
        GitError::InvalidUrl { url: self.display.clone(), message: self.scrub(message) }
    }

    pub fn connect(&self, message: &str) -> GitError {
        GitError::Connect { url: self.display.clone(), message: self.scrub(message) }
    }

    pub fn auth(&self, message: &str) -> GitError {
        GitError::Auth { url: self.display.clone(), message: self.scrub(message) }
    }

    pub fn fetch(&self, message: &str) -> GitError {
        GitError::Fetch { url: self.display.clone(), message: self.scrub(message) }
    }

    /// Answers gix's credential request with the token, and nothing else: no credential helper
    /// and no prompt is ever run. Without a token the request is answered "none", which gix
    /// reports as an authentication failure. So is a request for another scheme, host or port
    /// than the remote's: the remote redirected there (gix follows the first redirect), and the
    /// token is for the remote the user named only (gix drops the identity on such a redirect,
    /// then asks again for the new URL).
    #[allow(clippy::result_large_err, reason = "the signature is gix's (`gix_credentials::protocol::Result`)")]
    pub fn credentials(
        &self,
    ) -> impl FnMut(gix::credentials::helper::Action) -> gix::credentials::protocol::Result + 'static {
        let credentials = self.credentials.clone();
        let remote = authority(self.url.as_bytes());
        let for_remote = move |context: &gix::credentials::protocol::Context| {
            let url = match (&context.url, &context.protocol, &context.host) {
                (Some(url), _, _) => url.to_vec(),
                (None, Some(protocol), Some(host)) => format!("{protocol}://{host}/").into_bytes(),
                _ => return false,
            };
            remote.is_some() && authority(&url) == remote
        };
        move |action| match (action, &credentials) {
            (gix::credentials::helper::Action::Get(context), Some((username, token))) if for_remote(&context) => {
                Ok(Some(gix::credentials::protocol::Outcome {
                    identity: gix::sec::identity::Account {
                        username: username.clone(),
                        password: token.expose().to_string(),
                        oauth_refresh_token: None,
                    },
                    next: context.into(),
                }))
            }
            _ => Ok(None),
        }
    }

    /// A failure to start talking to the remote: the URL's fault (it can never work as written),
    /// or the connection's (it may work later: a local path that is not, or not yet, a repository
    /// is one of these).
    pub fn connect_error(&self, error: gix::remote::connect::Error) -> GitError {
        use gix::protocol::transport::client::blocking_io::connect::Error as Transport;
        use gix::remote::connect::Error as Connect;
        let message = error_chain(&error);
        match error {
            Connect::Connect(
                Transport::Url(_) | Transport::UnsupportedScheme(_) | Transport::UnsupportedUrlTokens { .. },
            ) => self.invalid_url(&message),
            _ => self.connect(&message),
        }
    }

    /// A failed handshake or ref listing: authentication, or the connection.
    pub fn listing_error(&self, error: &gix::remote::ref_map::Error) -> GitError {
        use gix::protocol::handshake::Error as Handshake;
        use gix::protocol::transport::client::Error as Client;
        match error {
            gix::remote::ref_map::Error::Handshake(Handshake::EmptyCredentials) => {
                self.auth("the remote asks for credentials and no token was given for it (a token goes to the remote's own host only, never where it redirects)")
            }
            gix::remote::ref_map::Error::Handshake(
                Handshake::Credentials(_)
                | Handshake::InvalidCredentials { .. }
                | Handshake::Transport(Client::AuthenticationRefused(_) | Client::AuthenticationUnsupported),
            ) => self.auth(&error_chain(error)),
            _ => self.connect(&error_chain(error)),
        }
    }
}

/// The scheme, host and port (the scheme's default when none is written) of `url`: what a
/// credential is for. `None` when it does not parse.
fn authority(url: &[u8]) -> Option<(gix::url::Scheme, String, Option<u16>)> {
    let url = gix::url::parse(gix::bstr::BStr::new(url)).ok()?;
    Some((url.scheme.clone(), url.host()?.to_ascii_lowercase(), url.port_or_default()))
}

/// The in-memory config of the state repository: gix's user agent, and with an SSH key the ssh
/// command (with `ssh.variant=ssh`, which spares gix a probe of what kind of ssh it is).
pub(crate) fn config_overrides(remote: &Remote) -> Vec<String> {
    let mut values = vec![format!("gitoxide.userAgent=moor/{}", env!("CARGO_PKG_VERSION"))];
    // Never prompt; give up on a host that does not answer, or stops answering, within a minute.
    let mut ssh =
        "ssh -o BatchMode=yes -o ConnectTimeout=30 -o ServerAliveInterval=15 -o ServerAliveCountMax=4".to_string();
    if let Some(key) = &remote.ssh_key {
        ssh.push_str(&format!(" -i {} -o IdentitiesOnly=yes", shell_quote(&key.to_string_lossy())));
    }
    values.push(format!("core.sshCommand={ssh}"));
    values.push("ssh.variant=ssh".to_string());
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(url: &str) -> Remote {
        Remote::new(url)
    }

    #[test]
    fn display_url_drops_userinfo_of_every_scheme() {
        assert_eq!(remote("https://user:tok3n@host/x.git").display_url(), "https://host/x.git");
        assert_eq!(remote("https://tok3n@host:8443/x").display_url(), "https://host:8443/x");
        assert_eq!(remote("ssh://git:pw@host/org/x").display_url(), "ssh://host/org/x");
        assert_eq!(remote("git@github.com:org/x.git").display_url(), "git@github.com:org/x.git");
        assert_eq!(remote("/srv/git/x.git").display_url(), "/srv/git/x.git");
        // An '@' in the path is not userinfo.
        assert_eq!(remote("https://host/a@b").display_url(), "https://host/a@b");
        assert_eq!(remote("https://host:8080/a@b").display_url(), "https://host:8080/a@b");
    }

    #[test]
    fn a_password_with_an_unescaped_slash_question_mark_or_hash_is_not_shown() {
        for url in
            ["https://me:ab/cdS3CRET@host/x.git", "https://me:abS3CRET?x@host/x.git", "https://me:a#S3CRET@host/x"]
        {
            let shown = remote(url).display_url();
            assert!(!shown.contains("S3CRET") && shown.starts_with("https://host/"), "{url}: {shown}");
            let target = Target::new(&remote(url));
            let message = format!("URL {url:?} can not be parsed");
            assert!(!target.scrub(&message).contains("S3CRET"), "{}", target.scrub(&message));
        }
    }

    #[test]
    fn a_password_in_the_url_becomes_the_token_and_is_scrubbed() {
        let target = Target::new(&remote("https://me:p%40ss@host/x"));
        assert_eq!(target.url, "https://host/x");
        let (user, token) = target.credentials.clone().expect("credentials");
        assert_eq!((user.as_str(), token.expose()), ("me", "p@ss"));
        assert_eq!(target.scrub("bad p@ss and p%40ss"), "bad *** and ***");
    }

    #[test]
    fn a_token_gets_the_default_user_and_ssh_keeps_its_user() {
        let mut with_token = remote("https://host/x");
        with_token.token = Some(Token::new("s3cret".into()));
        let target = Target::new(&with_token);
        assert_eq!(
            target.credentials.map(|(u, t)| (u, t.expose().to_string())),
            Some(("x-access-token".into(), "s3cret".into()))
        );
        let ssh = Target::new(&remote("ssh://git:pw@host/org/x"));
        assert_eq!((ssh.url.as_str(), ssh.credentials.is_none()), ("ssh://git@host/org/x", true));
    }

    #[test]
    fn token_and_remote_debug_hide_secrets() {
        let mut r = remote("https://u:tok3n@host/x");
        r.token = Some(Token::new("tok3n".into()));
        let shown = format!("{r:?} {}", r.token.as_ref().unwrap());
        assert!(!shown.contains("tok3n"), "{shown}");
        assert!(shown.contains("https://host/x"), "{shown}");
    }

    #[test]
    fn the_ssh_key_is_quoted_for_the_shell() {
        let mut r = remote("git@host:x");
        r.ssh_key = Some(PathBuf::from("/k/it's key"));
        let overrides = config_overrides(&r);
        let ssh = overrides.iter().find_map(|o| o.strip_prefix("core.sshCommand=")).expect("an ssh command");
        assert!(ssh.starts_with("ssh -o BatchMode=yes "), "{ssh}");
        assert!(ssh.ends_with(r" -i '/k/it'\''s key' -o IdentitiesOnly=yes"), "{ssh}");
    }

    #[test]
    fn only_a_full_hex_reference_is_a_sha() {
        let mut r = remote("/x");
        r.reference = Some("0123456789ABCDEF0123456789abcdef01234567".into());
        assert_eq!(r.reference_sha().as_deref(), Some("0123456789abcdef0123456789abcdef01234567"));
        r.reference = Some("0123456".into());
        assert_eq!(r.reference_sha(), None);
        assert_eq!(r.display_ref(), "0123456");
        assert_eq!(remote("/x").display_ref(), "HEAD");
    }
}
