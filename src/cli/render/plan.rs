//! The plan as reviewers read it, in the style of `terraform plan` and `kubectl diff`.
//!
//! One header line per action, led by a marker:
//!
//! | marker | meaning |
//! |---|---|
//! | `+` | create a container, network or volume |
//! | `~` | replace, start, stop or rename a container |
//! | `-` | remove a container, network or volume (the reason indented below) |
//! | `…` | Docker is already removing the container: wait until it is gone |
//! | `!` | a name conflict, a service the host policy refuses, or prune suspended: nothing is done about it |
//!
//! Under a replace, one line per changed field: `~ env.LOG_LEVEL: "info" → "debug"`, `+ env.NEW:
//! "x"` for an added field, `- env.OLD: "y"` for a removed one, `# …` for a note that names no
//! field, and for a secret only what happened to it, never a value or a digest:
//! `~ env.DB_PASSWORD: (secret changed)`, `+ secret file /run/secrets/tls.key: (secret added)`.
//! Under a create, with `-v`, every field of the new container, a secret as `(secret)`. Values
//! are printed as JSON strings, exactly as the plan holds them: what the plan redacts stays
//! redacted.
//!
//! Invariants: the summary's buckets are fixed (create, replace, change, remove; see [`Bucket`]);
//! colour is added only by [`paint`], and only when [`Style::colour`] says so.

use std::fmt::Write as _;

use crate::manifest::Desired;
use crate::plan::{fields, Action, ActionKind, Change, Plan, ResourceAction, Secret, Shown};

/// How the text is drawn.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// ANSI colours: only on a terminal, never with `NO_COLOR` (see [`super::colour_for_stdout`]).
    pub colour: bool,
    /// `-v`: list the fields of each container to create.
    pub verbose: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Add,
    Change,
    Remove,
    Wait,
    Alert,
}

impl Mark {
    fn symbol(self) -> &'static str {
        match self {
            Mark::Add => "+",
            Mark::Change => "~",
            Mark::Remove => "-",
            Mark::Wait => "…",
            Mark::Alert => "!",
        }
    }

    /// SGR codes: green, yellow, red, cyan, bold red.
    fn sgr(self) -> &'static str {
        match self {
            Mark::Add => "32",
            Mark::Change => "33",
            Mark::Remove => "31",
            Mark::Wait => "36",
            Mark::Alert => "1;31",
        }
    }
}

/// `text` led by the marker, coloured when asked. The one place that writes ANSI escapes.
pub fn paint(mark: Mark, text: &str, colour: bool) -> String {
    let line = format!("{} {text}", mark.symbol());
    if colour {
        format!("\x1b[{}m{line}\x1b[0m", mark.sgr())
    } else {
        line
    }
}

/// The summary's buckets. Start, stop, rename and connect are "change": the container stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Create,
    Replace,
    Change,
    Remove,
}

pub fn bucket(kind: ActionKind) -> Bucket {
    match kind {
        ActionKind::Create => Bucket::Create,
        ActionKind::Replace => Bucket::Replace,
        ActionKind::Start | ActionKind::Stop | ActionKind::Rename | ActionKind::Connect => Bucket::Change,
        ActionKind::Remove | ActionKind::WaitRemoved => Bucket::Remove,
    }
}

/// Counts per bucket, in the order the summary prints them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub create: usize,
    pub replace: usize,
    pub change: usize,
    pub remove: usize,
}

impl Counts {
    pub fn add(&mut self, bucket: Bucket) {
        match bucket {
            Bucket::Create => self.create += 1,
            Bucket::Replace => self.replace += 1,
            Bucket::Change => self.change += 1,
            Bucket::Remove => self.remove += 1,
        }
    }

    pub fn of_plan(plan: &Plan) -> Counts {
        let mut counts = Counts::default();
        for a in plan.networks.iter().chain(&plan.volumes) {
            counts.add(resource_bucket(a));
        }
        for action in plan.services.values().flat_map(|sp| &sp.actions) {
            counts.add(bucket(action.kind()));
        }
        counts
    }
}

fn resource_bucket(action: &ResourceAction) -> Bucket {
    match action {
        ResourceAction::Create { .. } => Bucket::Create,
        ResourceAction::Remove { .. } => Bucket::Remove,
    }
}

