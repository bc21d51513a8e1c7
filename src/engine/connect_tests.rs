use super::*;
use std::fs;

/// A Docker config folder in a temporary directory, with contexts written as the Docker CLI
/// writes them.
struct Config {
    dir: tempfile::TempDir,
}

impl Config {
    fn new() -> Config {
        Config { dir: tempfile::tempdir().unwrap() }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    fn current(&self, name: &str) {
        fs::write(self.path().join("config.json"), format!(r#"{{"auths":{{}},"currentContext":"{name}"}}"#)).unwrap();
    }

    fn context(&self, name: &str, host: &str, skip_verify: bool, tls: bool) {
        let id = context_dir_name(name);
        let meta = self.path().join("contexts/meta").join(&id);
        fs::create_dir_all(&meta).unwrap();
        let doc = serde_json::json!({
            "Name": name,
            "Metadata": {},
            "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip_verify}},
        });
        fs::write(meta.join("meta.json"), doc.to_string()).unwrap();
        if tls {
            let dir = self.path().join("contexts/tls").join(&id).join("docker");
            fs::create_dir_all(&dir).unwrap();
            for f in ["ca.pem", "cert.pem", "key.pem"] {
                fs::write(dir.join(f), "x").unwrap();
            }
        }
    }

    fn env(&self) -> Env {
        Env { docker_config: Some(self.path()), ..Env::default() }
    }
}

fn host_of(sources: &Sources) -> String {
    resolve(sources).unwrap().host
}

#[test]
fn the_context_folder_is_the_sha256_of_the_name() {
    // As the Docker CLI names it: `docker context create remote` makes meta/<this>/.
    assert_eq!(context_dir_name("remote"), "b71199ebd070b36beab7317920c2c2f1d777df8d05e5527d8458fda57cb17a7a");
}

#[test]
fn nothing_given_is_the_local_socket() {
    let c = Config::new();
    let e = resolve(&Sources { env: c.env(), ..Sources::default() }).unwrap();
    assert_eq!(e, Endpoint { host: DEFAULT_HOST.into(), tls: None, origin: Origin::Default });
}

#[test]
fn precedence_is_the_docker_clis() {
    let c = Config::new();
    c.context("flag", "tcp://10.0.0.1:2375", false, false);
    c.context("envctx", "tcp://10.0.0.2:2375", false, false);
    c.context("current", "tcp://10.0.0.3:2375", false, false);
    c.current("current");
    let all = Sources {
        host: Some("tcp://10.0.0.9:2375".into()),
        context: Some("flag".into()),
        env: Env { docker_host: Some("tcp://10.0.0.8:2375".into()), docker_context: Some("envctx".into()), ..c.env() },
        ..Sources::default()
    };
    // --host and --context together are refused, as the Docker CLI refuses them.
    assert_eq!(resolve(&all), Err(EndpointError::HostAndContext));
    // Each rule, then the same without it: --host, --context, DOCKER_HOST, DOCKER_CONTEXT,
    // currentContext.
    assert_eq!(host_of(&Sources { context: None, ..all.clone() }), "tcp://10.0.0.9:2375");
    let no_host = Sources { host: None, ..all.clone() };
    assert_eq!(resolve(&no_host).unwrap().origin, Origin::Context("flag".into()));
    assert_eq!(host_of(&no_host), "tcp://10.0.0.1:2375");
    let no_context = Sources { context: None, ..no_host.clone() };
    assert_eq!(host_of(&no_context), "tcp://10.0.0.8:2375");
    assert_eq!(resolve(&no_context).unwrap().origin, Origin::HostEnv);
    let mut no_env_host = no_context.clone();
    no_env_host.env.docker_host = None;
    assert_eq!(host_of(&no_env_host), "tcp://10.0.0.2:2375");
    let mut no_env_context = no_env_host.clone();
    no_env_context.env.docker_context = None;
    assert_eq!(host_of(&no_env_context), "tcp://10.0.0.3:2375");
}

#[test]
fn the_default_context_is_docker_host_or_the_socket() {
    let c = Config::new();
    c.current("default");
    let e = resolve(&Sources { env: c.env(), ..Sources::default() }).unwrap();
    assert_eq!(e.host, DEFAULT_HOST);
    let with_env = Sources {
        context: Some("default".into()),
        env: Env { docker_host: Some("tcp://10.1.1.1:2375".into()), ..c.env() },
        ..Sources::default()
    };
    assert_eq!(host_of(&with_env), "tcp://10.1.1.1:2375");
}

#[test]
fn docker_config_falls_back_to_home_dot_docker() {
    let home = tempfile::tempdir().unwrap();
    let docker = Config { dir: tempfile::Builder::new().prefix(".docker").tempdir_in(home.path()).unwrap() };
    docker.context("remote", "tcp://10.2.2.2:2375", false, false);
    docker.current("remote");
    fs::rename(docker.path(), home.path().join(".docker")).unwrap();
    let env = Env { home: Some(home.path().to_path_buf()), ..Env::default() };
    assert_eq!(host_of(&Sources { env, ..Sources::default() }), "tcp://10.2.2.2:2375");
}

#[test]
fn a_context_with_tls_files_uses_them() {
    let c = Config::new();
    c.context("tls", "tcp://10.3.3.3", false, true);
    let e = resolve(&Sources { context: Some("tls".into()), env: c.env(), ..Sources::default() }).unwrap();
    // No port given: the TLS port, as the Docker CLI.
    assert_eq!(e.host, "tcp://10.3.3.3:2376");
    let dir = c.path().join("contexts/tls").join(context_dir_name("tls")).join("docker");
    assert_eq!(e.tls, Some(TlsFiles { ca: dir.join("ca.pem"), cert: dir.join("cert.pem"), key: dir.join("key.pem") }));
}

#[test]
fn context_errors_are_clear() {
    let c = Config::new();
    c.context("skip", "tcp://10.4.4.4:2376", true, true);
    let skip = resolve(&Sources { context: Some("skip".into()), env: c.env(), ..Sources::default() });
    assert_eq!(skip, Err(EndpointError::SkipTlsVerify { name: "skip".into() }));
    let missing = resolve(&Sources { context: Some("nope".into()), env: c.env(), ..Sources::default() });
    let Err(EndpointError::NoContext { name, meta }) = missing else { panic!("{missing:?}") };
    assert_eq!(name, "nope");
    assert!(meta.ends_with(format!("{}/meta.json", context_dir_name("nope"))), "{}", meta.display());
    fs::write(c.path().join("config.json"), "{not json").unwrap();
    let broken = resolve(&Sources { env: c.env(), ..Sources::default() }).unwrap_err();
    assert!(matches!(&broken, EndpointError::BadFile { path, .. } if path.ends_with("config.json")), "{broken:?}");
}

#[test]
fn tls_from_env_reads_the_cert_path() {
    let certs = tempfile::tempdir().unwrap();
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        fs::write(certs.path().join(f), "x").unwrap();
    }
    let env = Env {
        docker_host: Some("tcp://10.5.5.5".into()),
        docker_tls_verify: true,
        docker_cert_path: Some(certs.path().to_path_buf()),
        ..Env::default()
    };
    let e = resolve(&Sources { env: env.clone(), ..Sources::default() }).unwrap();
    assert_eq!(e.host, "tcp://10.5.5.5:2376");
    assert_eq!(e.tls.unwrap().ca, certs.path().join("ca.pem"));
    // An option wins over the cert path, file by file.
    let other_ca = certs.path().join("other-ca.pem");
    fs::write(&other_ca, "x").unwrap();
    let e = resolve(&Sources { tls_ca: Some(other_ca.clone()), env, ..Sources::default() }).unwrap();
    let tls = e.tls.unwrap();
    assert_eq!((tls.ca, tls.key), (other_ca, certs.path().join("key.pem")));
}

#[test]
fn a_tls_option_alone_turns_tls_on_and_missing_files_are_named() {
    let certs = tempfile::tempdir().unwrap();
    let ca = certs.path().join("ca.pem");
    fs::write(&ca, "x").unwrap();
    let sources = Sources {
        host: Some("tcp://10.6.6.6:2376".into()),
        tls_ca: Some(ca),
        env: Env { docker_cert_path: Some(certs.path().to_path_buf()), ..Env::default() },
        ..Sources::default()
    };
    let err = resolve(&sources).unwrap_err();
    assert_eq!(
        err,
        EndpointError::MissingTlsFile {
            which: "cert",
            path: certs.path().join("cert.pem"),
            from: "DOCKER_CERT_PATH".into()
        }
    );
    assert!(err.to_string().contains("cert.pem"), "{err}");
}

#[test]
fn hosts_are_normalized_or_refused() {
    assert_eq!(normalize_host("tcp://h", false).unwrap(), "tcp://h:2375");
    assert_eq!(normalize_host("tcp://h:1234/", true).unwrap(), "tcp://h:1234");
    assert_eq!(normalize_host("tcp://[::1]", true).unwrap(), "tcp://[::1]:2376");
    assert_eq!(normalize_host("tcp://[::1]:99", true).unwrap(), "tcp://[::1]:99");
    assert_eq!(normalize_host("unix:///x.sock", false).unwrap(), "unix:///x.sock");
    assert_eq!(normalize_host("ssh://me@box:2222", false).unwrap(), "ssh://me@box:2222");
    assert_eq!(normalize_host("ssh://box/", false).unwrap(), "ssh://box");
    assert!(matches!(normalize_host("ssh://box/var/run", false), Err(EndpointError::BadHost { .. })));
    assert!(matches!(normalize_host("ssh://me@box", true), Err(EndpointError::BadHost { .. })));
    assert!(normalize_host("ftp://h", false).is_err());
    assert!(normalize_host("tcp://h/x", false).is_err());
}

#[test]
fn tls_from_the_environment_does_not_apply_to_ssh_but_a_tls_option_is_refused() {
    let env = Env { docker_host: Some("ssh://me@box:2222".into()), docker_tls_verify: true, ..Env::default() };
    let e = resolve(&Sources { env: env.clone(), ..Sources::default() }).unwrap();
    assert_eq!((e.host.as_str(), e.tls), ("ssh://me@box:2222", None));
    let ca = tempfile::NamedTempFile::new().unwrap();
    let dir = ca.path().parent().unwrap().to_path_buf();
    let with_option = Sources {
        tls_ca: Some(ca.path().to_path_buf()),
        tls_cert: Some(ca.path().to_path_buf()),
        tls_key: Some(ca.path().to_path_buf()),
        env: Env { docker_cert_path: Some(dir), ..env },
        ..Sources::default()
    };
    assert!(matches!(resolve(&with_option), Err(EndpointError::BadHost { .. })));
}

#[test]
fn an_https_host_is_spoken_to_only_with_tls() {
    assert!(normalize_host("https://10.0.0.5:2376", false).is_err());
    assert_eq!(normalize_host("https://10.0.0.5:2376", true).unwrap(), "tcp://10.0.0.5:2376");
    assert_eq!(normalize_host("https://10.0.0.5", true).unwrap(), "tcp://10.0.0.5:2376");
}
