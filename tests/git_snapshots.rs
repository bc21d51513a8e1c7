//! Snapshots of fetched revisions in a state dir: written whole via `.tmp`, the `current` link
//! swapped atomically, pruning that keeps the newest and `current`. Real repositories made with
//! the git CLI (no Docker).

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::git::{fetcher, file, files, GitRepo};
use moor::git::{GitError, Revision, StateDir};

/// A revision of `main` fetched at `fetched_at`.
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
