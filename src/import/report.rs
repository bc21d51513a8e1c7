//! What an import could not translate, and what the user has to do by hand.
//!
//! Invariant: every entry names a compose path (`services.web.build`); `left_out` decides the
//! exit code (2 when not empty), `advice` never does.

use std::fmt;

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The compose path, such as `services.web.build`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

#[derive(Debug, Default)]
pub struct Report {
    /// Compose content with no moor counterpart: not in the manifests.
    pub left_out: Vec<Note>,
    /// Translated, but something is left to do (build an image, encrypt an env file).
    pub advice: Vec<Note>,
}

impl Report {
    pub fn left_out(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.left_out.push(Note { path: path.into(), message: message.into() });
    }

    pub fn advise(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.advice.push(Note { path: path.into(), message: message.into() });
    }

    /// Everything translated.
    pub fn complete(&self) -> bool {
        self.left_out.is_empty()
    }
}
