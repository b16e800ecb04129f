//! Property tests (fuzzing) of what untrusted call arguments can become on the wire.
//!
//! * `sanitize` + `attach_body`: for any arguments and any find_tools id (which comes from the
//!   Letta API, so is not trusted either), the body is ASCII JSON equal to an independently
//!   built reference object, with the bounds of BEHAVIOUR.md §1 (limit, min_score) and its keep_tools rules.
//! * `encode_segment`: any agent id stays exactly one path segment of the lookup URL on the
//!   same host once the URL is parsed (as reqwest parses it, dot-segments collapsed), and
//!   decodes back to itself; `.` and `..` get no lookup URL at all.
//!
//! `PROPTEST_CASES` sets the number of cases per property (proptest's default is 256); a long
//! run is e.g. `PROPTEST_CASES=200000 cargo test --release --test fuzz_args` (see SECURITY.md).

use letta_find_tools::args::{
    attach_body, is_python_space, sanitize, CallArgs, HeartbeatArg, KeepTools, NumberArg, RawArgs,
};
use letta_find_tools::lookup::encode_segment;
use letta_find_tools::pyjson::{self, PyStr, Value};
use proptest::prelude::*;

/// Text with what makes arguments interesting: commas, spaces, quotes, controls, path and
/// URL syntax, non-ASCII.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(
            prop::sample::select(vec![
                "a",
                "tool-1",
                ",",
                " ",
                "  ",
                "\t",
                "\n",
                "\r\n",
                "\0",
                "\"",
                "\\",
                "/",
                "..",
                ".",
                "%2F",
                "%",
                "?",
                "#",
                "&",
                "=",
                "@",
                ":",
                "é",
                "😀",
                "\u{2028}",
                "\u{200b}",
                "\u{a0}",
                "\u{1c}",
                "\u{1f}",
                "\u{3000}",
                "__proto__",
                "constructor",
            ]),
            0..16,
        )
        .prop_map(|parts| parts.concat()),
    ]
}

/// Numbers and numeric-looking text, as a JS caller or an agent may send them.
fn number_arg() -> impl Strategy<Value = NumberArg> {
    prop_oneof![
        Just(NumberArg::Missing),
        any::<f64>().prop_map(NumberArg::Number),
        prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-0.0),
            Just(1e300),
            -1e3f64..1e3
        ]
        .prop_map(NumberArg::Number),
        "[ \t]{0,2}[+-]?[0-9]{0,4}(\\.[0-9]{0,3})?([eE][+-]?[0-9]{1,3})?[ \t]{0,2}"
            .prop_map(NumberArg::Text),
        prop_oneof![
            Just("NaN"),
            Just("inf"),
            Just("-Infinity"),
            Just("1_0"),
            Just("0x10"),
            Just("")
        ]
        .prop_map(|t| NumberArg::Text(t.to_owned())),
        text().prop_map(NumberArg::Text),
    ]
}

fn raw_args() -> impl Strategy<Value = RawArgs> {
    (
        prop::option::of(text()),
        prop::option::of(text()),
        prop_oneof![
            Just(KeepTools::Missing),
            text().prop_map(KeepTools::Csv),
            prop::collection::vec(text(), 0..12).prop_map(KeepTools::List),
        ],
        number_arg(),
        number_arg(),
        prop_oneof![
            Just(None),
            any::<bool>().prop_map(|b| Some(HeartbeatArg::Bool(b))),
            prop_oneof![Just("true".to_owned()), Just("TRUE".to_owned()), text()]
                .prop_map(|t| Some(HeartbeatArg::Text(t))),
        ],
    )
        .prop_map(
            |(query, agent_id, keep_tools, limit, min_score, request_heartbeat)| RawArgs {
                query,
                agent_id,
                keep_tools,
                limit,
                min_score,
                request_heartbeat,
            },
        )
}

fn string(s: &str) -> Value {
    Value::Str(PyStr::Utf8(s.to_owned()))
}

