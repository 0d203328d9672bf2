//! The log lines of the case being run: what the component printed (its
//! stdout and stderr become `component` log events) and the host's warnings
//! about it (a denied capability, a trap), so a failing case can show them.

use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Most lines kept per case: a component printing in a loop must not eat memory.
const MAX_LINES: usize = 2000;

/// Take (and clear) the lines captured since the last call.
pub fn take() -> Vec<String> {
    std::mem::take(&mut *LINES.lock().unwrap_or_else(PoisonError::into_inner))
}

/// Install the capturing subscriber as the global default (a no-op if the
/// process already has one, e.g. a test binary that set its own).
pub fn install() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Capture));
}

/// A layer that keeps component output and host warnings.
pub struct Capture;

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let from_component = meta.target() == "component";
        if !from_component && *meta.level() > Level::WARN {
            return;
        }
        let mut line = Line::default();
        event.record(&mut line);
        let text = if from_component {
            format!(
                "[{}] {}",
                line.stream.as_deref().unwrap_or("log"),
                line.message
            )
        } else {
            format!("[host {}] {}{}", meta.level(), line.message, line.fields)
        };
        let mut lines = LINES.lock().unwrap_or_else(PoisonError::into_inner);
        if lines.len() < MAX_LINES {
            lines.push(text);
        }
    }
}

#[derive(Default)]
struct Line {
    message: String,
    stream: Option<String>,
    fields: String,
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            "stream" => self.stream = Some(value.to_string()),
            name => {
                let _ = write!(self.fields, " {name}={value}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "stream" => self.stream = Some(format!("{value:?}")),
            name => {
                let _ = write!(self.fields, " {name}={value:?}");
            }
        }
    }
}
