//! The git core against real repositories made with the git CLI (no Docker): resolving refs,
//! shallow fetches over file:// and smart HTTP, trees written out, SSH commit signatures, and
//! secrets kept out of errors. Snapshots are in `git_snapshots.rs`, HTTPS with a token in
//! `git_https.rs`.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use common::git::{fetcher, file, files, GitRepo, SshKey};
use common::git_http::GitHttp;
use moor::git::sync::{GitSettings, Refusal, SyncOutcome, Syncer};
use moor::git::{verify, AllowedSigners, Commit, Fetcher, GitError, Remote, Signature, Token, VerifyError};

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
    match fetcher(&repo.url(), None).1.resolve() {
        Err(GitError::NoSuchRef { reference, .. }) => assert_eq!(reference, "HEAD", "an empty remote"),
        other => panic!("{other:?}"),
    }
    let sha = repo.commit(&[("a.yaml", "1")], "first");
    match fetcher(&repo.url(), Some("nope")).1.resolve() {
        Err(GitError::NoSuchRef { url, reference }) => assert_eq!((url, reference), (repo.url(), "nope".to_string())),
        other => panic!("{other:?}"),
    }
    for invalid_name in ["a..b", "x~1", "with space"] {
        let result = fetcher(&repo.url(), Some(invalid_name)).1.resolve();
        assert!(matches!(result, Err(GitError::NoSuchRef { .. })), "{invalid_name}: {result:?}");
    }
    let gone = repo.dir.path().join("gone.git").display().to_string();
    assert_eq!(fetcher(&gone, Some(&sha.to_uppercase())).1.resolve().unwrap(), sha);
    assert!(matches!(fetcher(&gone, Some("main")).1.resolve(), Err(GitError::Connect { .. })), "may appear later");
    let invalid = |url: &str| matches!(fetcher(url, None).1.resolve(), Err(GitError::InvalidUrl { .. }));
    assert!(invalid("nope://host/x") && invalid("https://"), "can never work");
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
    assert!(matches!(fetcher.fetch(&absent), Err(GitError::Connect { .. })));
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
    let after_resolve = server.requests();
    fetcher.fetch(&two).unwrap();
    assert_eq!(server.requests(), after_resolve, "a local commit is fetched without a request");
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

