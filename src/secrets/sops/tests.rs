//! The decoder against files the real sops 3.11 encrypted (tests/fixtures/sops, made with the
//! TEST-ONLY key there), and `sops -d`'s output for them recorded beside them. No sops binary is
//! needed here: tests/sops.rs runs the real one.

use super::*;
use age::secrecy::ExposeSecret;

const RECIPIENT: &str = "age1w5xnh4x66kgrphg58822m3z9yv008fd062w6f5vhhskq82ekupnqrcvgw6";
const OTHER_RECIPIENT: &str = "age1kyf0qj8nmcjuz8n4shwz6hmyspkyq6h3d3j6tq42rcgd87feyv3srnsa3a";

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sops").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture_text(name: &str) -> String {
    String::from_utf8(fixture(name)).unwrap()
}

fn ids() -> Identities {
    Identities::parse(&fixture_text("test-only.agekey"), "test-only.agekey").unwrap()
}

fn map(data: Data) -> BTreeMap<String, String> {
    match data {
        Data::Map(m) => m.into_iter().map(|(k, v)| (k, v.expose().clone())).collect(),
        Data::Bytes(_) => panic!("expected a map"),
    }
}

fn expected(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The values of secrets.yaml/.json as they were written (sops' types: int, float, bool).
fn structured_values() -> BTreeMap<String, String> {
    expected(&[
        ("db_password", "hunter2"),
        ("greeting", "héllo wörld ✓ 日本"),
        ("multiline", "line one\nline two\n"),
        ("with_equals", "a=b=c"),
        ("with_colon", "host:5432:db"),
        ("empty", ""),
        ("port", "8080"),
        ("ratio", "0.25"),
        ("enabled", "true"),
        ("disabled", "false"),
        ("note_unencrypted", "visible in git"),
    ])
}

#[test]
fn yaml_decrypts_to_what_sops_decrypts() {
    let got = map(decrypt(DataFormat::Yaml, &fixture("secrets.sops.yaml"), &ids()).unwrap());
    assert_eq!(got, structured_values());
    let sops_d = map(read_plain(DataFormat::Yaml, &fixture("secrets.decrypted.yaml")).unwrap());
    assert_eq!(got, sops_d);
}

#[test]
fn json_decrypts_to_what_sops_decrypts() {
    let got = map(decrypt(DataFormat::Json, &fixture("secrets.sops.json"), &ids()).unwrap());
    assert_eq!(got, structured_values());
    let sops_d = map(read_plain(DataFormat::Json, &fixture("secrets.decrypted.json")).unwrap());
    assert_eq!(got, sops_d);
}

#[test]
fn dotenv_decrypts_to_what_sops_decrypts() {
    let got = map(decrypt(DataFormat::Dotenv, &fixture("secrets.sops.env"), &ids()).unwrap());
    assert_eq!(
        got,
        expected(&[
            ("DB_PASSWORD", "hunter2"),
            ("GREETING", "héllo wörld ✓ 日本"),
            ("MULTILINE", "line one\nline two"),
            ("WITH_EQUALS", "a=b=c"),
            ("WITH_COLON", "host:5432:db"),
            ("EMPTY", ""),
            ("PORT", "8080"),
            ("NOTE_unencrypted", "visible in git"),
        ])
    );
    // `sops -d` writes newlines as `\n` (its dotenv rules, not compose's): read it by those.
    let (items, meta) = dotenv::parse_sops(&fixture("secrets.decrypted.env")).unwrap();
    assert!(meta.is_empty());
    let sops_d: BTreeMap<String, String> = items
        .into_iter()
        .map(|(k, v)| match v {
            Node::Str(s) => (k, s),
            _ => panic!("dotenv values are strings"),
        })
        .collect();
    assert_eq!(got, sops_d);
}

#[test]
fn binary_decrypts_to_the_same_bytes() {
    let Data::Bytes(got) = decrypt(DataFormat::Binary, &fixture("secret.sops.bin"), &ids()).unwrap() else {
        panic!("expected bytes")
    };
    assert_eq!(got.expose(), &fixture("secret.decrypted.bin"));
    assert!(got.expose().contains(&0xff), "the fixture holds bytes that are not UTF-8");
}

#[test]
fn encrypted_regex_and_unencrypted_scalars_hash_as_sops_does() {
    // Only `password`/`token` (at any depth) are encrypted; the MAC covers the ints, floats,
    // booleans and lists left in clear, so a wrong `ToBytes` would fail the MAC here.
    let bytes = fixture("rules.sops.yaml");
    let err = decrypt(DataFormat::Yaml, &bytes, &ids()).unwrap_err();
    assert!(matches!(&err, SopsError::NotScalar { key } if key == "nested"), "{err:?}");

    let mut items = tree::parse_yaml(&bytes).unwrap();
    let at = items.iter().position(is_metadata).unwrap();
    let meta = metadata::Metadata::from_json(&tree::to_json(&items.remove(at).1)).unwrap();
    let key = cipher::DataKey::recover(&meta.age, &ids()).unwrap();
    let tops = walk::decrypt_items(&items, &meta, &key).unwrap();
    let scalars: BTreeMap<String, String> = tops
        .into_iter()
        .filter_map(|(k, top)| match top {
            Top::Scalar(p) => Some((k, p.into_text().unwrap())),
            Top::Null => Some((k, "(null)".to_string())),
            Top::Nested => None,
        })
        .collect();
    assert_eq!(
        scalars,
        expected(&[
            ("password", "hunter2"),
            ("token", "12345"),
            ("port", "9090"),
            ("ratio", "1.5"),
            ("big", "1000"),
            ("enabled", "true"),
            ("nothing", "(null)"),
            ("name", "plain text"),
        ])
    );
}

#[test]
fn mac_only_encrypted_files_decrypt() {
    let got = map(decrypt(DataFormat::Json, &fixture("maconly.sops.json"), &ids()).unwrap());
    assert_eq!(
        got,
        expected(&[
            ("password", "hunter2"),
            ("port_unencrypted", "8080"),
            ("ratio_unencrypted", "0.5"),
            ("on_unencrypted", "false"),
            ("note_unencrypted", "clear"),
        ])
    );
    // With mac_only_encrypted, a value left in clear is outside the MAC: changing it is allowed
    // (that is what the setting is for); an encrypted one still is not.
    let text = fixture_text("maconly.sops.json").replace("\"clear\"", "\"changed\"");
    assert_eq!(map(decrypt(DataFormat::Json, text.as_bytes(), &ids()).unwrap())["note_unencrypted"], "changed");
}

fn other_ids() -> Identities {
    Identities::parse(age::x25519::Identity::generate().to_string().expose_secret(), "other").unwrap()
}

#[test]
fn a_key_the_file_is_not_for_is_a_typed_no_match() {
    for (format, name) in [
        (DataFormat::Yaml, "secrets.sops.yaml"),
        (DataFormat::Json, "secrets.sops.json"),
        (DataFormat::Dotenv, "secrets.sops.env"),
        (DataFormat::Binary, "secret.sops.bin"),
    ] {
        let other = other_ids();
        let err = decrypt(format, &fixture(name), &other).unwrap_err();
        let SopsError::NoMatchingKey { file_recipients, host_recipients } = &err else { panic!("{name}: {err:?}") };
        assert_eq!(file_recipients, &[RECIPIENT.to_string()], "{name}");
        assert_eq!(host_recipients, &other.recipients(), "{name}");
        let shown = err.to_string();
        assert!(shown.contains(RECIPIENT) && shown.contains(&other.recipients()[0]), "{shown}");
    }
    // A file encrypted for someone else only, our key offered.
    let err = decrypt(DataFormat::Yaml, &fixture("other-recipient.sops.yaml"), &ids()).unwrap_err();
    assert!(
        matches!(&err, SopsError::NoMatchingKey { file_recipients, .. } if file_recipients == &[OTHER_RECIPIENT.to_string()]),
        "{err:?}"
    );
}

/// `text` with the first base64 character of `data:` in the line starting with `line_start`
/// swapped for another (still valid base64, so only the authentication can catch it).
fn tamper_data(text: &str, line_start: &str) -> String {
    let line = text.lines().find(|l| l.trim_start().starts_with(line_start)).expect("the line");
    let at = line.find("data:").unwrap() + "data:".len();
    let mut changed = line.to_string();
    let old = changed.as_bytes()[at];
    changed.replace_range(at..at + 1, if old == b'A' { "B" } else { "A" });
    text.replacen(line, &changed, 1)
}

#[test]
fn a_tampered_value_does_not_authenticate() {
    let cases = [
        (DataFormat::Yaml, "secrets.sops.yaml", "db_password:", "db_password"),
        (DataFormat::Json, "secrets.sops.json", "\"greeting\":", "greeting"),
        (DataFormat::Dotenv, "secrets.sops.env", "DB_PASSWORD=", "DB_PASSWORD"),
        (DataFormat::Binary, "secret.sops.bin", "\"data\":", "data"),
    ];
    for (format, name, line, key) in cases {
        let text = tamper_data(&fixture_text(name), line);
        assert_ne!(text, fixture_text(name));
        let err = decrypt(format, text.as_bytes(), &ids()).unwrap_err();
        assert!(matches!(&err, SopsError::MacMismatch { key: Some(k) } if k == key), "{name}: {err:?}");
        assert!(err.to_string().contains("changed after it was encrypted"), "{err}");
    }
}

#[test]
fn a_value_moved_to_another_key_does_not_authenticate() {
    // The path is the additional data: the ciphertext of `with_colon` under `with_equals` fails.
    let text = fixture_text("secrets.sops.yaml");
    let value_of =
        |key: &str| text.lines().find(|l| l.starts_with(key)).unwrap().split_once(": ").unwrap().1.to_string();
    let swapped = text.replacen(&value_of("with_equals:"), &value_of("with_colon:"), 1);
    let err = decrypt(DataFormat::Yaml, swapped.as_bytes(), &ids()).unwrap_err();
    assert!(matches!(&err, SopsError::MacMismatch { key: Some(k) } if k == "with_equals"), "{err:?}");
}

#[test]
fn a_tampered_mac_lastmodified_or_clear_value_is_a_mac_mismatch() {
    let yaml = fixture_text("secrets.sops.yaml");
    let cases = [
        ("mac", tamper_data(&yaml, "mac:")),
        (
            "lastmodified",
            yaml.replace("lastmodified: \"2026-11-29T23:46:14Z\"", "lastmodified: \"2026-11-29T23:46:15Z\""),
        ),
        ("clear value", yaml.replace("note_unencrypted: visible in git", "note_unencrypted: changed")),
        ("removed key", yaml.lines().filter(|l| !l.starts_with("with_colon:")).collect::<Vec<_>>().join("\n")),
        ("no mac", yaml.lines().filter(|l| !l.trim_start().starts_with("mac:")).collect::<Vec<_>>().join("\n")),
    ];
    for (what, text) in cases {
        assert_ne!(text, yaml, "{what}");
        let err = decrypt(DataFormat::Yaml, text.as_bytes(), &ids()).unwrap_err();
        assert!(matches!(err, SopsError::MacMismatch { key: None }), "{what}: {err:?}");
    }
    let env = fixture_text("secrets.sops.env")
        .replace("sops_lastmodified=2026-11-29T23:46:14Z", "sops_lastmodified=2026-11-29T23:46:13Z");
    let err = decrypt(DataFormat::Dotenv, env.as_bytes(), &ids()).unwrap_err();
    assert!(matches!(err, SopsError::MacMismatch { key: None }), "{err:?}");
}

#[test]
fn keys_are_listed_without_a_key() {
    let structured = [
        "db_password",
        "greeting",
        "multiline",
        "with_equals",
        "with_colon",
        "empty",
        "port",
        "ratio",
        "enabled",
        "disabled",
        "note_unencrypted",
    ];
    assert_eq!(keys(DataFormat::Yaml, &fixture("secrets.sops.yaml")).unwrap(), structured);
    assert_eq!(keys(DataFormat::Json, &fixture("secrets.sops.json")).unwrap(), structured);
    assert_eq!(
        keys(DataFormat::Dotenv, &fixture("secrets.sops.env")).unwrap(),
        ["DB_PASSWORD", "GREETING", "MULTILINE", "WITH_EQUALS", "WITH_COLON", "EMPTY", "PORT", "NOTE_unencrypted"]
    );
    assert!(keys(DataFormat::Binary, &fixture("secret.sops.bin")).unwrap().is_empty());
    assert_eq!(keys(DataFormat::Yaml, &fixture("nested.sops.yaml")).unwrap(), ["top", "db"]);
    // Plain files too; a key given twice once.
    assert_eq!(keys(DataFormat::Dotenv, b"export A=1\nB=2\nA=3\n").unwrap(), ["A", "B"]);
    assert_eq!(keys(DataFormat::Yaml, b"b: 1\na: 2\n").unwrap(), ["b", "a"]);
}

#[test]
fn a_nested_value_is_a_typed_error_naming_the_key() {
    let err = decrypt(DataFormat::Yaml, &fixture("nested.sops.yaml"), &ids()).unwrap_err();
    assert!(matches!(&err, SopsError::NotScalar { key } if key == "db"), "{err:?}");
    assert!(err.to_string().contains("`db`"), "{err}");
    let err = read_plain(DataFormat::Yaml, &fixture("nested.decrypted.yaml")).unwrap_err();
    assert!(matches!(&err, SopsError::NotScalar { key } if key == "db"), "{err:?}");
    let err = read_plain(DataFormat::Json, br#"{"a": "x", "b": [1]}"#).unwrap_err();
    assert!(matches!(&err, SopsError::NotScalar { key } if key == "b"), "{err:?}");
}

#[test]
fn debug_and_errors_show_no_value() {
    let data = decrypt(DataFormat::Yaml, &fixture("secrets.sops.yaml"), &ids()).unwrap();
    let shown = format!("{data:?}");
    assert!(shown.contains("db_password") && shown.contains("***"), "{shown}");
    for value in ["hunter2", "héllo", "line one", "a=b=c", "8080", "visible in git"] {
        assert!(!shown.contains(value), "{value} in {shown}");
    }
    let Data::Bytes(bytes) = decrypt(DataFormat::Binary, &fixture("secret.sops.bin"), &ids()).unwrap() else {
        panic!()
    };
    assert_eq!(format!("{:?}", Data::Bytes(bytes)), "Bytes(***)");

    // An encrypted value where sops' form is expected, a malformed plain file: the errors name
    // the place only.
    let yaml = fixture_text("secrets.sops.yaml");
    let line = yaml.lines().find(|l| l.starts_with("db_password:")).unwrap();
    let broken = yaml.replace(line, "db_password: hunter2");
    let err = decrypt(DataFormat::Yaml, broken.as_bytes(), &ids()).unwrap_err();
    assert!(matches!(&err, SopsError::Malformed { at, .. } if at == "key `db_password`"), "{err:?}");
    let not_sops_form = line.replace("AES256_GCM", "AES128_GCM");
    let err_enc = decrypt(DataFormat::Yaml, yaml.replace(line, &not_sops_form).as_bytes(), &ids());
    let err_enc = err_enc.map(drop).unwrap_err();
    assert!(matches!(&err_enc, SopsError::Malformed { at, .. } if at == "key `db_password`"), "{err_enc:?}");
    for err in [err, err_enc] {
        let shown = format!("{err} {err:?}");
        let data = line.split("data:").nth(1).unwrap().split(',').next().unwrap();
        assert!(!shown.contains("hunter2") && !shown.contains(data), "{shown}");
    }
}

#[test]
fn pgp_only_and_plain_files_are_told_apart() {
    // The age entry replaced by a pgp one: moor cannot use it and says why.
    let yaml = fixture_text("secrets.sops.yaml");
    let start = yaml.find("    age:\n").unwrap();
    let end = yaml.find("    lastmodified:").unwrap();
    let pgp = "    pgp:\n        - created_at: \"2026-01-01T00:00:00Z\"\n          enc: x\n          fp: ABCDEF\n";
    let pgp_only = format!("{}{pgp}{}", &yaml[..start], &yaml[end..]);
    let err = decrypt(DataFormat::Yaml, pgp_only.as_bytes(), &ids()).unwrap_err();
    assert!(matches!(&err, SopsError::Unsupported { feature } if feature.contains("only for pgp")), "{err:?}");

    assert!(matches!(
        decrypt(DataFormat::Yaml, &fixture("secrets.decrypted.yaml"), &ids()),
        Err(SopsError::NotEncrypted)
    ));
    assert!(matches!(
        decrypt(DataFormat::Dotenv, &fixture("secrets.decrypted.env"), &ids()),
        Err(SopsError::NotEncrypted)
    ));
    assert!(matches!(read_plain(DataFormat::Yaml, &fixture("secrets.sops.yaml")), Err(SopsError::Encrypted)));
    assert!(matches!(read_plain(DataFormat::Binary, &fixture("secret.sops.bin")), Err(SopsError::Encrypted)));
}

#[test]
fn is_encrypted_by_format() {
    for (format, encrypted, plain) in [
        (DataFormat::Yaml, "secrets.sops.yaml", "secrets.decrypted.yaml"),
        (DataFormat::Json, "secrets.sops.json", "secrets.decrypted.json"),
        (DataFormat::Dotenv, "secrets.sops.env", "secrets.decrypted.env"),
        (DataFormat::Binary, "secret.sops.bin", "secret.decrypted.bin"),
    ] {
        assert!(is_encrypted(format, &fixture(encrypted)), "{encrypted}");
        assert!(!is_encrypted(format, &fixture(plain)), "{plain}");
    }
    // A top-level `sops` that is not a mapping is an ordinary key.
    assert!(!is_encrypted(DataFormat::Yaml, b"sops: yes\n"));
    assert_eq!(keys(DataFormat::Yaml, b"sops: yes\n").unwrap(), ["sops"]);
    // A JSON file with `sops` but no `data` is not sops' binary form.
    assert!(!is_encrypted(DataFormat::Binary, &fixture("secrets.sops.json")));
}

#[test]
fn plain_files_read_with_the_same_scalar_rules() {
    let yaml = b"s: text\ni: 8080\nf: 0.25\nb: true\nnull_value:\nquoted: \"8080\"\n";
    assert_eq!(
        map(read_plain(DataFormat::Yaml, yaml).unwrap()),
        expected(&[("s", "text"), ("i", "8080"), ("f", "0.25"), ("b", "true"), ("null_value", ""), ("quoted", "8080")])
    );
    let json = br#"{"i": 8080, "f": 1e3, "b": false, "n": null}"#;
    assert_eq!(
        map(read_plain(DataFormat::Json, json).unwrap()),
        expected(&[("i", "8080"), ("f", "1000"), ("b", "false"), ("n", "")])
    );
    let env = b"export A=\"x y\"\nB=2\n";
    assert_eq!(map(read_plain(DataFormat::Dotenv, env).unwrap()), expected(&[("A", "x y"), ("B", "2")]));
    let Data::Bytes(bytes) = read_plain(DataFormat::Binary, b"\x00\xffraw").unwrap() else { panic!() };
    assert_eq!(bytes.expose(), b"\x00\xffraw");
    assert!(matches!(read_plain(DataFormat::Yaml, b"a: !vault x\n"), Err(SopsError::Unsupported { .. })));
}
