//! Which registry an image reference names, and the policy's registry patterns.
//!
//! Invariant: an image's registry is worked out as Docker does (distribution's reference
//! rules): the part before the first `/` is a registry only when it holds a `.` or a `:`, is
//! `localhost`, or has an uppercase letter; otherwise the image is on `docker.io`
//! (`index.docker.io` is the same registry).

/// The registry host (with port) of `image`, lowercase.
pub fn registry_of(image: &str) -> String {
    let host = match image.split_once('/') {
        Some((first, _))
            if first.contains(['.', ':']) || first == "localhost" || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            first.to_ascii_lowercase()
        }
        _ => return "docker.io".into(),
    };
    if host == "index.docker.io" {
        "docker.io".into()
    } else {
        host
    }
}

/// A registry pattern: `*` stands for any run of characters; the rest matches itself, ignoring
/// ASCII case (host names are case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(String);

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, String> {
        if text.is_empty() {
            return Err("a registry pattern cannot be empty".into());
        }
        if text.contains('/') {
            return Err(format!(
                "{text:?} is not a registry: a pattern names a registry host (with its port), without a repository path"
            ));
        }
        Ok(Pattern(text.to_ascii_lowercase()))
    }

    pub fn matches(&self, registry: &str) -> bool {
        glob(self.0.as_bytes(), registry.to_ascii_lowercase().as_bytes())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `*` matches any run of bytes; iterative, with one backtrack point (the last `*`).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_are_read_as_docker_reads_them() {
        for (image, registry) in [
            ("nginx", "docker.io"),
            ("nginx:1.27", "docker.io"),
            ("nginx@sha256:0123", "docker.io"),
            ("acme/web:1", "docker.io"),
            ("docker.io/library/nginx", "docker.io"),
            ("index.docker.io/acme/web", "docker.io"),
            ("ghcr.io/acme/web:1", "ghcr.io"),
            ("registry.example:5000/shop/web:1.4", "registry.example:5000"),
            ("localhost/web", "localhost"),
            ("localhost:5000/web", "localhost:5000"),
            ("Registry/web", "registry"),
            ("moor-test/busybox:1", "docker.io"),
        ] {
            assert_eq!(registry_of(image), registry, "{image}");
        }
    }

    #[test]
    fn patterns_glob_on_the_host() {
        let p = |t: &str| Pattern::parse(t).unwrap();
        assert!(p("*").matches("docker.io"));
        assert!(p("ghcr.io").matches("ghcr.io"));
        assert!(p("GHCR.io").matches("ghcr.IO"));
        assert!(!p("ghcr.io").matches("ghcr.io.evil.example"));
        assert!(p("*.corp.example").matches("registry.corp.example"));
        assert!(p("*.corp.example").matches("a.b.corp.example"));
        assert!(!p("*.corp.example").matches("corp.example"));
        assert!(!p("*.corp.example").matches("evilcorp.example"));
        assert!(p("registry.example:*").matches("registry.example:5000"));
        assert!(!p("registry.example:*").matches("registry.example"));
        assert!(p("a*b*c").matches("aXXbYYc"));
        assert!(!p("a*b*c").matches("aXXbYY"));
        assert!(Pattern::parse("ghcr.io/acme").is_err());
        assert!(Pattern::parse("").is_err());
    }
}
