//! Export progress: a redrawn line (chunks done, rate, ETA) on a terminal, a log line
//! every few seconds otherwise.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How often a non-terminal gets a line.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// Progress of one export.
#[derive(Debug)]
pub struct Progress {
    total: usize,
    done: AtomicUsize,
    start: Instant,
    last: Mutex<Instant>,
    tty: bool,
}

impl Progress {
    /// Progress over `total` chunks; `how` says whether the export starts or resumes.
    pub fn new(total: usize, how: &str) -> Self {
        tracing::info!(chunks = total, "export {how}");
        Self {
            total,
            done: AtomicUsize::new(0),
            start: Instant::now(),
            last: Mutex::new(Instant::now()),
            tty: std::io::stderr().is_terminal(),
        }
    }

    /// One chunk more is written.
    pub fn tick(&self) {
        let done = self.done.fetch_add(1, Ordering::AcqRel) + 1;
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let every = if self.tty {
            Duration::from_millis(100)
        } else {
            LOG_EVERY
        };
        if last.elapsed() >= every || done == self.total {
            *last = Instant::now();
            self.show(done);
        }
    }

    fn show(&self, done: usize) {
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        #[expect(clippy::cast_precision_loss, reason = "display only")]
        let (rate, left) = (done as f64 / secs, (self.total - done) as f64);
        let eta = if rate > 0.0 { left / rate } else { 0.0 };
        let line = format!(
            "{done}/{} chunks, {rate:.1} chunks/s, ETA {eta:.0} s",
            self.total
        );
        if self.tty {
            eprint!("\r{line}   ");
            let _ = std::io::stderr().flush();
        } else {
            tracing::info!(
                done,
                total = self.total,
                rate = format!("{rate:.1}"),
                eta_s = format!("{eta:.0}"),
                "export progress"
            );
        }
    }

    /// The export is complete.
    pub fn finish(&self) {
        if self.tty {
            eprintln!();
        }
        let done = self.done.load(Ordering::Acquire);
        tracing::info!(
            chunks = done,
            seconds = format!("{:.1}", self.start.elapsed().as_secs_f64()),
            "export written"
        );
    }
}
