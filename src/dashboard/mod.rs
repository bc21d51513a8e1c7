//! The read-only dashboard: `/` (and `/ui`) of `moor run --listen`, its live stream `/events`,
//! and `moor dashboard --fleet`. See `docs/dashboard.md`.
//!
//! Invariants: pages are made server-side from [`model`] by pure functions (so a page renders
//! without JavaScript, and a snapshot pins it); every value is escaped by the template engine;
//! no secret value is ever in a model; the page loads nothing from elsewhere (no CDN).

pub mod fleet_page;
pub mod format;
pub mod histogram;
pub mod model;
pub mod page;
pub mod timeline;
pub mod view;

#[cfg(test)]
mod tests;

pub use fleet_page::{fleet_live, fleet_page};
pub use page::{live, page};

/// The page's stylesheet, served at `ui/style.css` (relative to the page).
pub const STYLE: &str = include_str!("assets/style.css");
/// The page's script, served at `ui/live.js`: swaps in the `live` fragments of `events`.
pub const SCRIPT: &str = include_str!("assets/live.js");