/// The header line of one action, without its marker.
pub fn action_header(action: &Action) -> (Mark, String) {
    let not_started = |start: bool| if start { "" } else { " (not started)" };
    match action {
        Action::Create { name, start, .. } => (Mark::Add, format!("create {name}{}", not_started(*start))),
        Action::Replace { name, start, .. } => (Mark::Change, format!("replace {name}{}", not_started(*start))),
        Action::Start { container } => (Mark::Change, format!("start {}", container.name)),
        Action::Stop { container } => (Mark::Change, format!("stop {}", container.name)),
        Action::Remove { container, .. } => (Mark::Remove, format!("remove {}", container.name)),
        Action::WaitRemoved { container } => (Mark::Wait, format!("wait until {} is removed", container.name)),
        Action::Rename { container, to } => (Mark::Change, format!("rename {} → {to}", container.name)),
        Action::Connect { container, network } => {
            (Mark::Change, format!("connect {} to network {network}", container.name))
        }
    }
}

/// A value as a JSON string; a list or map (the flattened spec keeps those as JSON text, such as
/// `command`) is shown as it is, not quoted a second time.
fn quoted(value: &str) -> String {
    let composite = value.starts_with(['[', '{']) && serde_json::from_str::<serde_json::Value>(value).is_ok();
    match composite {
        true => value.to_string(),
        false => serde_json::to_string(value).expect("a string serializes"),
    }
}

/// One changed field, as the line under a replace shows it.
pub fn change_line(change: &Change) -> (Mark, String) {
    if change.is_note() {
        let note = change.to.as_deref().unwrap_or_default();
        return (Mark::Change, format!("# {}: {note}", change.field));
    }
    if let Some(secret) = change.secret {
        let mark = match secret {
            Secret::Added => Mark::Add,
            Secret::Removed => Mark::Remove,
            Secret::Changed | Secret::NowSealed | Secret::NowPlain => Mark::Change,
        };
        return (mark, format!("{}: {}", change.field, secret.text()));
    }
    match (&change.from, &change.to) {
        (Some(from), Some(to)) => (Mark::Change, format!("{}: {} → {}", change.field, quoted(from), quoted(to))),
        (None, Some(to)) => (Mark::Add, format!("{}: {}", change.field, quoted(to))),
        (Some(from), None) => (Mark::Remove, format!("{}: {}", change.field, quoted(from))),
        (None, None) => (Mark::Change, change.field.clone()),
    }
}

/// Writes one action: its header and, indented, what is under it.
pub fn write_action(out: &mut String, service: &str, action: &Action, desired: &Desired, style: Style) {
    let (mark, header) = action_header(action);
    let _ = writeln!(out, "{}", paint(mark, &header, style.colour));
    let detail = |out: &mut String, mark: Mark, text: &str| {
        let _ = writeln!(out, "    {}", paint(mark, text, style.colour));
    };
    match action {
        Action::Replace { changes, .. } => {
            for change in changes {
                let (mark, text) = change_line(change);
                detail(out, mark, &text);
            }
        }
        Action::Remove { reason, .. } => {
            let _ = writeln!(out, "    reason: {reason}");
        }
        Action::Create { .. } if style.verbose => {
            if let Some(service) = desired.services.get(service) {
                for (field, value) in fields(&service.container) {
                    let value = match value {
                        Shown::Text(text) => quoted(&text),
                        Shown::Secret => Shown::Secret.to_string(),
                    };
                    detail(out, Mark::Add, &format!("{field}: {value}"));
                }
            }
        }
        _ => {}
    }
}

fn write_resources(out: &mut String, kind: &str, actions: &[ResourceAction], style: Style) {
    for a in actions {
        match a {
            ResourceAction::Create { name } => {
                let _ = writeln!(out, "{}", paint(Mark::Add, &format!("{kind} {name}"), style.colour));
            }
            ResourceAction::Remove { name } => {
                let _ = writeln!(out, "{}", paint(Mark::Remove, &format!("{kind} {name}"), style.colour));
                let _ = writeln!(out, "    reason: no manifest, and no service uses it");
            }
        }
    }
}

