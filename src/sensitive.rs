//! [`Sensitive`]: a value that came from a Secret, an env file or a secret-looking key.
//!
//! Invariant: a `Sensitive` never shows its value by accident. `Debug` prints `***`, there is no
//! `Display` and no `Serialize`, so a `{:?}` in a log line, a status document or an error cannot
//! carry it; the only way to the value is [`Sensitive::expose`], called where the value must go
//! (Docker's create body, a file moor writes for a container).

/// A secret value, shown as `***`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Sensitive<T>(T);

impl<T> Sensitive<T> {
    pub fn new(value: T) -> Sensitive<T> {
        Sensitive(value)
    }

    /// The value itself: only where it must go.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> std::fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Sensitive::new("hunter2".to_string());
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{:?}", Some(&s)), "Some(***)");
        assert_eq!(s.expose(), "hunter2");
    }
}
