//! The addon's warnings, each deduplicated here (`warn_once`) whoever writes them out.
//!
//! A host with its own log (the MCP server) registers a listener and gets each warning as a
//! bare message, to write in its own format; with none (a library user), the warning goes to
//! stderr. Never stdout: in the MCP server's stdio mode it carries the protocol.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};

use once_cell::sync::Lazy;

static SEEN: Lazy<Mutex<HashSet<String>>> = Lazy::new(|| Mutex::new(HashSet::new()));

/// Takes a warning's message from whichever thread warns (tokio threads included); returns
/// whether it took it, so a listener that can no longer deliver (its JS environment gone)
/// leaves the warning to stderr instead of losing it. Must not block.
pub type Listener = Arc<dyn Fn(&str) -> bool + Send + Sync>;

static LISTENER: RwLock<Option<Listener>> = RwLock::new(None);

const PREFIX: &str = "[letta-find-tools]";

/// Sends every later warning to `listener` instead of stderr (`None`: back to stderr). One
/// listener per process: a later one replaces it.
pub fn set_listener(listener: Option<Listener>) {
    *LISTENER.write().unwrap_or_else(|e| e.into_inner()) = listener;
}

/// Warns about `message` once per process. Callers must never put a secret in `message`.
pub fn warn_once(message: &str) {
    let first_time = SEEN
        .lock()
        .map(|mut seen| seen.insert(message.to_owned()))
        .unwrap_or(true);
    if first_time {
        warn(message);
    }
}

/// Warns every time: for changes of state a reader of the log must see each time they happen.
/// Callers must never put a secret in `message`.
pub fn warn(message: &str) {
    // Called outside the lock: a listener may warn, or replace itself, while it runs.
    let listener = LISTENER.read().unwrap_or_else(|e| e.into_inner()).clone();
    let taken = listener.is_some_and(|listener| listener(message));
    if !taken {
        to_stderr(message);
    }
}

/// The line a warning is when no listener takes it.
pub fn to_stderr(message: &str) {
    eprintln!("{PREFIX} warning: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    // The listener is process-wide and other tests warn in parallel: each test here looks only
    // at its own messages, and they run one at a time.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

    fn capture(taken: bool) -> Arc<Mutex<Vec<String>>> {
        let heard = Arc::new(Mutex::new(Vec::new()));
        let sink = heard.clone();
        set_listener(Some(Arc::new(move |message| {
            sink.lock().unwrap().push(message.to_owned());
            taken
        })));
        heard
    }

    fn heard_of(heard: &Mutex<Vec<String>>, marker: &str) -> Vec<String> {
        let heard = heard.lock().unwrap();
        heard
            .iter()
            .filter(|m| m.contains(marker))
            .cloned()
            .collect()
    }

    #[test]
    fn a_listener_hears_each_warn_once_message_once() {
        let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let heard = capture(true);
        warn_once("log-test once: a");
        warn_once("log-test once: a");
        warn_once("log-test once: b");
        set_listener(None);
        assert_eq!(
            heard_of(&heard, "log-test once"),
            ["log-test once: a", "log-test once: b"]
        );
    }

    #[test]
    fn a_listener_hears_warn_every_time() {
        let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let heard = capture(true);
        warn("log-test every time");
        warn("log-test every time");
        set_listener(None);
        assert_eq!(heard_of(&heard, "log-test every time").len(), 2);
    }

    #[test]
    fn a_warning_the_listener_refused_still_counts_as_warned() {
        let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        // Refused (printed to stderr instead), yet seen: a later listener does not get it again.
        let refusing = capture(false);
        warn_once("log-test refused");
        let heard = capture(true);
        warn_once("log-test refused");
        set_listener(None);
        assert_eq!(heard_of(&refusing, "log-test refused").len(), 1);
        assert!(heard_of(&heard, "log-test refused").is_empty());
    }

    #[test]
    fn without_a_listener_nothing_is_handed_on() {
        let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let heard = capture(true);
        set_listener(None);
        warn("log-test after removal");
        assert!(heard_of(&heard, "log-test after removal").is_empty());
    }
}
