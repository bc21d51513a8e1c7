//! The git core against real repositories made with the git CLI (no Docker): resolving refs,
//! shallow fetches over file:// and smart HTTP, trees written out, snapshots and the `current`
//! link, SSH commit signatures, and secrets kept out of errors.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use common::git::{GitRepo, SshKey};
use common::git_http::GitHttp;
use moor::git::{
    verify, AllowedSigners, Commit, Fetcher, GitError, Remote, Revision, Signature, StateDir, Token, VerifyError,
};
use tempfile::TempDir;

/// A fetcher of `url` at `reference` in a fresh state dir.
fn fetcher(url: &str, reference: Option<&str>) -> (TempDir, Fetcher) {
    let state = tempfile::Builder::new().prefix("moor-state-").tempdir().unwrap();
    let remote = Remote { reference: reference.map(str::to_string), ..Remote::new(url) };
    let fetcher = Fetcher::open(state.path(), remote).expect("open the state repository");
    (state, fetcher)
}

/// The files under `dir` as sorted `(relative path, content, mode)`.
fn files(dir: &Path) -> Vec<(String, String, u32)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                found.push((name, fs::read_to_string(&path).unwrap(), meta.permissions().mode() & 0o7777));
            }
        }
    }
    found.sort();
    found
}

fn file(name: &str, content: &str, mode: u32) -> (String, String, u32) {
    (name.to_string(), content.to_string(), mode)
}

#[test]
fn resolve_finds_a_branch_the_remote_head_and_a_peeled_annotated_tag() {
    let repo = GitRepo::new();
    let first = repo.commit(&[("a.yaml", "1")], "first");
    repo.tag("v1", &first);
    let second = repo.commit(&[("a.yaml", "2")], "second");
    assert_eq!(fetcher(&repo.url(), Some("main")).1.resolve().unwrap(), second);
    assert_eq!(fetcher(&repo.url(), None).1.resolve().unwrap(), second);
    assert_eq!(fetcher(&repo.url(), Some("v1")).1.resolve().unwrap(), first, "the tag's commit, not the tag object");
    assert_eq!(fetcher(&repo.url(), Some("refs/tags/v1")).1.resolve().unwrap(), first);
}

#[test]
fn resolve_of_a_missing_branch_is_no_such_ref_and_a_sha_needs_no_remote() {
    let repo = GitRepo::new();
    let sha = repo.commit(&[("a.yaml", "1")], "first");
    match fetcher(&repo.url(), Some("nope")).1.resolve() {
        Err(GitError::NoSuchRef { url, reference }) => assert_eq!((url, reference), (repo.url(), "nope".to_string())),
        other => panic!("{other:?}"),
    }
    let gone = repo.dir.path().join("gone.git").display().to_string();
    assert_eq!(fetcher(&gone, Some(&sha.to_uppercase())).1.resolve().unwrap(), sha);
    assert!(matches!(
        fetcher(&gone, Some("main")).1.resolve(),
        Err(GitError::Connect { .. } | GitError::InvalidUrl { .. })
    ));
}

