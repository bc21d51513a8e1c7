//! A small Chrome DevTools Protocol client for the real-browser tests: Debian's headless
//! `chromium` started with a fresh profile, one WebSocket to it, and commands sent with an id
//! whose result is awaited with a deadline.
//!
//! Invariants:
//! - [`Chromium`] owns the browser's whole process group and its profile folder: dropping it
//!   kills every chromium process it started (renderers, zygotes, GPU helper) and removes the
//!   profile, also when a test panics halfway.
//! - Every wait has a deadline: a browser that stops answering fails the test with what was
//!   asked, it never hangs it.
//! - A missing `chromium` is a failure that names the package, never a silent skip: CI installs it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

/// Where Debian puts the browser; `CHROMIUM` overrides it.
pub fn chromium_path() -> PathBuf {
    let path = PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    assert!(
        path.exists(),
        "{} is missing: the dashboard's browser tests need Debian's headless chromium \
         (apt-get install chromium; .ci/run installs it with `need_pkg chromium`)",
        path.display()
    );
    path
}

/// The flags every run takes: headless, no sandbox (the tests run as root in a container), no GPU,
/// and nothing that would reach the network on its own (no sync, no component updates).
fn base_args(profile: &Path) -> Vec<String> {
    [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect()
}

/// `chromium --dump-dom URL`: the DOM after the page's load (scripts run), with a deadline.
pub fn dump_dom(url: &str, timeout: Duration) -> String {
    let profile = tempfile::tempdir().expect("chromium profile folder");
    let mut cmd = Command::new(chromium_path());
    cmd.args(base_args(profile.path())).arg("--dump-dom").arg(url);
    let out = run_with_deadline(cmd, timeout);
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && !dom.is_empty(),
        "chromium --dump-dom {url} failed ({:?}):\n{}",
        out.status,
        tail(&String::from_utf8_lossy(&out.stderr), 20)
    );
    dom
}

/// Runs `cmd` in its own process group and kills that group at `timeout`: one-shot chromium runs
/// leave helpers behind when they hang.
fn run_with_deadline(mut cmd: Command, timeout: Duration) -> std::process::Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()));
    let group = Group(child.id() as i32);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = rx.recv_timeout(timeout).unwrap_or_else(|_| panic!("{:?} did not finish within {timeout:?}", cmd));
    drop(group);
    out.expect("chromium output")
}

/// A process group, killed when dropped.
struct Group(i32);

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: kill(2) with a negative pid signals the group we made with process_group(0);
        // no memory is involved.
        unsafe {
            libc::kill(-self.0, libc::SIGKILL);
        }
    }
}

/// Whether any process of group `pgid` is left.
pub fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks that the group exists; nothing is sent.
    unsafe { libc::kill(-pgid, 0) == 0 }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A headless chromium with its DevTools endpoint, and one connection to it.
pub struct Chromium {
    child: Child,
    group: Group,
    ws: WebSocket<TcpStream>,
    next_id: u64,
    /// Its stderr so far (drained by a thread so the browser never blocks on a full pipe).
    stderr: Arc<Mutex<String>>,
    /// Dropped after the browser is killed, so the profile is no longer written to.
    _profile: tempfile::TempDir,
}

/// A page (tab) of a [`Chromium`], driven over a flattened session of the browser's connection.
pub struct Page {
    session: String,
}

