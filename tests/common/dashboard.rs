//! `moor dashboard --fleet ...` as a test starts it: on a free loopback port, killed when dropped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{http_get, moor_bin};

pub struct Dashboard {
    child: Child,
    pub port: u16,
}

impl Dashboard {
    /// `moor dashboard ARGS... --listen 127.0.0.1:PORT`.
    pub fn start(args: &[&str]) -> Dashboard {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(moor_bin())
            .arg("dashboard")
            .args(args)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn moor dashboard");
        Dashboard { child, port }
    }

    /// The page, once it is served (30 s at most).
    pub fn page(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (code, body) = http_get(self.port, "/");
            if code == 200 {
                return body;
            }
            assert!(Instant::now() < deadline, "moor dashboard never served its page");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