#[test]
fn fetch_and_write_tree_keep_folders_and_the_executable_bit_and_skip_links_and_submodules() {
    let repo = GitRepo::new();
    let work = repo.work_path();
    repo.commit(&[("a.yaml", "a"), ("deploy/prod/web.yaml", "web"), ("deploy/run.sh", "#!/bin/sh\n")], "base");
    fs::set_permissions(work.join("deploy/run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", work.join("deploy/escape")).unwrap();
    let base = repo.head();
    repo.git(&["update-index", "--add", "--cacheinfo", &format!("160000,{base},deploy/sub")]);
    let sha = repo.commit_work("Layout\n\nWith a body.", &[]);

    let (state, fetcher) = fetcher(&repo.url(), Some("main"));
    let started = Instant::now();
    let commit = fetcher.fetch(&sha).unwrap();
    eprintln!("file:// fetch of a new commit: {:?}", started.elapsed());
    assert_eq!(commit, Commit { sha: sha.clone(), subject: "Layout".into(), signature: None });

    let root = state.path().join("root");
    fetcher.write_tree(&sha, Path::new(""), &root).unwrap();
    let expected = vec![
        file("a.yaml", "a", 0o644),
        file("deploy/prod/web.yaml", "web", 0o644),
        file("deploy/run.sh", "#!/bin/sh\n", 0o755),
    ];
    assert_eq!(files(&root), expected);
    assert!(fs::symlink_metadata(root.join("deploy/escape")).is_err(), "the symlink is skipped");
    assert!(!root.join("deploy/sub").exists(), "the submodule is skipped");

    let deploy = state.path().join("deploy");
    fetcher.write_tree(&sha, Path::new("./deploy/"), &deploy).unwrap();
    assert_eq!(files(&deploy), vec![file("prod/web.yaml", "web", 0o644), file("run.sh", "#!/bin/sh\n", 0o755)]);
    assert!(matches!(fetcher.write_tree(&sha, Path::new(""), &deploy), Err(GitError::Io { .. })), "dest exists");
}

#[test]
fn write_tree_of_a_missing_or_non_folder_path_is_no_such_path() {
    let repo = GitRepo::new();
    let sha = repo.commit(&[("a.yaml", "a"), ("d/b.yaml", "b")], "first");
    let (state, fetcher) = fetcher(&repo.url(), None);
    fetcher.fetch(&sha).unwrap();
    for path in ["missing", "a.yaml", "d/b.yaml", "../d", "/d"] {
        let dest = state.path().join("out");
        match fetcher.write_tree(&sha, Path::new(path), &dest) {
            Err(GitError::NoSuchPath { sha: s, path: p }) => assert_eq!((s.as_str(), p.as_str()), (sha.as_str(), path)),
            other => panic!("{path}: {other:?}"),
        }
        assert!(!dest.exists());
    }
    let unknown = "0".repeat(40);
    assert!(matches!(
        fetcher.write_tree(&unknown, Path::new(""), &state.path().join("x")),
        Err(GitError::NoSuchCommit { .. })
    ));
}

#[test]
fn a_commit_already_fetched_is_served_without_the_remote() {
    let repo = GitRepo::new();
    let sha = repo.commit(&[("a.yaml", "a")], "first");
    let (state, fetcher) = fetcher(&repo.url(), None);
    let first = fetcher.fetch(&sha).unwrap();
    fs::rename(repo.bare_path(), repo.dir.path().join("moved.git")).unwrap();
    let started = Instant::now();
    assert_eq!(fetcher.fetch(&sha).unwrap(), first);
    eprintln!("fetch of a local commit: {:?}", started.elapsed());
    fetcher.write_tree(&sha, Path::new(""), &state.path().join("out")).unwrap();
    // Proof that the remote is really gone: a commit not yet here needs it, and fails.
    let absent = "1234567890".repeat(4);
    assert!(matches!(fetcher.fetch(&absent), Err(GitError::Connect { .. } | GitError::InvalidUrl { .. })));
}

#[test]
fn new_commits_force_pushes_and_reverts_are_followed() {
    let repo = GitRepo::new();
    let one = repo.commit(&[("a.yaml", "1")], "one");
    let two = repo.commit(&[("a.yaml", "2"), ("b.yaml", "b")], "two");
    let (state, fetcher) = fetcher(&repo.url(), Some("main"));
    assert_eq!(fetcher.fetch(&fetcher.resolve().unwrap()).unwrap().subject, "two");
    let local = |sha: &str| {
        let git_dir = state.path().join("repo");
        common::git::git_command(state.path())
            .arg("--git-dir")
            .arg(git_dir)
            .args(["cat-file", "-e", sha])
            .status()
            .unwrap()
            .success()
    };
    assert!(local(&two) && !local(&one), "depth 1: the parent is not fetched");
    let three = repo.commit(&[("a.yaml", "3")], "three");
    assert_eq!(fetcher.resolve().unwrap(), three);
    assert_eq!(fetcher.fetch(&three).unwrap().subject, "three");
    let out = |name: &str| state.path().join(name);
    fetcher.write_tree(&three, Path::new(""), &out("three")).unwrap();
    assert_eq!(files(&out("three")), vec![file("a.yaml", "3", 0o644), file("b.yaml", "b", 0o644)]);

    // Back to a commit never fetched before: it is fetched (shallow) like any other.
    repo.force_push(&one);
    assert_eq!(fetcher.resolve().unwrap(), one);
    assert_eq!(fetcher.fetch(&one).unwrap().subject, "one");
    fetcher.write_tree(&one, Path::new(""), &out("one")).unwrap();
    assert_eq!(files(&out("one")), vec![file("a.yaml", "1", 0o644)]);
    // Then to one already here.
    repo.force_push(&two);
    repo.force_push(&three);
    let reverted = repo.revert_head();
    assert_eq!(fetcher.resolve().unwrap(), reverted);
    fetcher.fetch(&reverted).unwrap();
    fetcher.write_tree(&reverted, Path::new(""), &out("reverted")).unwrap();
    assert_eq!(files(&out("reverted")), vec![file("a.yaml", "2", 0o644), file("b.yaml", "b", 0o644)]);
}

#[test]
fn a_commit_the_remote_does_not_have_is_a_fetch_error() {
    let repo = GitRepo::new();
    repo.commit(&[("a.yaml", "1")], "one");
    let (_state, fetcher) = fetcher(&repo.url(), None);
    let missing = "1234567890".repeat(4);
    match fetcher.fetch(&missing) {
        Err(GitError::Fetch { url, .. }) => assert_eq!(url, repo.url()),
        other => panic!("{other:?}"),
    }
}

/// `len` bytes of hex that zlib cannot shrink much: a file whose re-sending would show.
fn noise(len: usize) -> String {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from_digit((state % 16) as u32, 16).unwrap()
        })
        .collect()
}