impl Chromium {
    /// Starts chromium on `about:blank` and connects to the browser's DevTools WebSocket.
    pub fn start() -> Chromium {
        let profile = tempfile::tempdir().expect("chromium profile folder");
        let mut child = Command::new(chromium_path())
            .args(base_args(profile.path()))
            .args(["--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "about:blank"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn chromium: {e}"));
        let group = Group(child.id() as i32);
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().expect("piped stderr");
        let log = stderr.clone();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(url) = line.strip_prefix("DevTools listening on ") {
                        let _ = tx.send(url.trim().to_string());
                        sent = true;
                    }
                }
                let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        let url = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
            panic!("chromium printed no DevTools URL within 30 s:\n{}", tail(&stderr.lock().unwrap(), 30))
        });
        let ws = connect(&url);
        Chromium { child, group, ws, next_id: 0, stderr, _profile: profile }
    }

    /// Sends `method` with `params` (on `session` when given) and returns its `result`; panics with
    /// the browser's error, or when no answer comes within `timeout`. Events that arrive meanwhile
    /// are dropped: the tests poll the page's state instead of following events.
    pub fn call_in(&mut self, session: Option<&str>, method: &str, params: Value, timeout: Duration) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws.send(Message::text(msg.to_string())).unwrap_or_else(|e| panic!("send {method}: {e}"));
        let deadline = Instant::now() + timeout;
        loop {
            assert!(Instant::now() < deadline, "no answer to {method} within {timeout:?}");
            let text = match self.ws.read() {
                Ok(Message::Text(t)) => t.to_string(),
                Ok(Message::Binary(b)) => String::from_utf8_lossy(&b).into_owned(),
                Ok(_) => continue,
                // The socket's read timeout: nothing yet, look at the deadline again.
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
                {
                    continue
                }
                Err(e) => panic!("reading the answer to {method}: {e}\n{}", tail(&self.stderr(), 30)),
            };
            let answer: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("CDP sent non-JSON ({e}): {text}"));
            if answer["id"].as_u64() != Some(id) {
                continue;
            }
            if let Some(err) = answer.get("error") {
                panic!("{method} failed: {err}");
            }
            return answer["result"].clone();
        }
    }

    /// [`Chromium::call_in`] on the browser itself, with a 30 s deadline.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.call_in(None, method, params, Duration::from_secs(30))
    }

    /// A new tab on `about:blank`, attached (flattened: its commands go over this connection with
    /// its session id), with the Page, Runtime and Network domains enabled.
    pub fn new_page(&mut self) -> Page {
        let target = self.call("Target.createTarget", json!({ "url": "about:blank" }));
        let target_id = target["targetId"].as_str().expect("targetId").to_string();
        let attached = self.call("Target.attachToTarget", json!({ "targetId": target_id, "flatten": true }));
        let page = Page { session: attached["sessionId"].as_str().expect("sessionId").to_string() };
        for domain in ["Page", "Runtime", "Network"] {
            self.on(&page, &format!("{domain}.enable"), json!({}));
        }
        page
    }

    /// `method` on `page`, with a 30 s deadline.
    pub fn on(&mut self, page: &Page, method: &str, params: Value) -> Value {
        self.call_in(Some(&page.session), method, params, Duration::from_secs(30))
    }

    /// Sends `headers` (such as `Authorization`) with every request of `page`, including its
    /// scripts' `EventSource`.
    pub fn set_headers(&mut self, page: &Page, headers: Value) {
        self.on(page, "Network.setExtraHTTPHeaders", json!({ "headers": headers }));
    }

    /// Navigates `page` to `url` and waits (deadline `timeout`) until its document has loaded.
    pub fn navigate(&mut self, page: &Page, url: &str, timeout: Duration) {
        let nav = self.on(page, "Page.navigate", json!({ "url": url }));
        if let Some(err) = nav.get("errorText") {
            panic!("navigating to {url}: {err}");
        }
        self.wait_for(page, "document.readyState === 'complete'", timeout, "the page to load");
    }

    /// The value of `expression` evaluated in `page` (promises awaited, the result by value).
    pub fn eval(&mut self, page: &Page, expression: &str) -> Value {
        let r = self.on(
            page,
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{expression} threw: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Polls `expression` in `page` every 25 ms until it is `true`, for at most `timeout`.
    pub fn wait_for(&mut self, page: &Page, expression: &str, timeout: Duration, what: &str) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.eval(page, expression) == json!(true) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what} ({expression})");
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Sets the viewport of `page` to `width` CSS pixels (the height follows the content, from 600
    /// to 4000 px, so the screenshot holds the whole page), `scale` device pixels per CSS pixel, and
    /// the `prefers-color-scheme` it reports; then returns a PNG of it.
    pub fn screenshot(&mut self, page: &Page, width: u32, scale: f64, mobile: bool, dark: bool) -> Vec<u8> {
        let scheme = if dark { "dark" } else { "light" };
        self.on(
            page,
            "Emulation.setEmulatedMedia",
            json!({ "media": "screen", "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
        );
        let metrics =
            |height: u32| json!({ "width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile });
        // Measured at the final width (line breaks depend on it); the root element's box, not
        // scrollHeight, which is never less than the viewport.
        self.on(page, "Emulation.setDeviceMetricsOverride", metrics(600));
        let height = self
            .eval(page, "Math.ceil(document.documentElement.getBoundingClientRect().height)")
            .as_f64()
            .unwrap_or(600.0);
        self.on(page, "Emulation.setDeviceMetricsOverride", metrics((height as u32).clamp(600, 4000)));
        let shot = self.on(page, "Page.captureScreenshot", json!({ "format": "png" }));
        let data = shot["data"].as_str().expect("screenshot data");
        base64::engine::general_purpose::STANDARD.decode(data).expect("screenshot base64")
    }

    /// The id of the browser's process group (its own, made at spawn).
    pub fn group(&self) -> i32 {
        self.group.0
    }

    /// Everything chromium wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.ws.close(None);
        // The group first: the browser's helpers outlive a killed parent.
        // SAFETY: as in `Group::drop`.
        unsafe {
            libc::kill(-self.group.0, libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain ws:// connection to the DevTools URL with a short read timeout, so that waits can look
/// at their deadline.
fn connect(url: &str) -> WebSocket<TcpStream> {
    let parsed = url::Url::parse(url).unwrap_or_else(|e| panic!("DevTools URL {url}: {e}"));
    let addr = format!("{}:{}", parsed.host_str().expect("DevTools host"), parsed.port().expect("DevTools port"));
    let stream = TcpStream::connect(&addr).unwrap_or_else(|e| panic!("connect to DevTools at {addr}: {e}"));
    // A generous timeout for the handshake (a timed-out read would end it), a short one after.
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("read timeout");
    let (ws, _) = tungstenite::client(url, stream).unwrap_or_else(|e| panic!("DevTools handshake with {url}: {e}"));
    ws.get_ref().set_read_timeout(Some(Duration::from_millis(200))).expect("read timeout");
    ws
}

/// `(width, height)` from a PNG's IHDR chunk, or `None` when `bytes` is not a PNG.
pub fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    const MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.len() < 24 || &bytes[..8] != MAGIC || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let be = |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    Some((be(16), be(20)))
}
