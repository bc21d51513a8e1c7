//! An `sshd` of the test's own (Debian's openssh-server) on a loopback port, accepting root with
//! a key made in the test; and an `ssh` for moor that uses only the test's files.
//!
//! Hermetic: the system's `ssh` reads `~/.ssh` of the user's passwd entry, not `$HOME`, so moor
//! gets a `PATH` whose first `ssh` is a wrapper adding `-F <the test's ssh_config>` (identity,
//! known hosts file of the test's own). Logins run `docker system dial-stdio` against the
//! machine's daemon, as a remote host's would against its own.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Sshd {
    /// `ssh://root@127.0.0.1:PORT`.
    pub host: String,
    /// A folder with the wrapping `ssh`, to put first on moor's `PATH`.
    pub bin: PathBuf,
    /// A key that sshd does not accept (to be refused).
    pub stranger_key: PathBuf,
    port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f", path.to_str().unwrap()])
        .output()
        .expect("ssh-keygen");
    assert!(out.status.success(), "ssh-keygen: {}", String::from_utf8_lossy(&out.stderr));
}

impl Sshd {
    pub fn start() -> Sshd {
        let dir = tempfile::Builder::new().prefix("moor-sshd-").tempdir().unwrap();
        let d = dir.path();
        let p = |name: &str| d.join(name).to_str().unwrap().to_string();
        keygen(&d.join("host_key"));
        keygen(&d.join("id"));
        keygen(&d.join("stranger"));
        std::fs::copy(d.join("id.pub"), d.join("authorized_keys")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 UsePAM no\nStrictModes no\n",
                p("host_key"),
                p("sshd.pid"),
                p("authorized_keys")
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("ssh_config"),
            format!(
                "Host *\n  IdentityFile {}\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n  LogLevel ERROR\n",
                p("id"),
                p("known_hosts")
            ),
        )
        .unwrap();
        let bin = d.join("bin");
        std::fs::create_dir(&bin).unwrap();
        let wrapper = bin.join("ssh");
        std::fs::write(&wrapper, format!("#!/bin/sh\nexec /usr/bin/ssh -F {} \"$@\"\n", p("ssh_config"))).unwrap();
        std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        // sshd refuses to start without its privilege separation folder.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f", &p("sshd_config")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("sshd.log")).unwrap())
            .spawn()
            .expect("sshd");
        let mut sshd = Sshd {
            host: format!("ssh://root@127.0.0.1:{port}"),
            bin,
            stranger_key: d.join("stranger"),
            port,
            child,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(sshd.child.try_wait().unwrap().is_none(), "sshd exited:\n{}", sshd.log());
            assert!(Instant::now() < deadline, "sshd does not listen:\n{}", sshd.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        sshd
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// `PATH` for moor: the wrapper first.
    pub fn path_env(&self) -> String {
        format!("{}:{}", self.bin.display(), std::env::var("PATH").unwrap_or_default())
    }

    /// Writes the server's host key into the test's known hosts file: until then, ssh refuses
    /// the host (moor runs it with `BatchMode=yes`, nobody to ask).
    pub fn trust_host_key(&self) {
        let key = std::fs::read_to_string(self.dir.path().join("host_key.pub")).unwrap();
        let line = format!("[127.0.0.1]:{} {}", self.port, key.trim());
        std::fs::write(self.dir.path().join("known_hosts"), line + "\n").unwrap();
    }

    /// Makes the wrapper use `key` instead of the accepted one.
    pub fn use_key(&self, key: &Path) {
        let config = self.dir.path().join("ssh_config");
        let text = std::fs::read_to_string(&config).unwrap();
        let id = self.dir.path().join("id");
        std::fs::write(&config, text.replace(id.to_str().unwrap(), key.to_str().unwrap())).unwrap();
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