#[test]
fn smart_http_resolves_fetches_only_changes_and_an_idle_resolve_fetches_no_pack() {
    let repo = GitRepo::new();
    let big = noise(64 * 1024);
    let one = repo.commit(&[("deploy/web.yaml", "web"), ("big.txt", &big)], "over http");
    let server = GitHttp::serve(repo.dir.path());
    let url = format!("{}/origin.git", server.url_base);
    let (state, fetcher) = fetcher(&url, Some("main"));
    assert_eq!(fetcher.resolve().unwrap(), one);
    let (started, before) = (Instant::now(), server.bytes_sent());
    assert_eq!(fetcher.fetch(&one).unwrap().subject, "over http");
    let first_bytes = server.bytes_sent() - before;
    eprintln!("http fetch of a new commit: {:?}, {first_bytes} bytes", started.elapsed());
    fetcher.write_tree(&one, Path::new("deploy"), &state.path().join("one")).unwrap();
    assert_eq!(files(&state.path().join("one")), vec![file("web.yaml", "web", 0o644)]);
    assert!(first_bytes > 32 * 1024, "{first_bytes}");

    // The next commit: the remote is told what is here and sends only what changed.
    let two = repo.commit(&[("deploy/web.yaml", "web 2")], "second");
    assert_eq!(fetcher.resolve().unwrap(), two);
    let before = server.bytes_sent();
    assert_eq!(fetcher.fetch(&two).unwrap().subject, "second");
    let second_bytes = server.bytes_sent() - before;
    assert!(second_bytes < 8 * 1024, "{second_bytes} bytes: big.txt was sent again");
    fetcher.write_tree(&two, Path::new(""), &state.path().join("two")).unwrap();
    assert_eq!(
        files(&state.path().join("two")),
        vec![file("big.txt", &big, 0o644), file("deploy/web.yaml", "web 2", 0o644)]
    );
    let packs = server.log().iter().filter(|r| r.is_pack_fetch()).count();
    assert_eq!(packs, 2, "{:#?}", server.log());

    // An idle poll: a ref listing only; the commit is local, so fetch makes no request at all.
    let (requests, bytes) = (server.requests(), server.bytes_sent());
    let started = Instant::now();
    assert_eq!(fetcher.resolve().unwrap(), two);
    eprintln!("idle http resolve: {:?}", started.elapsed());
    fetcher.fetch(&two).unwrap();
    let idle = &server.log()[requests..];
    assert!(idle.iter().all(|r| !r.is_pack_fetch()), "{idle:#?}");
    assert!(idle.iter().any(|r| r.method == "POST" && String::from_utf8_lossy(&r.body).contains("command=ls-refs")));
    assert!(idle.len() <= 2, "a capability GET and an ls-refs POST at most: {idle:#?}");
    eprintln!("idle poll over http: {} requests, {} bytes", idle.len(), server.bytes_sent() - bytes);
}

