//! How a run shows its progress. Without a terminal (CI, a log file): plain lines, each
//! prefixed with the stack, its account and region, and no control characters. At a
//! terminal, when the command line asks for it: a live view with one line per stack
//! (state, resources done of total, elapsed), and above it, in full, what matters:
//! failures, outputs, results.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use hyperpod_core::StackManifest;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The live view: one bar per stack that has started.
struct Live {
    view: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

static LIVE: OnceLock<Live> = OnceLock::new();

/// Shows progress as a live view from now on (the command line calls it when standard
/// output is a terminal). Without it, progress is plain lines.
pub fn use_live_view() {
    let _ = LIVE.get_or_init(|| Live {
        view: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
        bars: Mutex::new(HashMap::new()),
    });
}

fn prefix(stack: &StackManifest) -> String {
    format!("{} ({} {})", stack.id, stack.account, stack.region)
}

/// The bar of a stack, made when the stack first reports.
fn bar(live: &Live, stack: &StackManifest) -> ProgressBar {
    let mut bars = live.bars.lock().unwrap_or_else(|p| p.into_inner());
    bars.entry(stack.id.clone())
        .or_insert_with(|| {
            let bar = live.view.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix} {wide_msg} {elapsed}")
                    .expect("a valid template"),
            );
            bar.set_prefix(prefix(stack));
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        })
        .clone()
}

/// Text from AWS (a status reason) without the control characters that would move a
/// terminal's cursor or break a log line.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The longest a wait goes without a word.
pub(super) const HEARTBEAT: Duration = Duration::from_secs(60);

/// A wait that says, at least every [`HEARTBEAT`], what it waits for and for how long.
pub(super) struct Heartbeat {
    started: std::time::Instant,
    last: std::time::Instant,
}

impl Heartbeat {
    /// A wait that starts now.
    pub(super) fn start() -> Heartbeat {
        let now = std::time::Instant::now();
        Heartbeat {
            started: now,
            last: now,
        }
    }

    /// Something was said: the next word is due a heartbeat from now.
    pub(super) fn heard(&mut self) {
        self.last = std::time::Instant::now();
    }

    /// Says `what` (with the time waited) when nothing was said for a heartbeat.
    pub(super) fn beat(&mut self, stack: &StackManifest, what: &str, limit: Duration) {
        if self.last.elapsed() >= HEARTBEAT {
            self.last = std::time::Instant::now();
            status(
                stack,
                &format!(
                    "{what}: waited {} min of at most {} min",
                    self.started.elapsed().as_secs() / 60,
                    limit.as_secs() / 60
                ),
                false,
            );
        }
    }
}

/// A line about a stack that stays: printed in full, above the live view.
pub(super) fn say(stack: &StackManifest, message: impl std::fmt::Display) {
    let message = printable(&message.to_string());
    match LIVE.get() {
        Some(live) => {
            let _ = live.view.println(format!("{}: {message}", prefix(stack)));
        }
        None => println!("{}: {message}", prefix(stack)),
    }
}

/// A stack's state changed (an event): its line in the live view, a plain line otherwise.
/// A failure is printed in full either way.
pub(super) fn status(stack: &StackManifest, message: &str, failed: bool) {
    let message = printable(message);
    let message = message.as_str();
    match LIVE.get() {
        Some(live) => {
            bar(live, stack).set_message(message.to_owned());
            if failed {
                let _ = live.view.println(format!("{}: {message}", prefix(stack)));
            }
        }
        None => println!("{}: {message}", prefix(stack)),
    }
}

/// A stack is done: its line in the live view says how it ended.
pub(super) fn done(stack: &StackManifest, how: &str) {
    if let Some(live) = LIVE.get() {
        let bar = bar(live, stack);
        bar.disable_steady_tick();
        bar.finish_with_message(how.to_owned());
    }
}

/// Ends the live view before the summary is printed.
pub fn finish() {
    if let Some(live) = LIVE.get() {
        let bars = live.bars.lock().unwrap_or_else(|p| p.into_inner());
        for bar in bars.values() {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }
}
