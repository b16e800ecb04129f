//! Argument sanitising (BEHAVIOUR.md §1) and the attach request body (BEHAVIOUR.md §4).

use crate::pyjson::{write_float, write_str};

pub const DEFAULT_LIMIT: u32 = 10;
pub const DEFAULT_MIN_SCORE: f64 = 50.0;

/// A numeric argument as the caller gave it: JS numbers and numeric strings are both accepted.
#[derive(Debug, Clone, PartialEq)]
pub enum NumberArg {
    Missing,
    Number(f64),
    Text(String),
}

impl NumberArg {
    /// The value, if any: empty or non-numeric text and NaN count as absent, ±Inf does not.
    fn number(&self) -> Option<f64> {
        let value = match self {
            NumberArg::Missing => return None,
            NumberArg::Number(n) => *n,
            NumberArg::Text(text) => text.trim().parse::<f64>().ok()?,
        };
        (!value.is_nan()).then_some(value)
    }

    /// The finite value, if any.
    fn finite(&self) -> Option<f64> {
        self.number().filter(|n| n.is_finite())
    }
}

/// `keep_tools` before sanitising: a comma-separated string or a list.
#[derive(Debug, Clone, PartialEq)]
pub enum KeepTools {
    Missing,
    Csv(String),
    List(Vec<String>),
}

/// Arguments after type checks, before the value rules of BEHAVIOUR.md §1 are applied.
#[derive(Debug, Clone, PartialEq)]
pub struct RawArgs {
    pub query: Option<String>,
    pub agent_id: Option<String>,
    pub keep_tools: KeepTools,
    pub limit: NumberArg,
    pub min_score: NumberArg,
    pub request_heartbeat: Option<HeartbeatArg>,
}

impl Default for RawArgs {
    fn default() -> Self {
        RawArgs {
            query: None,
            agent_id: None,
            keep_tools: KeepTools::Missing,
            limit: NumberArg::Missing,
            min_score: NumberArg::Missing,
            request_heartbeat: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum HeartbeatArg {
    Bool(bool),
    Text(String),
}

/// The values that go on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct CallArgs {
    pub query: Option<String>,
    pub agent_id: Option<String>,
    /// User items, trimmed, de-duplicated; the find_tools id is prepended when the body is built.
    pub keep_tools: Vec<String>,
    pub limit: u32,
    pub min_score: f64,
    pub request_heartbeat: bool,
}

pub fn sanitize(raw: RawArgs, max_limit: u32) -> CallArgs {
    CallArgs {
        query: raw.query.filter(|q| !q.is_empty()),
        agent_id: raw.agent_id.filter(|a| !a.is_empty()),
        keep_tools: keep_tools(raw.keep_tools),
        limit: limit(&raw.limit, max_limit),
        min_score: min_score(&raw.min_score),
        request_heartbeat: match raw.request_heartbeat {
            Some(HeartbeatArg::Bool(b)) => b,
            Some(HeartbeatArg::Text(t)) => t.eq_ignore_ascii_case("true"),
            None => false,
        },
    }
}

fn keep_tools(raw: KeepTools) -> Vec<String> {
    let items: Vec<String> = match raw {
        KeepTools::Missing => return Vec::new(),
        KeepTools::Csv(csv) => csv.split(',').map(str::to_owned).collect(),
        // A list item may itself hold commas; the legacy script only ever saw the joined string.
        KeepTools::List(list) => list
            .iter()
            .flat_map(|item| item.split(','))
            .map(str::to_owned)
            .collect(),
    };
    let mut kept: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for item in items {
        let trimmed = item.trim_matches(is_python_space);
        if !trimmed.is_empty() && seen.insert(trimmed.to_owned()) {
            kept.push(trimmed.to_owned());
        }
    }
    kept
}

/// Python's `str.isspace()`, which `str.strip()` strips: Unicode white space and also the
/// separators U+001C–U+001F, which Rust's `char::is_whitespace` leaves out.
pub fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn limit(raw: &NumberArg, max_limit: u32) -> u32 {
    match raw.finite() {
        // Clamping in f64 first keeps huge values from overflowing the integer conversion.
        Some(n) => n.floor().clamp(1.0, f64::from(max_limit.max(1))) as u32,
        None => DEFAULT_LIMIT.min(max_limit.max(1)),
    }
}

/// Infinity is clamped like any other number (+Inf → 100.0, -Inf → 0.0), as legacy did.
fn min_score(raw: &NumberArg) -> f64 {
    raw.number()
        .map_or(DEFAULT_MIN_SCORE, |n| n.clamp(0.0, 100.0))
}

/// The attach body, keys in the legacy order and spelled as Python's `json.dumps` (ASCII-only,
/// `min_score` always a float).
pub fn attach_body(args: &CallArgs, find_tools_id: &str) -> String {
    let mut body = String::with_capacity(160 + args.keep_tools.len() * 24);
    body.push_str("{\"limit\": ");
    body.push_str(&args.limit.to_string());
    body.push_str(", \"min_score\": ");
    write_float(&mut body, args.min_score);
    body.push_str(", \"keep_tools\": [");
    write_str(&mut body, find_tools_id, true);
    for item in args.keep_tools.iter().filter(|item| *item != find_tools_id) {
        body.push_str(", ");
        write_str(&mut body, item, true);
    }
    body.push_str("], \"request_heartbeat\": ");
    body.push_str(if args.request_heartbeat {
        "true"
    } else {
        "false"
    });
    if let Some(query) = &args.query {
        body.push_str(", \"query\": ");
        write_str(&mut body, query, true);
    }
    if let Some(agent_id) = &args.agent_id {
        body.push_str(", \"agent_id\": ");
        write_str(&mut body, agent_id, true);
    }
    body.push('}');
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut RawArgs)) -> CallArgs {
        let mut raw = RawArgs::default();
        f(&mut raw);
        sanitize(raw, 25)
    }

