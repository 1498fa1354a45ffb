//! Where every log line goes: a background writer thread, fed in batches.
//!
//! One write system call per line on the request path would cost a third of
//! the throughput, so lines go to [`tracing_appender`]'s writer thread. Event
//! loops go further and batch their own lines ([`batch_thread_logs`]): one
//! queue message and at most one wake-up of the writer per batch, instead of
//! per line. Both the `tracing` JSON layer ([`crate::telemetry`]) and the
//! hand-written access line ([`crate::telemetry::access_log`]) write here; this module
//! depends on neither.
//!
//! The batches are per-thread state, in the pattern docs/performance.md
//! describes once ("Per-thread state").

use std::cell::RefCell;
use std::io::Write;
use std::sync::OnceLock;

use tracing_appender::non_blocking::NonBlocking;
use tracing_subscriber::fmt::MakeWriter;

/// The writer thread's queue, for threads that batch their lines.
static WRITER: OnceLock<NonBlocking> = OnceLock::new();

/// Lines a batching thread has logged and not yet handed on.
const BATCH_BYTES: usize = 16 * 1024;

thread_local! {
    static BATCH: RefCell<Option<Batch>> = const { RefCell::new(None) };
}

struct Batch {
    lines: Vec<u8>,
    out: NonBlocking,
}

impl Batch {
    fn hand_on(&mut self) {
        if !self.lines.is_empty() {
            // One message to the writer thread for all of them.
            let _ = self.out.write_all(&self.lines);
            self.lines.clear();
        }
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.hand_on();
    }
}

/// From now on, lines logged on this thread are handed to the writer thread
/// in batches: when the thread is about to sleep ([`flush_thread_logs`]), at
/// 16 KiB, and when it ends. For event loops, whose threads sleep as soon as
/// they run out of work: one queue message and at most one wake-up of the
/// writer per batch, instead of per line. No effect before
/// [`crate::telemetry::Telemetry::init`].
pub fn batch_thread_logs() {
    if let Some(out) = WRITER.get() {
        batch_thread_logs_to(out.clone());
    }
}

fn batch_thread_logs_to(out: NonBlocking) {
    BATCH.with(|batch| {
        *batch.borrow_mut() = Some(Batch {
            lines: Vec::with_capacity(BATCH_BYTES),
            out,
        });
    });
}

/// Hands this thread's batched lines to the writer thread.
pub fn flush_thread_logs() {
    BATCH.with(|batch| {
        if let Ok(mut batch) = batch.try_borrow_mut()
            && let Some(batch) = batch.as_mut()
        {
            batch.hand_on();
        }
    });
}

/// Writes one line, which `write` appends to the buffer it is given, where
/// every log line goes (see [`LogWriter`]), without a copy when this thread
/// batches its lines. No effect before [`crate::telemetry::Telemetry::init`].
pub(crate) fn write_line(write: impl FnOnce(&mut Vec<u8>)) {
    let mut write = Some(write);
    BATCH.with(|batch| {
        if let Ok(mut batch) = batch.try_borrow_mut()
            && let Some(batch) = batch.as_mut()
            && let Some(write) = write.take()
        {
            write(&mut batch.lines);
            if batch.lines.len() >= BATCH_BYTES {
                batch.hand_on();
            }
        }
    });
    if let (Some(write), Some(out)) = (write, WRITER.get()) {
        let mut line = Vec::with_capacity(512);
        write(&mut line);
        let _ = out.clone().write_all(&line);
    }
}

/// Where log lines go: the writer thread's queue, through this thread's
/// batch when it has one.
pub(crate) struct LogWriter(NonBlocking);

/// Makes `out` (the writer thread's queue) where lines go, for every thread.
pub(crate) fn install(out: NonBlocking) -> LogWriter {
    let _ = WRITER.set(out.clone());
    LogWriter(out)
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> LineWriter<'a> {
        LineWriter(&self.0)
    }
}

pub(crate) struct LineWriter<'a>(&'a NonBlocking);

impl Write for LineWriter<'_> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let batched = BATCH.with(|batch| {
            let Ok(mut batch) = batch.try_borrow_mut() else {
                return false;
            };
            let Some(batch) = batch.as_mut() else {
                return false;
            };
            batch.lines.extend_from_slice(line);
            if batch.lines.len() >= BATCH_BYTES {
                batch.hand_on();
            }
            true
        });
        if batched {
            Ok(line.len())
        } else {
            self.0.clone().write(line)
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Records every write the writer thread makes.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn log(writer: &LogWriter, line: &str) {
        writer.make_writer().write_all(line.as_bytes()).unwrap();
    }

    #[test]
    fn a_batching_thread_hands_its_lines_on_together_and_in_order() {
        let sink = Sink::default();
        let (out, guard) = tracing_appender::non_blocking(sink.clone());
        let writer = LogWriter(out.clone());
        std::thread::spawn(move || {
            batch_thread_logs_to(out);
            log(&writer, "one\n");
            log(&writer, "two\n");
            flush_thread_logs();
            log(&writer, "three\n");
            // The thread ends with a line pending: it is not lost.
        })
        .join()
        .unwrap();
        drop(guard);
        let writes = sink.0.lock().unwrap().clone();
        assert_eq!(writes, [b"one\ntwo\n".to_vec(), b"three\n".to_vec()]);
    }

    #[test]
    fn a_batch_is_handed_on_when_full_and_other_threads_write_per_line() {
        let sink = Sink::default();
        let (out, guard) = tracing_appender::non_blocking(sink.clone());
        let writer = LogWriter(out.clone());
        let line = format!("{}\n", "x".repeat(199));
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    batch_thread_logs_to(out);
                    for _ in 0..100 {
                        log(&writer, &line);
                    }
                })
                .join()
                .unwrap();
            log(&writer, "unbatched\n");
        });
        drop(guard);
        let writes = sink.0.lock().unwrap().clone();
        let all: Vec<u8> = writes.concat();
        assert_eq!(all.len(), 100 * 200 + "unbatched\n".len(), "nothing lost");
        assert!(
            writes.iter().any(|w| w == b"unbatched\n"),
            "a line of its own"
        );
        assert!(
            writes
                .iter()
                .any(|w| w.len() >= BATCH_BYTES && w.len() < 100 * 200),
            "a full batch went before the thread ended"
        );
    }
}