#[test]
fn signatures_are_checked_against_allowed_signers() {
    let repo = GitRepo::new();
    let keys = tempfile::tempdir().unwrap();
    let [alice, mallory, filer, retired] =
        ["alice", "mallory", "filer", "retired"].map(|n| SshKey::generate(keys.path(), n));
    let text = format!(
        "# who may sign\n{}\nfiler@x namespaces=\"file\" {}\nretired@x valid-before=\"20000101Z\" {}\n",
        alice.allowed_signers_line("alice@example.com"),
        filer.public_line,
        retired.public_line
    );
    let signers_file = keys.path().join("allowed_signers");
    fs::write(&signers_file, text).unwrap();
    let signers = AllowedSigners::load(&signers_file).unwrap();
    assert_eq!(signers.len(), 3);

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
    let by_retired = fetch(repo.commit_signed(&[("a.yaml", "5")], "by retired", &retired));
    assert!(
        matches!(verify(&signers, &by_retired), Err(VerifyError::NotAllowed { reason, .. }) if reason.contains("valid-before"))
    );

    // Alice's signature of the same bytes, but for the namespace "file": not a commit signature.
    let payload = keys.path().join("payload");
    fs::write(&payload, &signed.signature.as_ref().unwrap().payload).unwrap();
    common::git::run(
        std::process::Command::new("ssh-keygen")
            .args(["-q", "-Y", "sign", "-n", "file", "-f"])
            .arg(&alice.private)
            .arg(&payload),
    );
    let armored = fs::read_to_string(keys.path().join("payload.sig")).unwrap();
    let other_namespace = Signature { armored, payload: signed.signature.as_ref().unwrap().payload.clone() };
    let reused = Commit { signature: Some(other_namespace), ..signed.clone() };
    let bad = VerifyError::BadSignature { sha: signed.sha.clone(), fingerprint: alice.fingerprint() };
    assert_eq!(verify(&signers, &reused), Err(bad));

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

#[test]
fn a_repository_with_too_many_packs_starts_afresh() {
    let repo = GitRepo::new();
    let (state, fetcher) = fetcher(&repo.url(), Some("main"));
    let packs = || {
        fs::read_dir(state.path().join("repo/objects/pack"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "pack"))
            .count()
    };
    let mut last = String::new();
    for n in 0..=moor::git::fetch::MAX_PACKS {
        let sha = repo.commit(&[("a.yaml", &n.to_string())], &format!("n{n}"));
        fetcher.fetch(&sha).unwrap();
        assert_eq!(packs(), if n < moor::git::fetch::MAX_PACKS { n + 1 } else { 1 });
        last = sha;
    }
    fetcher.write_tree(&last, Path::new(""), &state.path().join("out")).unwrap();
    assert_eq!(files(&state.path().join("out")), vec![file("a.yaml", &moor::git::fetch::MAX_PACKS.to_string(), 0o644)]);
}

/// A [`Syncer`] of `url`'s HEAD into `state` (manifests at the repository's root).
fn syncer(url: &str, state: &Path, signers: Option<AllowedSigners>) -> Syncer {
    Syncer::new(GitSettings {
        remote: Remote::new(url),
        path: PathBuf::new(),
        state_dir: state.to_path_buf(),
        shown: state.join("current"),
        signers: signers.map(Arc::new),
        allow_empty: false,
        read_paths: Vec::new(),
    })
}

const SERVICE: &str = "apiVersion: moor/v1\nkind: Service\nmetadata: {name: a}\nspec: {image: busybox}\n";

#[test]
fn a_current_revision_applied_before_verify_commits_was_on_is_verified_all_the_same() {
    let repo = GitRepo::new();
    let unsigned = repo.commit(&[("a.yaml", SERVICE)], "unsigned");
    let state = tempfile::tempdir().unwrap();
    assert!(matches!(syncer(&repo.url(), state.path(), None).sync(), SyncOutcome::Applied { .. }));

    // The host restarts with --verify-commits: the remote is still at the unsigned commit.
    let keys = tempfile::tempdir().unwrap();
    let alice = SshKey::generate(keys.path(), "alice");
    let file = keys.path().join("allowed_signers");
    fs::write(&file, alice.allowed_signers_line("alice@example.com") + "\n").unwrap();
    let mut verifying = syncer(&repo.url(), state.path(), Some(AllowedSigners::load(&file).unwrap()));
    match verifying.sync() {
        SyncOutcome::Refused { revision, refusal: Refusal::Signature(_), .. } => assert_eq!(revision.sha, unsigned),
        other => panic!("an unsigned current revision passed --verify-commits: {other:?}"),
    }

    // A signed commit is verified once, then polls find it unchanged.
    let signed = repo.commit_signed(&[("README", "signed")], "signed", &alice);
    let mut verifying = syncer(&repo.url(), state.path(), Some(AllowedSigners::load(&file).unwrap()));
    match verifying.sync() {
        SyncOutcome::Applied { revision, .. } => assert!(revision.signer.is_some() && revision.sha == signed),
        other => panic!("{other:?}"),
    }
    let mut restarted = syncer(&repo.url(), state.path(), Some(AllowedSigners::load(&file).unwrap()));
    assert!(matches!(restarted.sync(), SyncOutcome::Applied { .. }), "verified again after a restart");
    assert!(matches!(restarted.sync(), SyncOutcome::Unchanged(_)));
}

#[test]
fn two_processes_syncing_one_state_dir_never_mix_their_snapshots() {
    // `moor apply --git` on the host's state dir while `moor run --git` syncs it: two syncers,
    // each of its own (as two processes have), on a commit both find local and write out.
    let repo = GitRepo::new();
    let many: Vec<(String, String)> = (0..800).map(|i| (format!("f{i:04}.txt"), i.to_string())).collect();
    repo.commit(&many.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect::<Vec<_>>(), "many files");
    let state = tempfile::tempdir().unwrap();
    for round in 0..6 {
        let service = SERVICE.replace("name: a", &format!("name: a{round}"));
        let sha = repo.commit(&[("a.yaml", &service)], &format!("round {round}"));
        let remote = Remote::new(repo.url());
        Fetcher::open(state.path(), remote).unwrap().fetch(&sha).unwrap();
        let outcomes: Vec<SyncOutcome> = std::thread::scope(|scope| {
            let both: Vec<_> = (0..2).map(|_| scope.spawn(|| syncer(&repo.url(), state.path(), None).sync())).collect();
            both.into_iter().map(|t| t.join().unwrap()).collect()
        });
        for outcome in &outcomes {
            assert!(
                matches!(outcome, SyncOutcome::Applied { services: 1, .. } | SyncOutcome::Unchanged(_)),
                "round {round}: {outcomes:?}"
            );
        }
        let written = fs::read_dir(state.path().join("snapshots").join(&sha)).unwrap().count();
        assert_eq!(written, 801, "round {round}: an incomplete snapshot");
    }
}

#[test]
fn a_commit_whose_tree_has_an_unsafe_name_is_refused_not_retried_as_a_fetch_error() {
    let repo = GitRepo::new();
    repo.commit(&[("a.yaml", SERVICE)], "good");
    let state = tempfile::tempdir().unwrap();
    let mut syncer = syncer(&repo.url(), state.path(), None);
    assert!(matches!(syncer.sync(), SyncOutcome::Applied { .. }));

    // A tree git itself would never write: an entry named `..` beside a.yaml.
    let blob = repo.git(&["rev-parse", "HEAD:a.yaml"]);
    let id: Vec<u8> = (0..20).map(|i| u8::from_str_radix(&blob[2 * i..2 * i + 2], 16).unwrap()).collect();
    let mut raw = Vec::new();
    for name in ["..", "a.yaml"] {
        raw.extend_from_slice(format!("100644 {name}\0").as_bytes());
        raw.extend_from_slice(&id);
    }
    let raw_file = repo.dir.path().join("raw-tree");
    fs::write(&raw_file, raw).unwrap();
    let tree = repo.git(&["hash-object", "-t", "tree", "-w", "--literally", raw_file.to_str().unwrap()]);
    let crafted = repo.git(&["commit-tree", &tree, "-p", "HEAD", "-m", "crafted"]);
    repo.git(&["push", "--quiet", "origin", &format!("{crafted}:refs/heads/main")]);

    // Refused like any revision that cannot run (status, metric, note), and not fetched again.
    match syncer.sync() {
        SyncOutcome::Refused { revision, refusal, again: false } => {
            assert_eq!(revision.sha, crafted);
            assert!(refusal.to_string().contains("unsafe name"), "{refusal}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(syncer.sync(), SyncOutcome::Refused { again: true, .. }));
    assert!(!state.path().join("snapshots").join(&crafted).exists());
}

#[test]
fn a_state_repository_that_went_away_is_created_again() {
    let repo = GitRepo::new();
    repo.commit(&[("a.yaml", SERVICE)], "one");
    let state = tempfile::tempdir().unwrap();
    let mut syncer = syncer(&repo.url(), state.path(), None);
    assert!(matches!(syncer.sync(), SyncOutcome::Applied { .. }));

    // Removed by hand (or a start afresh cut short between its rename and its create).
    fs::remove_dir_all(state.path().join("repo")).unwrap();
    assert!(matches!(syncer.sync(), SyncOutcome::Unchanged(_)), "the next look works again");
    let two = SERVICE.replace("name: a", "name: b");
    let sha = repo.commit(&[("a.yaml", &two)], "two");
    match syncer.sync() {
        SyncOutcome::Applied { revision, .. } => assert_eq!(revision.sha, sha),
        other => panic!("{other:?}"),
    }
}
