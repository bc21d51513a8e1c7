//! Smart HTTP for tests: a tiny HTTP/1.1 server on 127.0.0.1 that runs `git http-backend` as a
//! CGI per request, serving every repository under a folder. It counts requests and the bytes
//! it sends, and keeps each request (method, path, decoded body) so tests can tell a ref listing
//! from a pack fetch. Answers carry `Connection: close`; chunked request bodies are decoded.
//! [`GitHttp::serve_tls`] serves HTTPS and can demand basic auth (401 until the right
//! `Authorization` comes); [`GitHttp::redirect_tls`] answers every request with a redirect to
//! another server. The server thread stops when the [`GitHttp`] is dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, as in the request line.
    pub target: String,
    /// The body, de-chunked (as given to the CGI).
    pub body: Vec<u8>,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
}

impl Request {
    /// True for a protocol v2 `command=fetch` (a pack request), as opposed to `ls-refs`.
    pub fn is_pack_fetch(&self) -> bool {
        contains(&self.body, b"command=fetch")
    }
}

pub struct GitHttp {
    /// `http://127.0.0.1:PORT`; a repository `origin.git` is at `{url_base}/origin.git`.
    pub url_base: String,
    requests: Arc<AtomicUsize>,
    bytes_out: Arc<AtomicU64>,
    log: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

#[derive(Clone)]
struct Shared {
    root: PathBuf,
    /// The `Authorization` value every request must carry, if any.
    required_authorization: Option<String>,
    /// A base URL every request is redirected to (`302`, same path and query), if any.
    redirect_to: Option<String>,
    requests: Arc<AtomicUsize>,
    bytes_out: Arc<AtomicU64>,
    log: Arc<Mutex<Vec<Request>>>,
}

impl GitHttp {
    /// Serves the repositories under `project_root` over HTTP on a free loopback port.
    pub fn serve(project_root: &Path) -> GitHttp {
        Self::start(project_root, None, None, None)
    }

    /// Serves over HTTPS with `tls`; with `basic_auth` (user, password) every request without
    /// exactly those credentials is answered 401 with a `WWW-Authenticate: Basic` challenge.
    pub fn serve_tls(project_root: &Path, tls: Arc<rustls::ServerConfig>, basic_auth: Option<(&str, &str)>) -> GitHttp {
        Self::start(project_root, Some(tls), basic_auth, None)
    }

    /// Serves HTTPS with `tls`, answering every request with a `302` to the same path and query
    /// under `base` (such as another server's `url_base`).
    pub fn redirect_tls(tls: Arc<rustls::ServerConfig>, base: &str) -> GitHttp {
        Self::start(Path::new("/nonexistent"), Some(tls), None, Some(base.to_string()))
    }