#[test]
fn secrets_never_show_in_urls_or_errors() {
    let remote = Remote::new("https://user:tok3n@example.invalid/x.git");
    assert_eq!(remote.display_url(), "https://example.invalid/x.git");
    assert!(!format!("{remote:?}").contains("tok3n"));

    // A loopback port bound then closed: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("https://me:pa55w0rd@127.0.0.1:{port}/org/x.git");
    let state = tempfile::tempdir().unwrap();
    let remote = Remote { token: Some(Token::new("tok3n-s3cret".into())), ..Remote::new(url) };
    let fetcher = Fetcher::open(state.path(), remote).unwrap();
    let errors = [fetcher.resolve().unwrap_err(), fetcher.fetch(&"ab".repeat(20)).unwrap_err()];
    for error in &errors {
        assert!(
            matches!(error, GitError::Connect { url, .. } if *url == format!("https://127.0.0.1:{port}/org/x.git"))
        );
        let shown = format!("{error} {error:?}");
        for secret in ["tok3n-s3cret", "pa55w0rd", "me:"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }
}

/// A state dir with its fetcher, and revisions of `repo`'s commits.
fn revision(sha: &str, subject: &str, fetched_at: &str) -> Revision {
    Revision { fetched_at: fetched_at.into(), ..Revision::new(sha.into(), "main".into(), subject.into(), None) }
}

#[test]
fn snapshots_are_written_whole_and_current_swaps_between_them() {
    let repo = GitRepo::new();
    let one = repo.commit(&[("deploy/a.yaml", "1")], "one");
    let two = repo.commit(&[("deploy/a.yaml", "2")], "two");
    let (state, fetcher) = fetcher(&repo.url(), Some("main"));
    let dir = StateDir::new(state.path().to_path_buf());
    assert_eq!(dir.current(), None);
    assert!(matches!(dir.set_current(&one), Err(GitError::NoSnapshot { .. })));

    // A stale .tmp (a crash mid-write) is replaced, not merged.
    let stale = dir.root().join("snapshots").join(format!("{one}.tmp"));
    fs::create_dir_all(&stale).unwrap();
    fs::write(stale.join("stale.yaml"), "x").unwrap();
    fetcher.fetch(&one).unwrap();
    let rev_one = revision(&one, "one", "2024-01-01T00:00:00Z");
    let path = dir.write_snapshot(&fetcher, &rev_one, Path::new("deploy")).unwrap();
    assert_eq!(path, dir.snapshot_path(&one));
    assert!(!stale.exists() && dir.has_snapshot(&one));
    assert_eq!(files(&path), vec![file("a.yaml", "1", 0o644)]);
    dir.set_current(&one).unwrap();
    assert_eq!(fs::read_link(dir.current_path()).unwrap(), PathBuf::from(format!("snapshots/{one}")));
    assert_eq!(dir.current(), Some(rev_one.clone()));
    assert_eq!(fs::read_to_string(dir.current_path().join("a.yaml")).unwrap(), "1");

    // A failed write leaves neither the folder nor its .tmp; current stays.
    fetcher.fetch(&two).unwrap();
    let rev_two = revision(&two, "two", "2024-01-02T00:00:00Z");
    assert!(matches!(dir.write_snapshot(&fetcher, &rev_two, Path::new("nope")), Err(GitError::NoSuchPath { .. })));
    assert!(!dir.has_snapshot(&two) && !dir.root().join(format!("snapshots/{two}.tmp")).exists());
    assert_eq!(dir.current(), Some(rev_one.clone()));

    dir.write_snapshot(&fetcher, &rev_two, Path::new("deploy")).unwrap();
    dir.set_current(&two).unwrap();
    assert_eq!(dir.current(), Some(rev_two.clone()));
    assert_eq!(fs::read_to_string(dir.current_path().join("a.yaml")).unwrap(), "2");
    assert!(!dir.root().join("current.tmp").exists());
    // Idempotent for the same path; another --path rewrites the folder.
    dir.write_snapshot(&fetcher, &rev_two, Path::new("./deploy")).unwrap();
    assert_eq!(files(&dir.snapshot_path(&two)), vec![file("a.yaml", "2", 0o644)]);
    dir.write_snapshot(&fetcher, &rev_two, Path::new("")).unwrap();
    assert_eq!(files(&dir.current_path()), vec![file("deploy/a.yaml", "2", 0o644)]);
    assert_eq!(dir.current(), Some(rev_two));
}

#[test]
fn prune_keeps_the_newest_and_current() {
    let repo = GitRepo::new();
    let (state, fetcher) = fetcher(&repo.url(), Some("main"));
    let dir = StateDir::new(state.path().to_path_buf());
    let mut shas = Vec::new();
    for day in 1..=6 {
        let sha = repo.commit(&[("a.yaml", &day.to_string())], &format!("day {day}"));
        fetcher.fetch(&sha).unwrap();
        let fetched_at = format!("2024-01-0{day}T00:00:00Z");
        dir.write_snapshot(&fetcher, &revision(&sha, "x", &fetched_at), Path::new("")).unwrap();
        shas.push(sha);
    }
    dir.set_current(&shas[0]).unwrap();
    fs::create_dir_all(dir.root().join(format!("snapshots/{}.tmp", shas[5]))).unwrap();
    assert_eq!(dir.prune(2).unwrap(), 3);
    let mut left: Vec<_> =
        fs::read_dir(dir.root().join("snapshots")).unwrap().map(|e| e.unwrap().file_name()).collect();
    left.sort();
    let mut expected: Vec<_> = [0, 4, 5].iter().flat_map(|&i| [shas[i].clone(), format!("{}.json", shas[i])]).collect();
    expected.sort();
    assert_eq!(left, expected.iter().map(std::ffi::OsString::from).collect::<Vec<_>>());
    assert_eq!(dir.current().map(|r| r.sha), Some(shas[0].clone()));
    assert_eq!(dir.prune(2).unwrap(), 0);
}

#[test]
fn signatures_are_checked_against_allowed_signers() {
    let repo = GitRepo::new();
    let keys = tempfile::tempdir().unwrap();
    let (alice, mallory, filer) = (
        SshKey::generate(keys.path(), "alice"),
        SshKey::generate(keys.path(), "mallory"),
        SshKey::generate(keys.path(), "filer"),
    );
    let text = format!(
        "# who may sign\n{}\nfiler@x namespaces=\"file\" {}\n",
        alice.allowed_signers_line("alice@example.com"),
        filer.public_line
    );
    let signers_file = keys.path().join("allowed_signers");
    fs::write(&signers_file, text).unwrap();
    let signers = AllowedSigners::load(&signers_file).unwrap();
    assert_eq!(signers.len(), 2);

    let (_state, fetcher) = fetcher(&repo.url(), None);
    let fetch = |sha: String| fetcher.fetch(&sha).unwrap();
    let signed = fetch(repo.commit_signed(&[("a.yaml", "1")], "by alice", &alice));
    let signer = verify(&signers, &signed).unwrap();
    assert_eq!((signer.principal.as_str(), signer.fingerprint.clone()), ("alice@example.com", alice.fingerprint()));

    let unsigned = fetch(repo.commit(&[("a.yaml", "2")], "unsigned"));
    assert_eq!(verify(&signers, &unsigned), Err(VerifyError::Unsigned { sha: unsigned.sha.clone() }));
    let by_mallory = fetch(repo.commit_signed(&[("a.yaml", "3")], "by mallory", &mallory));
    let unknown = VerifyError::UnknownKey { sha: by_mallory.sha.clone(), fingerprint: mallory.fingerprint() };
    assert_eq!(verify(&signers, &by_mallory), Err(unknown));
    let by_filer = fetch(repo.commit_signed(&[("a.yaml", "4")], "by filer", &filer));
    assert!(
        matches!(verify(&signers, &by_filer), Err(VerifyError::NotAllowed { fingerprint, .. }) if fingerprint == filer.fingerprint())
    );

    let mut tampered = signed.clone();
    let signature = tampered.signature.as_mut().unwrap();
    signature.payload =
        String::from_utf8(signature.payload.clone()).unwrap().replace("by alice", "by alicf").into_bytes();
    let bad = VerifyError::BadSignature { sha: signed.sha.clone(), fingerprint: alice.fingerprint() };
    assert_eq!(verify(&signers, &tampered), Err(bad));
    let gpg = Signature {
        armored: "-----BEGIN PGP SIGNATURE-----\n\n=abcd\n-----END PGP SIGNATURE-----".into(),
        payload: vec![],
    };
    let gpg_commit = Commit { signature: Some(gpg), ..signed.clone() };
    assert_eq!(verify(&signers, &gpg_commit), Err(VerifyError::NotSsh { sha: signed.sha.clone() }));
}
