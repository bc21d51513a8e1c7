//! `ssh://` hosts, as the Docker CLI reaches them: for each connection, the system's `ssh` runs
//! `docker system dial-stdio` on the remote host, and its stdin/stdout carry the API. moor
//! serves a unix socket of its own in a private temporary folder and bridges every connection
//! made to it to such an `ssh`, so the rest of the engine (the `_ping` negotiation included)
//! talks to a unix socket as usual.
//!
//! Why not bollard's `ssh` feature: bollard 0.21 hands `user@host:port` to ssh as one host name,
//! so a port cannot be given; and ssh's own message (a refused key, an unknown host key) is lost.
//! Here each `ssh` gets `-l USER -p PORT -- HOST` as the Docker CLI passes them, `BatchMode=yes`
//! (a daemon cannot answer a prompt), and the user's ssh configuration, agent and known hosts
//! otherwise: an unknown host key is refused, as with the Docker CLI. ssh's stderr of the last
//! failed connection is kept for the error message.
//!
//! Invariants: the socket's folder is private to this process (mode 0700, removed on drop);
//! dropping the bridge stops accepting, and every `ssh` it started is killed when its
//! connection ends or the runtime stops (`kill_on_drop`).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `ssh://[user@]host[:port]`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl SshTarget {
    /// `None` when `host` is not an `ssh://` URL of that form.
    pub fn parse(url: &str) -> Option<SshTarget> {
        let rest = url.strip_prefix("ssh://")?.trim_end_matches('/');
        if rest.contains('/') {
            return None;
        }
        let (user, host_port) = match rest.rsplit_once('@') {
            Some((user, hp)) if !user.is_empty() => (Some(user.to_string()), hp),
            Some(_) => return None,
            None => (None, rest),
        };
        // `[::1]:22`, `host:22`, `host`.
        let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
            let (h, after) = v6.split_once(']')?;
            (h, after.strip_prefix(':'))
        } else {
            match host_port.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (host_port, None),
            }
        };
        if host.is_empty() || host.starts_with('-') {
            return None;
        }
        let port = match port {
            Some(p) => Some(p.parse().ok().filter(|p| *p != 0)?),
            None => None,
        };
        Some(SshTarget { user, host: host.to_string(), port })
    }

    /// The arguments of `ssh`, as the Docker CLI builds them, plus `BatchMode=yes`.
    pub fn ssh_args(&self) -> Vec<String> {
        let mut args = vec!["-o".to_string(), "BatchMode=yes".to_string()];
        if let Some(user) = &self.user {
            args.extend(["-l".to_string(), user.clone()]);
        }
        if let Some(port) = self.port {
            args.extend(["-p".to_string(), port.to_string()]);
        }
        args.extend(["--", &self.host, "docker", "system", "dial-stdio"].map(str::to_string));
        args
    }
}

/// A local unix socket whose connections are each bridged to `ssh … docker system dial-stdio`.
pub struct SshBridge {
    dir: tempfile::TempDir,
    accept: tokio::task::JoinHandle<()>,
    last_error: Arc<Mutex<String>>,
}

impl SshBridge {
    /// Binds the socket and starts accepting; no ssh runs until the first connection.
    pub fn start(target: &SshTarget) -> std::io::Result<SshBridge> {
        // tempfile makes the folder 0700: the socket inside is this user's only.
        let dir = tempfile::Builder::new().prefix("moor-ssh-").tempdir()?;
        let listener = tokio::net::UnixListener::bind(dir.path().join("docker.sock"))?;
        let last_error = Arc::new(Mutex::new(String::new()));
        let (args, errors) = (target.ssh_args(), last_error.clone());
        let accept = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(bridge(socket, args.clone(), errors.clone()));
            }
        });
        Ok(SshBridge { dir, accept, last_error })
    }

    /// `unix:///…/docker.sock`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    /// What `ssh` wrote on stderr for the last connection that wrote anything, trimmed.
    pub fn last_error(&self) -> String {
        self.last_error.lock().map(|e| e.trim().to_string()).unwrap_or_default()
    }
}

impl Drop for SshBridge {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// One connection: bytes both ways until either side ends; ssh's stderr is stored before the
/// client sees the end, so that an error message built on that end can quote it.
async fn bridge(socket: tokio::net::UnixStream, args: Vec<String>, errors: Arc<Mutex<String>>) {
    let spawned = tokio::process::Command::new("ssh")
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            if let Ok(mut last) = errors.lock() {
                *last = format!("cannot run ssh: {e}");
            }
            return;
        }
    };
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return;
    };
    let (mut from_client, mut to_client) = socket.into_split();
    let up = async move {
        let _ = tokio::io::copy(&mut from_client, &mut stdin).await;
        // Closing ssh's stdin tells dial-stdio the client is done.
        drop(stdin);
    };
    let down = async move {
        let _ = tokio::io::copy(&mut stdout, &mut to_client).await;
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        if !text.trim().is_empty() {
            if let Ok(mut last) = errors.lock() {
                *last = text;
            }
        }
        let _ = to_client.shutdown().await;
    };
    // The client's end closes ssh's stdin, which ends dial-stdio and so ssh; ssh's end (a
    // failure, the remote gone) shuts the client's side, which then closes its own.
    tokio::join!(up, down);
    let _ = child.kill().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_as_the_docker_cli_reads_them() {
        let t = SshTarget::parse("ssh://me@box.example:2222").unwrap();
        assert_eq!(t, SshTarget { user: Some("me".into()), host: "box.example".into(), port: Some(2222) });
        assert_eq!(
            t.ssh_args(),
            ["-o", "BatchMode=yes", "-l", "me", "-p", "2222", "--", "box.example", "docker", "system", "dial-stdio"]
        );
        let bare = SshTarget::parse("ssh://box/").unwrap();
        assert_eq!(bare.ssh_args(), ["-o", "BatchMode=yes", "--", "box", "docker", "system", "dial-stdio"]);
        assert_eq!(SshTarget::parse("ssh://[::1]:22").unwrap().host, "::1");
        for bad in [
            "tcp://box",
            "ssh://",
            "ssh://@box",
            "ssh://box:x",
            "ssh://box:0",
            "ssh://box/path",
            "ssh://-oProxyCommand=x",
        ] {
            assert_eq!(SshTarget::parse(bad), None, "{bad}");
        }
    }
}
