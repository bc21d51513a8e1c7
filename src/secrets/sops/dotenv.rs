//! Env files: two sets of rules, because the two kinds of file come from two tools.
//!
//! - A SOPS-encrypted env file follows sops' dotenv store (`stores/dotenv/store.go`) exactly, so
//!   that the MAC is computed over the same values: lines split on `\n`; empty lines skipped; a
//!   line starting with `#` is a comment; otherwise the key is everything before the first `=`
//!   (untrimmed, no `export`), the value everything after it with each `\n` (backslash, n) turned
//!   into a newline; no quoting. `sops_*` keys are the metadata (`sops_age__list_0__map_enc`).
//! - A plain env file follows the basic rules of compose's `env_file`, what users write by hand:
//!   blank lines and `#` lines skipped; an optional `export ` before the key; `KEY=value` with
//!   spaces around the key and before the value trimmed; a value in double quotes may span lines
//!   and knows the escapes `\n`, `\r`, `\t`, `\"`, `\\`, `\$` (any other backslash stays); a value
//!   in single quotes may span lines and is taken literally; an unquoted value ends at a `#`
//!   that follows a space or tab (an inline comment; `A=#fff` keeps its `#`, as compose does)
//!   and loses its trailing spaces; text after a closing
//!   quote may only be a comment. No interpolation: `$VAR` stays as written. A line without `=`
//!   (compose: take the value from the shell) is an error, moor has no shell to take it from. A
//!   key given twice keeps the later value, as in compose.
//!
//! Invariant: errors name a line number, never the line.

use super::tree::{Items, Node};
use super::SopsError;

fn malformed(line: usize, reason: &str) -> SopsError {
    SopsError::Malformed { at: format!("line {line}"), reason: reason.to_string() }
}

fn utf8(bytes: &[u8]) -> Result<&str, SopsError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count() + 1;
        malformed(line, "not UTF-8 text")
    })
}

/// The metadata marker lines of sops' dotenv form.
pub(super) fn is_encrypted(bytes: &[u8]) -> bool {
    bytes.split(|b| *b == b'\n').any(|line| line.starts_with(b"sops_version=") || line.starts_with(b"sops_mac="))
}

/// sops' dotenv form: the values (in order, as strings) and the metadata lines (key without
/// `sops_`, value).
pub(super) fn parse_sops(bytes: &[u8]) -> Result<(Items, Vec<(String, String)>), SopsError> {
    let text = utf8(bytes)?;
    let mut items = Vec::new();
    let mut metadata = Vec::new();
    for (index, line) in text.split('\n').enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once('=').ok_or_else(|| malformed(index + 1, "no `=` (KEY=value)"))?;
        let value = value.replace("\\n", "\n");
        match key.strip_prefix("sops_") {
            Some(meta) => metadata.push((meta.to_string(), value)),
            None => items.push((key.to_string(), Node::Str(value))),
        }
    }
    Ok((items, metadata))
}

/// A plain env file by compose's basic rules (see the module doc): keys and values in order.
pub(super) fn parse_plain(bytes: &[u8]) -> Result<Vec<(String, String)>, SopsError> {
    let text = utf8(bytes)?;
    let lines: Vec<&str> = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let mut out = Vec::new();
    let mut next = 0;
    while next < lines.len() {
        let number = next + 1;
        let line = lines[next].trim_start();
        next += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = match line.strip_prefix("export") {
            Some(rest) if rest.starts_with([' ', '\t']) => rest.trim_start(),
            _ => line,
        };
        let (key, rest) = line.split_once('=').ok_or_else(|| malformed(number, "no `=` (KEY=value)"))?;
        let key = key.trim();
        if key.is_empty() {
            return Err(malformed(number, "no variable name before `=`"));
        }
        if key.contains(char::is_whitespace) {
            return Err(malformed(number, "a variable name with a space in it"));
        }
        // compose's names: letters, digits, `_`, `.` and `-`. Anything else (a `KEY:value` line
        // split at a `=` inside its value) would turn part of a value into a name, which plans
        // and labels show.
        if !key.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
            return Err(malformed(number, "a variable name may hold only letters, digits, `_`, `.` and `-`"));
        }
        let rest = rest.trim_start();
        let value = match rest.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                let (value, after, last) = quoted(&lines, next - 1, &rest[1..], quote)?;
                let after = after.trim_start();
                if !after.is_empty() && !after.starts_with('#') {
                    return Err(malformed(last + 1, "text after the closing quote"));
                }
                next = last + 1;
                value
            }
            _ => unquoted(rest),
        };
        out.push((key.to_string(), value));
    }
    Ok(out)
}

/// An unquoted value: up to an inline comment (`#` after a space), trailing spaces trimmed.
fn unquoted(rest: &str) -> String {
    let end =
        rest.char_indices().find(|&(i, c)| c == '#' && rest[..i].ends_with([' ', '\t'])).map_or(rest.len(), |(i, _)| i);
    rest[..end].trim_end().to_string()
}