/// `N to create, N to replace, N to change, N to remove`, plus the conflicts and the services the
/// host policy refused when there are any.
pub fn summary(counts: Counts, conflicts: usize, plan: &Plan) -> String {
    let mut line = format!(
        "{} to create, {} to replace, {} to change, {} to remove",
        counts.create, counts.replace, counts.change, counts.remove
    );
    if conflicts > 0 {
        let _ = write!(line, ", {conflicts} in conflict");
    }
    line.push_str(&refused_counts(plan));
    line
}

/// `, 1 refused by policy, 1 refused for the daemon's Docker API`, or nothing.
pub fn refused_counts(plan: &Plan) -> String {
    let by_api = plan.refused_by_api.len();
    let mut out = String::new();
    for (n, cause) in [
        (plan.refused.len() - by_api, crate::manifest::RefusalCause::Policy),
        (by_api, crate::manifest::RefusalCause::DockerApi),
    ] {
        if n > 0 {
            let _ = write!(out, ", {n} {}", cause.words());
        }
    }
    out
}

/// Why prune is suspended and what it keeps, when it is: a guard (no Service manifest without
/// `--allow-empty`) or load problems.
pub(super) fn prune_suspended_text(plan: &Plan) -> Option<String> {
    if !plan.prune_suspended {
        return None;
    }
    let held = if plan.prune_held.is_empty() { "nothing held".to_string() } else { plan.prune_held.join(", ") };
    Some(match &plan.prune_guard {
        Some(guard) => format!("{guard}; kept: {held}"),
        None => format!("prune suspended: manifests failed to load (kept: {held})"),
    })
}

/// Each service the host policy refuses: `! refused web by policy: left as it is`, then its
/// violations, one per line.
pub fn write_refused(out: &mut String, plan: &Plan, style: Style) {
    for (name, problems) in &plan.refused {
        let cause = match plan.refused_by_api.contains(name) {
            true => crate::manifest::RefusalCause::DockerApi,
            false => crate::manifest::RefusalCause::Policy,
        };
        let header = format!("{name}: {}, left as it is", cause.words());
        let _ = writeln!(out, "{}", paint(Mark::Alert, &header, style.colour));
        for p in problems {
            let _ = writeln!(out, "    {p}");
        }
    }
}

/// The whole plan: networks and volumes to create, each service's actions and conflicts,
/// networks and volumes to remove, what prune holds back, and the summary line.
pub fn plan_text(plan: &Plan, desired: &Desired, style: Style) -> String {
    let mut out = String::new();
    let creates = |list: &[ResourceAction]| -> Vec<ResourceAction> {
        list.iter().filter(|a| matches!(a, ResourceAction::Create { .. })).cloned().collect()
    };
    let removes = |list: &[ResourceAction]| -> Vec<ResourceAction> {
        list.iter().filter(|a| matches!(a, ResourceAction::Remove { .. })).cloned().collect()
    };
    // In the order apply works: resources are created first and pruned last.
    write_resources(&mut out, "network", &creates(&plan.networks), style);
    write_resources(&mut out, "volume", &creates(&plan.volumes), style);
    let mut conflicts = 0;
    for (name, sp) in &plan.services {
        for conflict in &sp.conflicts {
            conflicts += 1;
            let _ = writeln!(out, "{}", paint(Mark::Alert, &format!("conflict {name}: {conflict}"), style.colour));
        }
        for action in &sp.actions {
            write_action(&mut out, name, action, desired, style);
        }
    }
    write_refused(&mut out, plan, style);
    write_resources(&mut out, "network", &removes(&plan.networks), style);
    write_resources(&mut out, "volume", &removes(&plan.volumes), style);
    if let Some(text) = prune_suspended_text(plan) {
        let _ = writeln!(out, "{}", paint(Mark::Alert, &text, style.colour));
    }
    // Suspended prune is never "in sync": what the manifests say could not be fully carried out.
    if plan.is_empty() && !plan.prune_suspended && plan.refused.is_empty() {
        out.push_str("in sync: nothing to do\n");
    } else {
        let _ = writeln!(out, "{}", summary(Counts::of_plan(plan), conflicts, plan));
    }
    out
}