    fn start(
        project_root: &Path,
        tls: Option<Arc<rustls::ServerConfig>>,
        basic_auth: Option<(&str, &str)>,
        redirect_to: Option<String>,
    ) -> GitHttp {
        use base64::Engine;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let required_authorization = basic_auth.map(|(user, password)| {
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
        });
        let scheme = if tls.is_some() { "https" } else { "http" };
        let shared = Shared {
            root: project_root.to_path_buf(),
            required_authorization,
            redirect_to,
            requests: Arc::new(AtomicUsize::new(0)),
            bytes_out: Arc::new(AtomicU64::new(0)),
            log: Arc::new(Mutex::new(Vec::new())),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(tcp) = stream {
                        let (shared, tls) = (shared.clone(), tls.clone());
                        std::thread::spawn(move || match tls {
                            None => {
                                let _ = handle(tcp, &shared);
                            }
                            Some(config) => {
                                let Ok(connection) = rustls::ServerConnection::new(config) else { return };
                                let mut stream = rustls::StreamOwned::new(connection, tcp);
                                if handle(&mut stream, &shared).is_ok() {
                                    stream.conn.send_close_notify();
                                    let _ = stream.flush();
                                }
                            }
                        });
                    }
                }
            })
        };
        GitHttp {
            url_base: format!("{scheme}://{addr}"),
            requests: shared.requests,
            bytes_out: shared.bytes_out,
            log: shared.log,
            stop,
            addr,
            thread: Some(thread),
        }
    }

    /// Requests answered so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Bytes sent so far (status lines, headers and bodies).
    pub fn bytes_sent(&self) -> u64 {
        self.bytes_out.load(Ordering::SeqCst)
    }

    /// The requests answered so far, oldest first.
    pub fn log(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for GitHttp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the blocking accept so that the thread sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn handle(mut stream: impl Read + Write, shared: &Shared) -> std::io::Result<()> {
    // One request per connection (answers say `Connection: close`): nothing is read ahead.
    let mut reader = BufReader::new(&mut stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = match (parts.next(), parts.next()) {
        (Some(m), Some(t)) => (m.to_string(), t.to_string()),
        _ => return Ok(()),
    };
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        read_chunked(&mut reader)?
    } else {
        let length: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        body
    };
    drop(reader);
    let authorization = header("authorization");
    if let Some(base) = &shared.redirect_to {
        let response =
            format!("HTTP/1.1 302 Found\r\nLocation: {base}{target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        shared.log.lock().unwrap().push(Request { method, target, body, authorization });
        shared.bytes_out.fetch_add(response.len() as u64, Ordering::SeqCst);
        shared.requests.fetch_add(1, Ordering::SeqCst);
        return stream.write_all(response.as_bytes());
    }
    if shared.required_authorization.is_some() && authorization != shared.required_authorization {
        shared.log.lock().unwrap().push(Request { method, target, body, authorization });
        let response = b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        shared.bytes_out.fetch_add(response.len() as u64, Ordering::SeqCst);
        shared.requests.fetch_add(1, Ordering::SeqCst);
        return stream.write_all(response);
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut cgi = Command::new("git");
    cgi.arg("http-backend")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_PROJECT_ROOT", &shared.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REQUEST_METHOD", &method)
        .env("CONTENT_TYPE", header("content-type").unwrap_or_default())
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(protocol) = header("git-protocol") {
        cgi.env("GIT_PROTOCOL", protocol);
    }
    if let Some(encoding) = header("content-encoding") {
        cgi.env("HTTP_CONTENT_ENCODING", encoding);
    }
    let mut child = cgi.spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    let writer = {
        let body = body.clone();
        std::thread::spawn(move || stdin.write_all(&body))
    };
    let output = child.wait_with_output()?;
    let _ = writer.join();
    shared.log.lock().unwrap().push(Request { method, target, body, authorization });
    let response = cgi_to_http(&output.stdout);
    // Counted before sending: the client may act on the answer before this thread runs again.
    shared.bytes_out.fetch_add(response.len() as u64, Ordering::SeqCst);
    shared.requests.fetch_add(1, Ordering::SeqCst);
    stream.write_all(&response)?;
    stream.flush()
}

fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let mut trailer = String::new();
                if reader.read_line(&mut trailer)? == 0 || trailer.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf)?;
    }
}

/// The CGI's output (headers, a blank line, the body) as an HTTP/1.1 response; its `Status:`
/// header becomes the status line.
fn cgi_to_http(output: &[u8]) -> Vec<u8> {
    let (head, body) = match find(output, b"\r\n\r\n") {
        Some(at) => (&output[..at], &output[at + 4..]),
        None => match find(output, b"\n\n") {
            Some(at) => (&output[..at], &output[at + 2..]),
            None => (&output[..0], output),
        },
    };
    let mut status = "200 OK".to_string();
    let mut headers = String::new();
    for line in String::from_utf8_lossy(head).lines() {
        match line.split_once(':') {
            Some((name, value)) if name.eq_ignore_ascii_case("status") => status = value.trim().to_string(),
            Some(_) => headers.push_str(&format!("{line}\r\n")),
            None => {}
        }
    }
    let mut response =
        format!("HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n", body.len())
            .into_bytes();
    response.extend_from_slice(body);
    response
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}
