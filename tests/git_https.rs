//! The git source over HTTPS with basic auth: a server whose certificate is signed by a CA made
//! here and trusted only through `SSL_CERT_FILE`, which demands a user and token.
//!
//! This binary sets `SSL_CERT_FILE` in its own process (gix's reqwest client reads it when it is
//! built). It holds this one test only, so no other test runs while the environment changes.

mod common;

use std::path::Path;

use common::git::GitRepo;
use common::git_http::GitHttp;
use moor::git::{Fetcher, GitError, Remote, Token};

#[test]
fn https_answers_the_credential_challenge_with_the_token_and_never_shows_it() {
    let (config, ca_pem) = common::tls::server_config();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    std::env::set_var("SSL_CERT_FILE", &ca_file);

    let repo = GitRepo::new();
    let sha = repo.commit(&[("deploy/web.yaml", "web")], "over https");
    let server = GitHttp::serve_tls(repo.dir.path(), config.clone(), Some(("deploy", "tok3n-s3cret")));
    let host = server.url_base.trim_start_matches("https://").to_string();
    let display = format!("https://{host}/origin.git");
    let open = |url: String, token: Option<&str>| {
        let state = tempfile::tempdir().unwrap();
        let remote = Remote { token: token.map(|t| Token::new(t.to_string())), ..Remote::new(url) };
        let fetcher = Fetcher::open(state.path(), remote).unwrap();
        (state, fetcher)
    };

    // The user from the URL, the password from the token: sent once the server asks for it.
    let (state, fetcher) = open(format!("https://deploy@{host}/origin.git"), Some("tok3n-s3cret"));
    assert_eq!(fetcher.resolve().unwrap(), sha);
    assert_eq!(fetcher.fetch(&sha).unwrap().subject, "over https");
    fetcher.write_tree(&sha, Path::new("deploy"), &state.path().join("out")).unwrap();
    assert_eq!(std::fs::read_to_string(state.path().join("out/web.yaml")).unwrap(), "web");
    let log = server.log();
    assert_eq!(log[0].authorization, None, "no credentials before the challenge");
    assert!(log.iter().any(|r| r.is_pack_fetch() && r.authorization.is_some()), "{log:#?}");

    // A password in the URL serves as the token.
    let (_state, fetcher) = open(format!("https://deploy:tok3n-s3cret@{host}/origin.git"), None);
    assert_eq!(fetcher.resolve().unwrap(), sha);

    // Refused: a wrong token, the default user `x-access-token`, no token at all.
    for (url, token) in [
        (format!("https://deploy@{host}/origin.git"), Some("bad-t0ken")),
        (display.clone(), Some("tok3n-s3cret")),
        (display.clone(), None),
    ] {
        let (_state, fetcher) = open(url, token);
        let error = fetcher.resolve().unwrap_err();
        assert!(matches!(&error, GitError::Auth { url, .. } if *url == display), "{error:?}");
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("tok3n-s3cret") && !shown.contains("bad-t0ken"), "{shown}");
    }

    // A remote that redirects to another host (here another port): the token is for the remote
    // named only, never sent where it redirects, even when asked for there.
    let elsewhere = GitHttp::serve_tls(repo.dir.path(), config.clone(), Some(("deploy", "tok3n-s3cret")));
    let redirector = GitHttp::redirect_tls(config.clone(), &elsewhere.url_base);
    let redirecting = redirector.url_base.trim_start_matches("https://").to_string();
    let (_state, fetcher) = open(format!("https://deploy@{redirecting}/origin.git"), Some("tok3n-s3cret"));
    let error = fetcher.resolve().unwrap_err();
    assert!(matches!(&error, GitError::Auth { .. }), "{error:?}");
    assert!(!elsewhere.log().is_empty(), "the redirect was not followed: {:#?}", redirector.log());
    let sent: Vec<_> = elsewhere.log().into_iter().filter_map(|r| r.authorization).collect();
    assert!(sent.is_empty(), "the token went to the host redirected to: {sent:?}");
}
