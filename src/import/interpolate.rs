//! Compose's variable interpolation: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}` and `$$` for a literal `$`.
//!
//! Invariants: a default or alternative is interpolated in turn (compose nests them); an unset
//! variable without a default is the empty string and is reported by name (never by value); an
//! error names the variable and the file's own message, never a value.

use std::collections::BTreeMap;

/// The result of interpolating one string.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Interpolated {
    pub text: String,
    /// A variable's value was substituted (it came from `.env` or the environment).
    pub substituted: bool,
    /// The variables whose values were substituted.
    pub used: Vec<String>,
    /// Variables used without a value or default.
    pub unset: Vec<String>,
}

/// Interpolates `text` with `vars`. `Err` carries the message of a `?` form whose variable is
/// unset (or empty for `:?`).
pub fn interpolate(text: &str, vars: &BTreeMap<String, String>) -> Result<Interpolated, String> {
    let mut out = Interpolated::default();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.text.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.text.push('$');
                i += 2;
            }
            Some('{') => {
                let end = closing_brace(&chars, i + 2).ok_or_else(|| "a `${` without its closing `}`".to_string())?;
                let inner: String = chars[i + 2..end].iter().collect();
                braced(&inner, vars, &mut out)?;
                i = end + 1;
            }
            Some(n) if n.is_ascii_alphabetic() || *n == '_' => {
                let start = i + 1;
                let mut end = start;
                while end < chars.len() && (chars[end].is_ascii_alphanumeric() || chars[end] == '_') {
                    end += 1;
                }
                let name: String = chars[start..end].iter().collect();
                lookup(&name, vars, &mut out);
                i = end;
            }
            _ => {
                out.text.push('$');
                i += 1;
            }
        }
    }
    Ok(out)
}

/// The index of the `}` that closes a `${` whose content starts at `from` (nested `${...}` in a
/// default are skipped over).
fn closing_brace(chars: &[char], from: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = from;
    while i < chars.len() {
        match chars[i] {
            '$' if chars.get(i + 1) == Some(&'{') => {
                depth += 1;
                i += 1;
            }
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn lookup(name: &str, vars: &BTreeMap<String, String>, out: &mut Interpolated) {
    match vars.get(name) {
        Some(value) => {
            out.text.push_str(value);
            out.substituted = true;
            out.used.push(name.to_string());
        }
        None => out.unset.push(name.to_string()),
    }
}

fn braced(inner: &str, vars: &BTreeMap<String, String>, out: &mut Interpolated) -> Result<(), String> {
    let name_end = inner.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(inner.len());
    let name = &inner[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("`${{{inner}}}` is not a variable reference"));
    }
    let rest = &inner[name_end..];
    if rest.is_empty() {
        lookup(name, vars, out);
        return Ok(());
    }
    let (colon, op, arg) = match rest.strip_prefix(':') {
        Some(r) => (true, r.chars().next(), r.get(1..).unwrap_or("")),
        None => (false, rest.chars().next(), rest.get(1..).unwrap_or("")),
    };
    let value = vars.get(name);
    // `:` forms treat an empty value as unset, the plain forms only a missing one.
    let set = match value {
        Some(v) => !(colon && v.is_empty()),
        None => false,
    };
    let nested = |text: &str, out: &mut Interpolated| -> Result<(), String> {
        let inner = interpolate(text, vars)?;
        out.text.push_str(&inner.text);
        out.substituted |= inner.substituted;
        out.used.extend(inner.used);
        out.unset.extend(inner.unset);
        Ok(())
    };
    match op {
        Some('-') if set => lookup(name, vars, out),
        Some('-') => nested(arg, out)?,
        Some('?') if set => lookup(name, vars, out),
        Some('?') => {
            let message = if arg.is_empty() { "required" } else { arg };
            return Err(format!("variable {name}: {message}"));
        }
        Some('+') if set => nested(arg, out)?,
        Some('+') => {}
        _ => return Err(format!("`${{{name}{rest}}}`: unknown substitution form")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        [("A", "1"), ("EMPTY", "")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn run(text: &str) -> String {
        interpolate(text, &vars()).unwrap().text
    }

    #[test]
    fn forms() {
        assert_eq!(run("x$A-${A}"), "x1-1");
        assert_eq!(run("$$A"), "$A");
        assert_eq!(run("${B:-d}"), "d");
        assert_eq!(run("${EMPTY:-d}|${EMPTY-d}"), "d|");
        assert_eq!(run("${A:+yes}${B:+no}"), "yes");
        assert_eq!(run("${B:-${A}x}"), "1x");
        assert_eq!(run("cost $5"), "cost $5");
    }

    #[test]
    fn substitution_and_unset_are_tracked() {
        let r = interpolate("${A}", &vars()).unwrap();
        assert!(r.substituted);
        let r = interpolate("${B:-${A}}", &vars()).unwrap();
        assert_eq!(r.used, vec!["A".to_string()]);
        let r = interpolate("${B:-x} $C", &vars()).unwrap();
        assert!(!r.substituted);
        assert_eq!(r.unset, vec!["C".to_string()]);
    }

    #[test]
    fn required_variable_errors_with_its_message() {
        let e = interpolate("${B?set B first}", &vars()).unwrap_err();
        assert_eq!(e, "variable B: set B first");
        assert!(interpolate("${EMPTY:?}", &vars()).is_err());
        assert!(interpolate("${EMPTY?}", &vars()).is_ok());
        assert!(interpolate("${A", &vars()).is_err());
    }
}
