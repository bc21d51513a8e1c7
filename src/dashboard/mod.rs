//! The read-only dashboard: `/` (and `/ui`) of `moor run --listen`, its live stream `/events`,
//! and `moor dashboard --fleet`. See the README's "The dashboard" and docs/architecture.md.
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
mod review_tests;
#[cfg(test)]
mod tests;

pub use fleet_page::{fleet_live, fleet_page};
pub use page::{live, page, SCRIPT, STYLE};
