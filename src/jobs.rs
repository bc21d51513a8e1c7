//! The record of a job's last run (`mode: job`), kept in moor's state dir as
//! `<state-dir>/jobs/<instance>/<service>.json`: the spec hash the container was made with, the
//! image ID, the exit code and when it ended.
//!
//! Why: an `autoRemove` job's container is gone by the time moor looks again, and with it the
//! only trace Docker keeps of its exit. The record lets the next `apply` (a pure plan over
//! `Observed::jobs`) see that the job already completed under this very spec, and not run it
//! again. A job whose container still exists is judged by the container (its status text), the
//! record being only a fallback.
//!
//! Invariants:
//! - A record is written whole or not at all: a temp file in the same folder, fsync, rename.
//! - A missing record is "never ran" (the job runs). A record that cannot be read or parsed is
//!   logged and counts as missing: the job runs again, which a job must bear anyway (a failed
//!   run is retried), rather than a broken file blocking every dependant for good.
//! - Without a state dir nothing is recorded: an `autoRemove` job then runs at every `apply`
//!   (documented in the README); a job that keeps its container does not need the record.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::manifest::Desired;

const JOBS: &str = "jobs";

/// One run of a job, as recorded when it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    /// The `moor.spec-hash` of the container that ran.
    pub spec_hash: String,
    /// The image ID the container ran (part of the hash).
    pub image_id: String,
    pub exit_code: i64,
    /// Unix seconds.
    pub finished_at: i64,
}

impl JobRecord {
    pub fn succeeded(&self) -> bool {
        self.exit_code == 0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobRecordError {
    #[error("job record {path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    #[error("job record {path} is not a record moor wrote: {error}")]
    Parse { path: PathBuf, error: serde_json::Error },
}

/// The record file of `service` under `state_dir`. Instance and service names are DNS-1123
/// labels (checked at load and at the command line), so they are folder and file names as they
/// are.
pub fn record_path(state_dir: &Path, instance: &str, service: &str) -> PathBuf {
    state_dir.join(JOBS).join(instance).join(format!("{service}.json"))
}

/// Reads the records of the jobs `desired` declares; a job without one (or with an unreadable
/// one, which is logged) is left out.
pub fn load(state_dir: &Path, instance: &str, desired: &Desired) -> BTreeMap<String, JobRecord> {
    let mut out = BTreeMap::new();
    for service in desired.services.values().filter(|s| s.is_job()) {
        match read(state_dir, instance, &service.name) {
            Ok(Some(record)) => {
                out.insert(service.name.clone(), record);
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, service = %service.name, "job record ignored: the job counts as never run")
            }
        }
    }
    out
}

/// The record of `service`, `None` when there is none.
pub fn read(state_dir: &Path, instance: &str, service: &str) -> Result<Option<JobRecord>, JobRecordError> {
    let path = record_path(state_dir, instance, service);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(JobRecordError::Io { path, error }),
    };
    serde_json::from_slice(&text).map(Some).map_err(|error| JobRecordError::Parse { path, error })
}

/// Writes the record of `service` atomically (temp file, fsync, rename, folder synced).
pub fn write(state_dir: &Path, instance: &str, service: &str, record: &JobRecord) -> Result<(), JobRecordError> {
    let path = record_path(state_dir, instance, service);
    let dir = path.parent().expect("a record path has a folder");
    let io = |error| JobRecordError::Io { path: path.clone(), error };
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = dir.join(format!(".tmp-{service}.json"));
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(&serde_json::to_vec_pretty(record).expect("a record serializes")).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)
}

/// Removes every record of `instance` (`moor down`: a stack brought up again runs its jobs
/// again). None there is fine.
pub fn forget(state_dir: &Path, instance: &str) -> Result<(), JobRecordError> {
    let dir = state_dir.join(JOBS).join(instance);
    match std::fs::remove_dir_all(&dir) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(JobRecordError::Io { path: dir, error }),
        _ => Ok(()),
    }
}

/// Unix seconds now, for [`JobRecord::finished_at`].
pub fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_written_whole_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let record =
            JobRecord { spec_hash: "sha256:a".into(), image_id: "sha256:b".into(), exit_code: 3, finished_at: 7 };
        write(dir.path(), "default", "migrate", &record).unwrap();
        let text = std::fs::read_to_string(record_path(dir.path(), "default", "migrate")).unwrap();
        let back: JobRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(back, record);
        assert!(!back.succeeded());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("jobs/default")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp file is left behind");
        forget(dir.path(), "default").unwrap();
        assert_eq!(read(dir.path(), "default", "migrate").unwrap(), None);
        forget(dir.path(), "default").unwrap();
    }
}