/// A quoted value starting on line index `first` right after the opening quote: the value, the
/// text after the closing quote, and the index of the line it closed on.
fn quoted<'a>(
    lines: &[&'a str],
    first: usize,
    start: &'a str,
    quote: char,
) -> Result<(String, &'a str, usize), SopsError> {
    let mut value = String::new();
    let mut index = first;
    let mut text = start;
    loop {
        let mut chars = text.char_indices();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                return Ok((value, &text[i + 1..], index));
            }
            if c == '\\' && quote == '"' {
                match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, 'r')) => value.push('\r'),
                    Some((_, 't')) => value.push('\t'),
                    Some((_, e @ ('"' | '\\' | '$'))) => value.push(e),
                    Some((_, other)) => {
                        value.push('\\');
                        value.push(other);
                    }
                    // A backslash at the end of a line: kept, the value goes on.
                    None => value.push('\\'),
                }
                continue;
            }
            value.push(c);
        }
        index += 1;
        match lines.get(index) {
            Some(line) => {
                value.push('\n');
                text = line;
            }
            None => return Err(malformed(first + 1, "a quoted value that is never closed")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str) -> Vec<(String, String)> {
        parse_plain(text.as_bytes()).unwrap()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn plain_env_files_follow_compose_basics() {
        let text = "# comment\n\n  export A=1\nB = two words  \nC=\"x\\ny \\\"q\\\" \\$HOME\"  # note\nD='lit\\n $X'\nE=pass#word # comment\nF=\nG=#not a value\r\nH=a=b:c\n";
        assert_eq!(
            plain(text),
            pairs(&[
                ("A", "1"),
                ("B", "two words"),
                ("C", "x\ny \"q\" $HOME"),
                ("D", "lit\\n $X"),
                ("E", "pass#word"),
                ("F", ""),
                ("G", "#not a value"),
                ("H", "a=b:c"),
            ])
        );
    }

    #[test]
    fn quoted_values_span_lines() {
        let text = "KEY=\"-----BEGIN-----\nabc\n-----END-----\"\nNEXT='one\ntwo'\nLAST=1";
        assert_eq!(
            plain(text),
            pairs(&[("KEY", "-----BEGIN-----\nabc\n-----END-----"), ("NEXT", "one\ntwo"), ("LAST", "1")])
        );
    }

    #[test]
    fn plain_errors_name_the_line_never_the_text() {
        for (text, line) in [
            ("A=1\nhunter2\n", "line 2"),
            ("A=1\n=hunter2\n", "line 2"),
            ("A B=hunter2\n", "line 1"),
            ("A=1\nB=\"hunter2\nmore\n", "line 2"),
            ("A='hunter2' trailing\n", "line 1"),
        ] {
            let err = parse_plain(text.as_bytes()).unwrap_err();
            assert!(matches!(&err, SopsError::Malformed { at, .. } if at == line), "{text:?}: {err:?}");
            assert!(!format!("{err} {err:?}").contains("hunter2"), "{err}");
        }
        let err = parse_plain(b"A=1\nB=\xff\n").unwrap_err();
        assert!(matches!(&err, SopsError::Malformed { at, .. } if at == "line 2"), "{err:?}");
    }

    // A `KEY:value` line (compose reads it YAML style) must never make part of the value a
    // name: plans and labels show names. moor refuses it, naming the line.
    #[test]
    fn a_colon_separated_line_never_turns_a_value_into_a_name() {
        for (text, value) in [("API_TOKEN:dGVzdA==\n", "dGVzdA=="), ("DB_PASSWORD:hunter2=x\n", "hunter2=x")] {
            match parse_plain(text.as_bytes()) {
                // As compose reads it.
                Ok(pairs) => assert_eq!(pairs, pairs_of(text, value), "{text:?}"),
                // Or refused, naming the line only.
                Err(err) => {
                    assert!(matches!(&err, SopsError::Malformed { at, .. } if at == "line 1"), "{err:?}");
                    assert!(!format!("{err} {err:?}").contains(&value[..6]), "{err}");
                }
            }
        }
    }

    fn pairs_of(text: &str, value: &str) -> Vec<(String, String)> {
        vec![(text.split(':').next().unwrap().to_string(), value.to_string())]
    }

    #[test]
    fn sops_form_splits_values_and_metadata() {
        let text =
            "#ENC[comment]\nA=x\\ny\n\nexport B= spaced \nsops_version=3.11.0\nsops_age__list_0__map_enc=a\\nb\n";
        assert!(is_encrypted(text.as_bytes()));
        let (items, meta) = parse_sops(text.as_bytes()).unwrap();
        let items: Vec<_> = items
            .into_iter()
            .map(|(k, v)| match v {
                Node::Str(s) => (k, s),
                _ => panic!("strings only"),
            })
            .collect();
        // No trimming, no `export` handling: sops' rules.
        assert_eq!(items, pairs(&[("A", "x\ny"), ("export B", " spaced ")]));
        assert_eq!(meta, pairs(&[("version", "3.11.0"), ("age__list_0__map_enc", "a\nb")]));
        assert!(!is_encrypted(b"A=1\nSOPS_VERSION=1\n"));
        let err = parse_sops(b"A=1\nnothing\n").unwrap_err();
        assert!(matches!(&err, SopsError::Malformed { at, .. } if at == "line 2"), "{err:?}");
    }
}
