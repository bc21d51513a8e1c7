//! moor's SOPS decoder against the real tools: each test makes fresh age keys with `age-keygen`
//! in a temporary folder, encrypts files of random values with the real `sops` (3.11), decrypts
//! them with the library and compares with `sops -d`. Needs `sops` and `age-keygen` on PATH
//! (`bash .ci/run` installs them); fails saying so when they are missing.

use moor::manifest::refs::DataFormat;
use moor::secrets::age_key::Identities;
use moor::secrets::sops::{self, Data, SopsError};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// The program `name` from PATH, or a failure that says what to install.
fn tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file());
    found.unwrap_or_else(|| {
        panic!("tests/sops.rs needs `{name}` on PATH (sops 3.11 and age-keygen; `bash .ci/run` installs them)")
    })
}

/// A temporary folder (removed on drop, even when a test fails) with its own age key.
struct Workdir {
    dir: tempfile::TempDir,
}

struct Key {
    file: PathBuf,
    recipient: String,
}

impl Workdir {
    fn new() -> Workdir {
        Workdir { dir: tempfile::Builder::new().prefix("moor-sops-").tempdir().unwrap() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A fresh key from `age-keygen`; its recipient read from the file's `# public key:` line.
    fn keygen(&self, name: &str) -> Key {
        let file = self.path(&format!("{name}.agekey"));
        let out = Command::new(tool("age-keygen")).arg("-o").arg(&file).output().unwrap();
        assert!(out.status.success(), "age-keygen: {}", String::from_utf8_lossy(&out.stderr));
        let text = std::fs::read_to_string(&file).unwrap();
        let recipient = text
            .lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .expect("age-keygen writes the public key in a comment")
            .to_string();
        Key { file, recipient }
    }

    /// `sops` run in this folder, seeing only the keys given (no user keys.txt, no ambient
    /// SOPS_* variables).
    fn sops(&self, key: Option<&Key>) -> Command {
        let mut cmd = Command::new(tool("sops"));
        cmd.current_dir(self.dir.path())
            .env_remove("SOPS_AGE_KEY")
            .env_remove("SOPS_AGE_KEY_CMD")
            .env_remove("SOPS_AGE_KEY_FILE")
            .env_remove("SOPS_AGE_RECIPIENTS")
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"));
        if let Some(key) = key {
            cmd.env("SOPS_AGE_KEY_FILE", &key.file);
        }
        cmd
    }

    /// Writes `plain` to `name` and returns what `sops encrypt --age r1,r2..` makes of it.
    fn encrypt(&self, name: &str, plain: &[u8], recipients: &[&Key]) -> Vec<u8> {
        std::fs::write(self.path(name), plain).unwrap();
        let list: Vec<&str> = recipients.iter().map(|k| k.recipient.as_str()).collect();
        let out = self.sops(None).args(["encrypt", "--age", &list.join(",")]).arg(name).output().unwrap();
        assert!(out.status.success(), "sops encrypt {name}: {}", String::from_utf8_lossy(&out.stderr));
        std::fs::write(self.path(name), &out.stdout).unwrap();
        out.stdout
    }

    /// `sops decrypt` of the file `name`.
    fn sops_decrypt(&self, name: &str, key: &Key) -> Vec<u8> {
        let out = self.sops(Some(key)).arg("decrypt").arg(name).output().unwrap();
        assert!(out.status.success(), "sops decrypt {name}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    /// `sops set FILE '["key"]' '"value"'`: re-encrypts the file with one value changed.
    fn sops_set(&self, name: &str, key_name: &str, value: &str, key: &Key) {
        let path = serde_json::to_string(&[key_name]).unwrap();
        let value = serde_json::to_string(value).unwrap();
        let out = self.sops(Some(key)).arg("set").arg(name).arg(path).arg(value).output().unwrap();
        assert!(out.status.success(), "sops set {name}: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }
}

fn identities(key: &Key) -> Identities {
    Identities::parse(&std::fs::read_to_string(&key.file).unwrap(), "test key").unwrap()
}

/// Random text with what trips parsers: `=`, `:`, `#`, quotes, spaces, unicode; newlines unless
/// `one_line`. Never a backslash (sops' dotenv form reads `\n` as a newline, so a value holding
/// a literal backslash-n cannot round-trip there: a limit of sops' format, not of moor).
fn random_text(one_line: bool) -> String {
    const CHARS: &[char] =
        &['a', 'Z', '0', '9', '=', ':', '#', '\'', '"', ' ', '-', '_', '/', '+', 'é', '✓', '日', '$'];
    let len = fastrand::usize(1..40);
    let mut s: String = (0..len)
        .map(|_| if !one_line && fastrand::u8(..10) == 0 { '\n' } else { CHARS[fastrand::usize(..CHARS.len())] })
        .collect();
    // Never empty, never all spaces: those are tested on the committed fixtures.
    s.push('x');
    s
}

fn map(data: Data) -> BTreeMap<String, String> {
    match data {
        Data::Map(m) => m.into_iter().map(|(k, v)| (k, v.expose().clone())).collect(),
        Data::Bytes(_) => panic!("expected a map"),
    }
}

/// `sops -d`'s dotenv output read by sops' own dotenv rules (`KEY=value`, `\n` for newlines).
fn sops_dotenv(text: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8(text.to_vec())
        .unwrap()
        .split('\n')
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_string(), v.replace("\\n", "\n"))
        })
        .collect()
}

fn random_values() -> BTreeMap<String, String> {
    (0..6).map(|i| (format!("KEY_{i}"), random_text(false))).collect()
}

#[test]
fn yaml_and_json_decrypt_as_sops_does() {
    let w = Workdir::new();
    let key = w.keygen("host");
    let ids = identities(&key);
    for (format, name) in [(DataFormat::Yaml, "secrets.yaml"), (DataFormat::Json, "secrets.json")] {
        let mut values = random_values();
        let port = fastrand::u16(1..);
        let plain = match format {
            DataFormat::Yaml => {
                let mut text = serde_yaml::to_string(&values).unwrap();
                text.push_str(&format!("port: {port}\nenabled: true\n"));
                text
            }
            _ => {
                let mut json = serde_json::to_value(&values).unwrap();
                json["port"] = port.into();
                json["enabled"] = true.into();
                json.to_string()
            }
        };
        values.insert("port".to_string(), port.to_string());
        values.insert("enabled".to_string(), "true".to_string());

        let encrypted = w.encrypt(name, plain.as_bytes(), &[&key]);
        assert!(sops::is_encrypted(format, &encrypted), "{name}");
        let got = map(sops::decrypt(format, &encrypted, &ids).unwrap());
        assert_eq!(got, values, "{name}: the values written");
        let sops_d = map(sops::read_plain(format, &w.sops_decrypt(name, &key)).unwrap());
        assert_eq!(got, sops_d, "{name}: sops -d");
        let mut names = sops::keys(format, &encrypted).unwrap();
        names.sort();
        assert_eq!(names, values.keys().cloned().collect::<Vec<_>>(), "{name}: keys without decrypting");

        // Re-encrypted by sops with one value changed: the new value, the MAC still checks.
        let new_value = random_text(false);
        w.sops_set(name, "KEY_0", &new_value, &key);
        let got = map(sops::decrypt(format, &w.read(name), &ids).unwrap());
        assert_eq!(got["KEY_0"], new_value, "{name}: after sops set");
        assert_eq!(got["KEY_1"], values["KEY_1"], "{name}: the others unchanged");
    }
}

#[test]
fn dotenv_decrypts_as_sops_does() {
    let w = Workdir::new();
    let key = w.keygen("host");
    let ids = identities(&key);
    let values = random_values();
    // sops' dotenv input: a newline is written `\n`.
    let plain: String = values.iter().map(|(k, v)| format!("{k}={}\n", v.replace('\n', "\\n"))).collect();
    let encrypted = w.encrypt("app.env", format!("# comment\n{plain}").as_bytes(), &[&key]);
    assert!(sops::is_encrypted(DataFormat::Dotenv, &encrypted));

    let got = map(sops::decrypt(DataFormat::Dotenv, &encrypted, &ids).unwrap());
    assert_eq!(got, values);
    assert_eq!(got, sops_dotenv(&w.sops_decrypt("app.env", &key)));
    assert_eq!(sops::keys(DataFormat::Dotenv, &encrypted).unwrap(), values.keys().cloned().collect::<Vec<_>>());

    let new_value = random_text(true);
    w.sops_set("app.env", "KEY_3", &new_value, &key);
    let got = map(sops::decrypt(DataFormat::Dotenv, &w.read("app.env"), &ids).unwrap());
    assert_eq!(got["KEY_3"], new_value);
    assert_eq!(got["KEY_4"], values["KEY_4"]);
}

#[test]
fn binary_decrypts_as_sops_does() {
    let w = Workdir::new();
    let key = w.keygen("host");
    let ids = identities(&key);
    for round in 0..2 {
        // Any bytes, UTF-8 or not; encrypted again with new content the second time.
        let content: Vec<u8> = (0..fastrand::usize(1..2000)).map(|_| fastrand::u8(..)).collect();
        let encrypted = w.encrypt("tls.key", &content, &[&key]);
        assert!(sops::is_encrypted(DataFormat::Binary, &encrypted));
        let Data::Bytes(got) = sops::decrypt(DataFormat::Binary, &encrypted, &ids).unwrap() else {
            panic!("expected bytes")
        };
        assert_eq!(got.expose(), &content, "round {round}");
        assert_eq!(got.expose(), &w.sops_decrypt("tls.key", &key), "round {round}: sops -d");
    }
}

#[test]
fn a_file_for_another_recipient_is_a_no_match() {
    let w = Workdir::new();
    let ours = w.keygen("host");
    let theirs = w.keygen("other");
    let encrypted = w.encrypt("secrets.yaml", b"password: x\n", &[&theirs]);
    let err = sops::decrypt(DataFormat::Yaml, &encrypted, &identities(&ours)).unwrap_err();
    match &err {
        SopsError::NoMatchingKey { file_recipients, host_recipients } => {
            assert_eq!(file_recipients, &[theirs.recipient.as_str()]);
            assert_eq!(host_recipients, &[ours.recipient.as_str()]);
        }
        other => panic!("expected NoMatchingKey, got {other:?}"),
    }
    // The file still lists its keys for `moor validate`.
    assert_eq!(sops::keys(DataFormat::Yaml, &encrypted).unwrap(), ["password"]);
}

#[test]
fn two_recipients_ours_second_decrypt() {
    let w = Workdir::new();
    let ours = w.keygen("host");
    let theirs = w.keygen("other");
    let value = random_text(false);
    let plain = serde_yaml::to_string(&BTreeMap::from([("token", value.as_str())])).unwrap();
    let encrypted = w.encrypt("secrets.yaml", plain.as_bytes(), &[&theirs, &ours]);
    let got = map(sops::decrypt(DataFormat::Yaml, &encrypted, &identities(&ours)).unwrap());
    assert_eq!(got["token"], value);
    // Both recipients are in the file, ours second, as a third key's error shows.
    let third = w.keygen("third");
    let Err(SopsError::NoMatchingKey { file_recipients, .. }) =
        sops::decrypt(DataFormat::Yaml, &encrypted, &identities(&third))
    else {
        panic!("a third key cannot decrypt")
    };
    assert_eq!(file_recipients, [theirs.recipient.clone(), ours.recipient.clone()]);
}

#[test]
fn the_host_key_is_found_where_sops_finds_it() {
    let w = Workdir::new();
    let key = w.keygen("host");
    let encrypted = w.encrypt("secrets.yaml", b"password: x\n", &[&key]);
    // SOPS_AGE_KEY_FILE, as sops -d uses it in these tests.
    let file = key.file.display().to_string();
    let ids = Identities::from_lookup(|name| (name == "SOPS_AGE_KEY_FILE").then(|| file.clone())).unwrap().unwrap();
    assert_eq!(ids.recipients(), [key.recipient.as_str()]);
    assert_eq!(map(sops::decrypt(DataFormat::Yaml, &encrypted, &ids).unwrap())["password"], "x");
    // The user's keys.txt under XDG_CONFIG_HOME.
    let config = w.path("config");
    std::fs::create_dir_all(config.join("sops/age")).unwrap();
    std::fs::copy(&key.file, config.join("sops/age/keys.txt")).unwrap();
    let config = config.display().to_string();
    let ids = Identities::from_lookup(|name| (name == "XDG_CONFIG_HOME").then(|| config.clone())).unwrap().unwrap();
    assert_eq!(ids.recipients(), [key.recipient.as_str()]);
}