/// The attach body of BEHAVIOUR.md §4 built as a value, for `pyjson` to spell.
fn reference_body(args: &CallArgs, tool_id: &str) -> Value {
    let mut keep = vec![string(tool_id)];
    keep.extend(
        args.keep_tools
            .iter()
            .filter(|t| *t != tool_id)
            .map(|t| string(t)),
    );
    let mut fields = vec![
        (PyStr::from("limit"), Value::Int(args.limit.to_string())),
        (PyStr::from("min_score"), Value::Float(args.min_score)),
        (PyStr::from("keep_tools"), Value::Array(keep)),
        (
            PyStr::from("request_heartbeat"),
            Value::Bool(args.request_heartbeat),
        ),
    ];
    if let Some(query) = &args.query {
        fields.push((PyStr::from("query"), string(query)));
    }
    if let Some(agent_id) = &args.agent_id {
        fields.push((PyStr::from("agent_id"), string(agent_id)));
    }
    Value::Object(fields)
}

fn percent_decode(segment: &str) -> Vec<u8> {
    let bytes = segment.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

proptest! {
    #[test]
    fn sanitised_arguments_keep_their_bounds(raw in raw_args(), max_limit in 1u32..1000) {
        let given_query = raw.query.clone();
        let given_agent = raw.agent_id.clone();
        let args = sanitize(raw, max_limit);
        prop_assert!((1..=max_limit).contains(&args.limit), "limit {}", args.limit);
        prop_assert!(args.min_score.is_finite() && (0.0..=100.0).contains(&args.min_score));
        prop_assert_eq!(args.query, given_query.filter(|q| !q.is_empty()));
        prop_assert_eq!(args.agent_id, given_agent.filter(|a| !a.is_empty()));
        let mut seen = std::collections::HashSet::new();
        for item in &args.keep_tools {
            prop_assert!(!item.is_empty() && !item.contains(','), "{item:?}");
            prop_assert_eq!(item.trim_matches(is_python_space), item.as_str());
            prop_assert!(seen.insert(item.clone()), "{item:?} twice");
        }
    }

    #[test]
    fn the_attach_body_is_the_reference_object_in_ascii_json(
        raw in raw_args(), tool_id in text(), max_limit in 1u32..100
    ) {
        let args = sanitize(raw, max_limit);
        let body = attach_body(&args, &tool_id);
        prop_assert!(body.is_ascii(), "{body:?}");
        let mut want = String::new();
        pyjson::write_value(&mut want, &reference_body(&args, &tool_id), true);
        prop_assert_eq!(&body, &want);
        let parsed = pyjson::parse(&body);
        prop_assert!(parsed.is_ok(), "{body:?} is not JSON");
        let parsed = parsed.unwrap();
        let keep = match parsed.get("keep_tools") {
            Some(Value::Array(items)) => items.clone(),
            other => panic!("keep_tools is {other:?}"),
        };
        prop_assert_eq!(keep[0].as_str(), Some(tool_id.as_str()));
        prop_assert!(keep[1..].iter().all(|t| t.as_str() != Some(tool_id.as_str())));
    }

    #[test]
    fn an_agent_id_stays_one_path_segment_on_the_same_host(agent_id in text()) {
        let Some(segment) = encode_segment(&agent_id) else {
            // Dot-segments have no lookup URL at all: parsers collapse them in any spelling.
            prop_assert!(agent_id == "." || agent_id == "..", "{agent_id:?} refused");
            return Ok(());
        };
        let bytes = segment.as_bytes();
        for (i, b) in bytes.iter().enumerate() {
            let plain = b.is_ascii_alphanumeric() || b"-_.~".contains(b);
            let escape = *b == b'%'
                && bytes.len() > i + 2
                && bytes[i + 1..i + 3].iter().all(|h| h.is_ascii_hexdigit());
            let in_escape = i >= 1 && bytes[i - 1] == b'%' || i >= 2 && bytes[i - 2] == b'%';
            prop_assert!(plain || escape || in_escape, "{segment:?} byte {i}");
        }
        prop_assert_eq!(percent_decode(&segment), agent_id.as_bytes().to_vec());

        let url = format!("http://letta.internal:8283/v1/agents/{segment}/tools");
        let parsed = url::Url::parse(&url);
        prop_assert!(parsed.is_ok(), "{url:?}");
        let parsed = parsed.unwrap();
        prop_assert_eq!(parsed.host_str(), Some("letta.internal"));
        prop_assert_eq!(parsed.port(), Some(8283));
        prop_assert_eq!(parsed.query(), None);
        prop_assert_eq!(parsed.fragment(), None);
        let segments: Vec<&str> = parsed.path_segments().unwrap().collect();
        prop_assert_eq!(segments, vec!["v1", "agents", segment.as_str(), "tools"]);
    }
}
