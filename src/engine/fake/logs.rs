//! The fake's container output: lines a test records for a container
//! ([`FakeEngine::write_log`]), and the [`crate::engine::Engine::logs`] stream that reads them.
//!
//! Invariants:
//! - Lines belong to a container ID, in the order they were written; stdout and stderr share one
//!   sequence, as Docker's merged stream does.
//! - Without `follow` the stream yields what is recorded at that moment (the last `tail` lines)
//!   and ends. With `follow` it then yields each new line, and ends once the container is no
//!   longer up (stopped, exited or removed) and every line written before that was yielded.
//! - A follow polls every [`POLL`] of tokio's time (paused clocks included); no lock is held
//!   across an `.await`.

use std::sync::Arc;
use std::time::Duration;

use super::world::unavailable;
use super::{FakeEngine, Op, Shared};
use crate::engine::{EngineError, EngineResult, LogLine, LogSource, LogStream};

/// How often a follow looks for new lines.
const POLL: Duration = Duration::from_millis(20);

struct Reader {
    shared: Arc<Shared>,
    id: String,
    next: usize,
    follow: bool,
    /// An error to yield first, ending the stream (unknown container, down daemon, scripted).
    first: Option<EngineError>,
    done: bool,
}

impl Reader {
    async fn next(mut self) -> Option<(EngineResult<LogLine>, Self)> {
        if self.done {
            return None;
        }
        if let Some(error) = self.first.take() {
            self.done = true;
            return Some((Err(error), self));
        }
        loop {
            // Whether it runs is read before the lines: a line written before it stopped is
            // then always seen.
            let (down, up) = self.shared.with(|w| (w.down, w.inspect(&self.id).is_some_and(|c| c.state.is_up())));
            if down {
                self.done = true;
                return Some((Err(unavailable()), self));
            }
            let line = self.shared.logs().get(&self.id).and_then(|lines| lines.get(self.next).cloned());
            if let Some(line) = line {
                self.next += 1;
                return Some((Ok(line), self));
            }
            if !self.follow || !up {
                return None;
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl FakeEngine {
    /// The container (by name or ID) writes `text` as one line on `source`. False when no such
    /// container exists.
    pub fn write_log(&self, container: &str, source: LogSource, text: &str) -> bool {
        let Some(id) = self.with(|w| w.find(container)) else { return false };
        let line = LogLine { source, text: text.to_string() };
        self.shared.logs().entry(id).or_default().push(line);
        true
    }

    /// [`crate::engine::Engine::logs`] of the fake.
    pub(super) fn log_stream(&self, container: &str, follow: bool, tail: Option<u64>) -> LogStream {
        let (id, first) = self.with(|w| {
            w.count(Op::Logs);
            let id = w.find(container);
            let first = w.gate(Op::Logs).err().or_else(|| {
                id.is_none().then(|| EngineError::NotFound { what: format!("No such container: {container}") })
            });
            (id.unwrap_or_default(), first)
        });
        let recorded = self.shared.logs().get(&id).map_or(0, Vec::len);
        let tail = tail.map_or(recorded, |n| usize::try_from(n).unwrap_or(usize::MAX));
        let reader =
            Reader { shared: self.shared.clone(), id, next: recorded.saturating_sub(tail), follow, first, done: false };
        Box::pin(futures_util::stream::unfold(reader, Reader::next))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use futures_util::StreamExt;

    use super::*;
    use crate::engine::{CreateRequest, Engine};
    use crate::labels;
    use crate::manifest::ContainerSpec;

    async fn running(engine: &FakeEngine, name: &str) -> String {
        engine.add_image("app:1", "sha256:aaaa");
        let spec = ContainerSpec::bare("app:1");
        let labels = BTreeMap::from([(labels::INSTANCE.to_string(), "i".to_string())]);
        let request = CreateRequest {
            name: name.into(),
            image: "app:1".into(),
            service: name.into(),
            spec,
            labels,
            provided: Default::default(),
        };
        let id = engine.create_container(&request).await.unwrap();
        engine.start(&id).await.unwrap();
        id
    }

    fn texts(lines: Vec<EngineResult<LogLine>>) -> Vec<(LogSource, String)> {
        lines.into_iter().map(|l| l.map(|l| (l.source, l.text)).unwrap()).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn logs_yield_recorded_lines_and_the_tail() {
        let engine = FakeEngine::new();
        running(&engine, "web").await;
        assert!(engine.write_log("web", LogSource::Stdout, "one"));
        assert!(engine.write_log("web", LogSource::Stderr, "two"));
        assert!(engine.write_log("web", LogSource::Stdout, "three"));
        assert!(!engine.write_log("nope", LogSource::Stdout, "x"));

        let all = texts(engine.logs("web", false, None).collect().await);
        let want = [(LogSource::Stdout, "one"), (LogSource::Stderr, "two"), (LogSource::Stdout, "three")];
        assert_eq!(all, want.map(|(s, t)| (s, t.to_string())));
        let tail = texts(engine.logs("web", false, Some(2)).collect().await);
        assert_eq!(tail, want[1..].iter().map(|(s, t)| (*s, t.to_string())).collect::<Vec<_>>());
        assert!(engine.logs("web", false, Some(0)).collect::<Vec<_>>().await.is_empty());

        let missing: Vec<_> = engine.logs("nope", false, None).collect().await;
        assert!(matches!(missing.as_slice(), [Err(EngineError::NotFound { .. })]), "{missing:?}");
        assert_eq!(engine.calls(Op::Logs), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn follow_sees_new_lines_and_ends_when_the_container_stops() {
        let engine = FakeEngine::new();
        running(&engine, "web").await;
        engine.write_log("web", LogSource::Stdout, "before");
        let mut stream = engine.logs("web", true, Some(0));
        let writer = engine.clone();
        let later = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            writer.write_log("web", LogSource::Stdout, "after");
            writer.docker_stop("web");
        });
        let first = stream.next().await.unwrap().unwrap();
        assert_eq!(first.text, "after");
        assert!(stream.next().await.is_none(), "the follow ends when the container stops");
        later.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_follow_breaks_when_the_daemon_goes_away() {
        let engine = FakeEngine::new();
        running(&engine, "web").await;
        let mut stream = engine.logs("web", true, None);
        let switch = engine.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            switch.set_down(true);
        });
        assert!(matches!(stream.next().await, Some(Err(EngineError::Unavailable(_)))));
        assert!(stream.next().await.is_none());
    }
}
