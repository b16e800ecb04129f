//! Warnings to stderr, each at most once per process.
//!
//! stdout is not ours: in the MCP server's stdio mode it carries the protocol, so every line
//! this library prints goes to stderr.

use std::collections::HashSet;
use std::sync::Mutex;

use once_cell::sync::Lazy;

static SEEN: Lazy<Mutex<HashSet<String>>> = Lazy::new(|| Mutex::new(HashSet::new()));

pub const PREFIX: &str = "[letta-find-tools]";

/// Prints `message` once per process. Callers must never put a secret in `message`.
pub fn warn_once(message: &str) {
    let first_time = SEEN
        .lock()
        .map(|mut seen| seen.insert(message.to_owned()))
        .unwrap_or(true);
    if first_time {
        eprintln!("{PREFIX} warning: {message}");
    }
}

/// Prints `message` every time: for changes of state a reader of the log must see each time
/// they happen. Callers must never put a secret in `message`.
pub fn warn(message: &str) {
    eprintln!("{PREFIX} warning: {message}");
}
