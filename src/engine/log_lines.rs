//! Docker's log frames to lines.
//!
//! Docker sends a container's output in frames, one per write of the process: a frame may hold
//! part of a line, or several. Invariants of [`split_lines`]:
//! - every item is one whole line without its `\n` (and without a `\r` before it);
//! - stdout and stderr are buffered apart, so a partial line of one is never glued to the other;
//! - lines keep Docker's order; a partial last line is still yielded when the output ends;
//! - bytes that are not UTF-8 are replaced (U+FFFD), never an error.
//!
//! [`from_docker`] reads bollard's frames (used by [`super::docker`]); [`split_lines`] is the pure part.

use std::collections::VecDeque;

use futures_util::{Stream, StreamExt};

use bollard::container::LogOutput;

use super::{EngineError, EngineResult, LogLine, LogSource, LogStream};

struct Splitter<S> {
    frames: S,
    /// The unfinished line of stdout and of stderr.
    partial: [Vec<u8>; 2],
    ready: VecDeque<LogLine>,
    /// An error of the frames, yielded after the lines before it; it ends the stream.
    error: Option<EngineError>,
    ended: bool,
}

fn index(source: LogSource) -> usize {
    match source {
        LogSource::Stdout => 0,
        LogSource::Stderr => 1,
    }
}

fn line(source: LogSource, mut bytes: Vec<u8>) -> LogLine {
    if bytes.last() == Some(&b'\r') {
        bytes.pop();
    }
    LogLine { source, text: String::from_utf8_lossy(&bytes).into_owned() }
}

impl<S, B> Splitter<S>
where
    S: Stream<Item = EngineResult<(LogSource, B)>> + Unpin,
    B: AsRef<[u8]>,
{
    fn take(&mut self, source: LogSource, bytes: &[u8]) {
        let partial = &mut self.partial[index(source)];
        for piece in bytes.split_inclusive(|b| *b == b'\n') {
            partial.extend_from_slice(piece);
            if partial.last() == Some(&b'\n') {
                partial.pop();
                self.ready.push_back(line(source, std::mem::take(partial)));
            }
        }
    }

    fn flush(&mut self) {
        for source in [LogSource::Stdout, LogSource::Stderr] {
            let partial = std::mem::take(&mut self.partial[index(source)]);
            if !partial.is_empty() {
                self.ready.push_back(line(source, partial));
            }
        }
    }

    async fn next(mut self) -> Option<(EngineResult<LogLine>, Self)> {
        loop {
            if let Some(line) = self.ready.pop_front() {
                return Some((Ok(line), self));
            }
            if let Some(error) = self.error.take() {
                return Some((Err(error), self));
            }
            if self.ended {
                return None;
            }
            match self.frames.next().await {
                Some(Ok((source, bytes))) => self.take(source, bytes.as_ref()),
                Some(Err(e)) => {
                    // What came before the error is still output: it goes first, then the error.
                    self.ended = true;
                    self.flush();
                    self.error = Some(e);
                }
                None => {
                    self.ended = true;
                    self.flush();
                }
            }
        }
    }
}

/// bollard's log frames as lines. A container with a TTY has a single stream, which Docker calls
/// the console: it counts as stdout, as `docker logs` prints it.
pub fn from_docker<S>(frames: S) -> LogStream
where
    S: Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send + 'static,
{
    let frames = frames.map(|item| {
        item.map(|frame| match frame {
            LogOutput::StdErr { message } => (LogSource::Stderr, message),
            LogOutput::StdOut { message } | LogOutput::StdIn { message } | LogOutput::Console { message } => {
                (LogSource::Stdout, message)
            }
        })
        .map_err(super::docker::classify)
    });
    Box::pin(split_lines(Box::pin(frames)))
}

/// Turns a stream of `(source, bytes)` frames into a stream of lines (see the module's invariants).
pub fn split_lines<S, B>(frames: S) -> impl Stream<Item = EngineResult<LogLine>> + Send
where
    S: Stream<Item = EngineResult<(LogSource, B)>> + Unpin + Send,
    B: AsRef<[u8]> + Send,
{
    let splitter =
        Splitter { frames, partial: [Vec::new(), Vec::new()], ready: VecDeque::new(), error: None, ended: false };
    futures_util::stream::unfold(splitter, Splitter::next)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(frames: Vec<EngineResult<(LogSource, &'static str)>>) -> Vec<EngineResult<(LogSource, String)>> {
        let lines: Vec<_> = split_lines(futures_util::stream::iter(frames)).collect().await;
        lines.into_iter().map(|l| l.map(|l| (l.source, l.text))).collect()
    }

    use LogSource::{Stderr, Stdout};

    #[tokio::test]
    async fn frames_become_whole_lines_per_stream() {
        let got = run(vec![
            Ok((Stdout, "one\ntw")),
            Ok((Stderr, "err\r\n")),
            Ok((Stdout, "o\nthree\nfour")),
            Ok((Stderr, "tail")),
        ])
        .await;
        let want =
            [(Stdout, "one"), (Stderr, "err"), (Stdout, "two"), (Stdout, "three"), (Stdout, "four"), (Stderr, "tail")];
        let want: Vec<_> = want.iter().map(|(s, t)| Ok((*s, t.to_string()))).collect();
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn an_error_comes_after_the_output_before_it_and_ends_the_stream() {
        let gone = EngineError::Unavailable("gone".into());
        let got = run(vec![Ok((Stdout, "a\npartial")), Err(gone.clone()), Ok((Stdout, "never\n"))]).await;
        assert_eq!(got, vec![Ok((Stdout, "a".into())), Ok((Stdout, "partial".into())), Err(gone)]);
    }

    #[tokio::test]
    async fn empty_lines_are_kept_and_bad_utf8_is_replaced() {
        let got = run(vec![Ok((Stdout, "\n\nx\n"))]).await;
        assert_eq!(got, vec![Ok((Stdout, "".into())), Ok((Stdout, "".into())), Ok((Stdout, "x".into()))]);
        let bytes = split_lines(futures_util::stream::iter(vec![Ok((Stdout, vec![0xff, b'\n']))]));
        let lines: Vec<_> = bytes.collect().await;
        assert_eq!(lines, vec![Ok(LogLine { source: Stdout, text: "\u{fffd}".into() })]);
    }
}
