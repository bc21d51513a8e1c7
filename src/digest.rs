//! Short forms of digests and image IDs for messages. Pure: the plan and the status use it, so
//! it lives below every module that does I/O.

/// A short form of a digest or image ID: `sha256:0123456789ab`.
pub fn short(digest: &str) -> String {
    match digest.split_once(':') {
        Some((alg, hex)) => format!("{alg}:{}", &hex[..hex.len().min(12)]),
        None => digest[..digest.len().min(12)].to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::short;

    #[test]
    fn digests_and_ids_are_shortened_to_twelve_hex_digits() {
        assert_eq!(short("sha256:0123456789abcdef0123"), "sha256:0123456789ab");
        assert_eq!(short("0123456789abcdef"), "0123456789ab");
        assert_eq!(short("sha256:ab"), "sha256:ab");
    }
}
