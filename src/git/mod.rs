//! STUB for compiling the integration while the git core is written on branch wt-gitcore.
#![allow(dead_code, unused_variables)]
pub mod remote {
    use std::path::PathBuf;
    #[derive(Clone)]
    pub struct Token(String);
    impl Token {
        pub fn new(s: String) -> Self {
            Token(s)
        }
        pub fn expose(&self) -> &str {
            &self.0
        }
    }
    impl std::fmt::Debug for Token {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("***")
        }
    }
    #[derive(Debug, Clone)]
    pub struct Remote {
        pub url: String,
        pub reference: Option<String>,
        pub token: Option<Token>,
        pub ssh_key: Option<PathBuf>,
    }
    impl Remote {
        pub fn display_url(&self) -> String {
            unimplemented!()
        }
        pub fn display_ref(&self) -> String {
            unimplemented!()
        }
    }
}
pub mod fetch {
    use super::remote::Remote;
    use std::path::Path;
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Commit {
        pub sha: String,
        pub subject: String,
        pub signature: Option<Signature>,
    }
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Signature {
        pub armored: String,
        pub payload: Vec<u8>,
    }
    pub struct Fetcher;
    impl Fetcher {
        pub fn open(state_dir: &Path, remote: Remote) -> Result<Fetcher, GitError> {
            unimplemented!()
        }
        pub fn resolve(&self) -> Result<String, GitError> {
            unimplemented!()
        }
        pub fn fetch(&self, sha: &str) -> Result<Commit, GitError> {
            unimplemented!()
        }
        pub fn write_tree(&self, sha: &str, subdir: &Path, dest: &Path) -> Result<(), GitError> {
            unimplemented!()
        }
    }
    #[derive(Debug, thiserror::Error)]
    pub enum GitError {
        #[error("{url}: {message}")]
        Connect { url: String, message: String },
        #[error("no {path} in {sha}")]
        NoSuchPath { sha: String, path: String },
    }
}
pub mod snapshot {
    use super::fetch::{Fetcher, GitError};
    use std::path::{Path, PathBuf};
    #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Revision {
        pub sha: String,
        pub reference: String,
        pub subject: String,
        pub fetched_at: String,
        pub signer: Option<String>,
    }
    impl Revision {
        pub fn id(&self) -> String {
            format!("{}@sha1:{}", self.reference, self.sha)
        }
    }
    pub struct StateDir {
        root: PathBuf,
    }
    impl StateDir {
        pub fn new(root: PathBuf) -> StateDir {
            StateDir { root }
        }
        pub fn root(&self) -> &Path {
            &self.root
        }
        pub fn current_path(&self) -> PathBuf {
            self.root.join("current")
        }
        pub fn current(&self) -> Option<Revision> {
            unimplemented!()
        }
        pub fn snapshot_path(&self, sha: &str) -> PathBuf {
            unimplemented!()
        }
        pub fn has_snapshot(&self, sha: &str) -> bool {
            unimplemented!()
        }
        pub fn write_snapshot(
            &self,
            fetcher: &Fetcher,
            revision: &Revision,
            subdir: &Path,
        ) -> Result<PathBuf, GitError> {
            unimplemented!()
        }
        pub fn set_current(&self, sha: &str) -> Result<(), GitError> {
            unimplemented!()
        }
        pub fn prune(&self, keep: usize) -> Result<usize, GitError> {
            unimplemented!()
        }
    }
    pub const KEEP_SNAPSHOTS: usize = 5;
}
pub mod verify {
    use super::fetch::Commit;
    use std::path::Path;
    pub struct AllowedSigners;
    impl AllowedSigners {
        pub fn load(path: &Path) -> Result<AllowedSigners, VerifyError> {
            unimplemented!()
        }
        pub fn len(&self) -> usize {
            0
        }
    }
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Signer {
        pub principal: String,
        pub fingerprint: String,
    }
    #[derive(Debug, thiserror::Error, PartialEq, Eq)]
    pub enum VerifyError {
        #[error("{sha} is not signed")]
        Unsigned { sha: String },
    }
    pub fn verify(signers: &AllowedSigners, commit: &Commit) -> Result<Signer, VerifyError> {
        unimplemented!()
    }
}
pub mod source;
pub mod sync;
pub mod webhook;