    #[test]
    fn defaults() {
        let args = with(|_| {});
        assert_eq!(args.limit, 10);
        assert_eq!(args.min_score, 50.0);
        assert!(!args.request_heartbeat);
        assert_eq!(args.query, None);
        assert!(args.keep_tools.is_empty());
    }

    #[test]
    fn limit_rules() {
        let cases = [
            (NumberArg::Number(5.0), 5),
            (NumberArg::Number(99.0), 25),
            (NumberArg::Number(-3.0), 1),
            (NumberArg::Number(0.0), 1),
            (NumberArg::Text("3.7".into()), 3),
            (NumberArg::Text(" 8 ".into()), 8),
            (NumberArg::Text("".into()), 10),
            (NumberArg::Text("abc".into()), 10),
            (NumberArg::Number(f64::NAN), 10),
            (NumberArg::Number(f64::INFINITY), 10),
            (NumberArg::Number(1e300), 25),
        ];
        for (raw, want) in cases {
            let got = with(|a| a.limit = raw.clone()).limit;
            assert_eq!(got, want, "limit from {raw:?}");
        }
        assert_eq!(sanitize(RawArgs::default(), 7).limit, 7);
    }

    #[test]
    fn min_score_rules() {
        let cases = [
            (NumberArg::Number(42.5), 42.5),
            (NumberArg::Number(150.0), 100.0),
            (NumberArg::Number(-5.0), 0.0),
            (NumberArg::Text("12.25".into()), 12.25),
            (NumberArg::Text("abc".into()), 50.0),
            (NumberArg::Number(f64::NAN), 50.0),
            (NumberArg::Text("nan".into()), 50.0),
            (NumberArg::Number(f64::INFINITY), 100.0),
            (NumberArg::Number(f64::NEG_INFINITY), 0.0),
            (NumberArg::Text("Infinity".into()), 100.0),
            (NumberArg::Text(" -inf ".into()), 0.0),
        ];
        for (raw, want) in cases {
            let got = with(|a| a.min_score = raw.clone()).min_score;
            assert_eq!(got, want, "min_score from {raw:?}");
        }
    }

    #[test]
    fn heartbeat_rules() {
        let hb = |h: Option<HeartbeatArg>| with(|a| a.request_heartbeat = h).request_heartbeat;
        assert!(hb(Some(HeartbeatArg::Bool(true))));
        assert!(hb(Some(HeartbeatArg::Text("TRUE".into()))));
        assert!(!hb(Some(HeartbeatArg::Text("yes".into()))));
        assert!(!hb(Some(HeartbeatArg::Bool(false))));
        assert!(!hb(None));
    }

    #[test]
    fn keep_tools_are_split_trimmed_and_deduplicated() {
        let args = with(|a| a.keep_tools = KeepTools::Csv(" a, b ,a,,tool-exact , c".into()));
        assert_eq!(args.keep_tools, ["a", "b", "tool-exact", "c"]);
        let args =
            with(|a| a.keep_tools = KeepTools::List(vec![" x ".into(), "y,x".into(), "".into()]));
        assert_eq!(args.keep_tools, ["x", "y"]);
    }

    #[test]
    fn keep_tools_are_stripped_as_python_strips() {
        let args = with(|a| {
            a.keep_tools =
                KeepTools::Csv("\u{1f}a,b\u{1c},\u{2003}c\u{a0},\u{1d}\u{1e},d\u{200b}".into())
        });
        // U+200B (zero-width space) is not white space to Python either.
        assert_eq!(args.keep_tools, ["a", "b", "c", "d\u{200b}"]);
        for c in ['\u{1c}', '\u{1f}', '\t', '\u{b}', '\u{85}', '\u{3000}'] {
            assert!(is_python_space(c), "{c:?}");
        }
        for c in ['\u{1b}', '\u{200b}', '\u{feff}', 'a'] {
            assert!(!is_python_space(c), "{c:?}");
        }
    }

    #[test]
    fn body_matches_the_legacy_spelling() {
        let args = CallArgs {
            query: Some("search web".into()),
            agent_id: Some("agent-1".into()),
            keep_tools: vec!["a".into(), "tool-ft".into(), "b".into()],
            limit: 5,
            min_score: 40.0,
            request_heartbeat: true,
        };
        assert_eq!(
            attach_body(&args, "tool-ft"),
            r#"{"limit": 5, "min_score": 40.0, "keep_tools": ["tool-ft", "a", "b"], "request_heartbeat": true, "query": "search web", "agent_id": "agent-1"}"#
        );
    }

    #[test]
    fn body_omits_empty_query_and_agent_and_escapes_non_ascii() {
        let args = with(|a| {
            a.query = Some("café — 😀".into());
            a.agent_id = Some(String::new());
        });
        assert_eq!(
            attach_body(&args, "t"),
            r#"{"limit": 10, "min_score": 50.0, "keep_tools": ["t"], "request_heartbeat": false, "query": "caf\u00e9 \u2014 \ud83d\ude00"}"#
        );
        let args = with(|a| a.query = Some(String::new()));
        assert_eq!(
            attach_body(&args, "t"),
            r#"{"limit": 10, "min_score": 50.0, "keep_tools": ["t"], "request_heartbeat": false}"#
        );
    }
}
