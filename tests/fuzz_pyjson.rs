//! Property tests (fuzzing) of the Python-style JSON reader and writer.
//!
//! * Any value written by `pyjson` parses back to the same value, in both `ensure_ascii` modes.
//! * CPython's `json` module is the reference: it must accept what `pyjson` writes and re-spell
//!   it byte for byte the same, and for arbitrary JSON-like text (valid or not) it must accept
//!   and reject exactly what `pyjson` does, spelling the accepted documents the same way.
//! * Arbitrary bytes never make the parser panic, and what it accepts is stable once written.
//!
//! `PROPTEST_CASES` sets the number of cases per property (proptest's default is 256); a long
//! run is e.g. `PROPTEST_CASES=200000 cargo test --release --test fuzz_pyjson` (see SECURITY.md).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

mod common;

use common::ORACLE;
use letta_find_tools::pyjson::{self, PyStr, Value};
use proptest::prelude::*;

struct Oracle {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

static PYTHON: Mutex<Option<Oracle>> = Mutex::new(None);

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Rejected,
    Accepted { plain: String, ascii: String },
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> String {
    let bytes: Vec<u8> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex from the oracle"))
        .collect();
    String::from_utf8(bytes).expect("the oracle writes UTF-8")
}

/// CPython's verdict on `text`.
fn python(text: &str) -> Verdict {
    let mut guard = PYTHON.lock().unwrap_or_else(|e| e.into_inner());
    let oracle = guard.get_or_insert_with(|| {
        let mut child = Command::new("python3")
            .args(["-c", ORACLE])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 is needed as the JSON reference");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Oracle {
            _child: child,
            stdin,
            stdout,
        }
    });
    writeln!(oracle.stdin, "{}", hex(text.as_bytes())).expect("writing to python3");
    oracle.stdin.flush().expect("flushing to python3");
    let mut line = String::new();
    oracle
        .stdout
        .read_line(&mut line)
        .expect("reading from python3");
    let mut parts = line.split_whitespace();
    match parts.next() {
        Some("ERR") => Verdict::Rejected,
        Some("OK") => Verdict::Accepted {
            plain: unhex(parts.next().unwrap_or("")),
            ascii: unhex(parts.next().unwrap_or("")),
        },
        _ => panic!("unexpected oracle line {line:?}"),
    }
}

fn pyjson_verdict(text: &str) -> Verdict {
    match pyjson::parse(text) {
        Err(_) => Verdict::Rejected,
        Ok(value) => Verdict::Accepted {
            plain: write(&value, false),
            ascii: write(&value, true),
        },
    }
}

fn write(value: &Value, ascii: bool) -> String {
    let mut out = String::new();
    pyjson::write_value(&mut out, value, ascii);
    out
}

/// Value equality where NaN equals NaN and -0.0 differs from 0.0 (PartialEq says otherwise).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => {
            (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits()
        }
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same(x, y))
        }
        (Value::Object(xs), Value::Object(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .zip(ys)
                    .all(|((kx, x), (ky, y))| kx == ky && same(x, y))
        }
        _ => a == b,
    }
}

fn int() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(|n| Value::Int(n.to_string())),
        // Beyond 64 bits: Python ints keep every digit.
        ("-?[1-9][0-9]{0,60}").prop_map(Value::Int),
    ]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(1e16),
        Just(1e-5),
        (-1000i32..1000, -30i32..30).prop_map(|(m, e)| f64::from(m) * 10f64.powi(e)),
    ]
}

/// Text with the characters that need care: quotes, backslashes, controls, DEL, U+2028,
/// non-BMP, as well as anything else.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(
            prop::sample::select(vec![
                'a',
                '"',
                '\\',
                '/',
                '\n',
                '\r',
                '\t',
                '\u{8}',
                '\u{c}',
                '\0',
                '\u{1f}',
                '\u{7f}',
                '\u{80}',
                'é',
                '\u{2028}',
                '\u{feff}',
                '😀',
                '\u{10ffff}',
            ]),
            0..12,
        )
        .prop_map(|chars| chars.into_iter().collect()),
    ]
}

/// A Python `str`: UTF-8 text, or text holding one unpaired surrogate.
fn py_str() -> impl Strategy<Value = PyStr> {
    prop_oneof![
        4 => text().prop_map(PyStr::Utf8),
        1 => (text(), 0xd800u16..=0xdfff, any::<prop::sample::Index>()).prop_map(
            |(text, unit, at)| {
                let mut units: Vec<u16> = text.encode_utf16().collect();
                // Between two whole characters, and never next to a surrogate that would pair.
                let mut cut = at.index(units.len() + 1);
                while cut > 0 && cut < units.len() && (0xdc00..=0xdfff).contains(&units[cut]) {
                    cut -= 1;
                }
                units.insert(cut, unit);
                if String::from_utf16(&units).is_ok() {
                    // It paired after all; such a string is plain text.
                    PyStr::Utf8(String::from_utf16(&units).unwrap())
                } else {
                    PyStr::Wtf16(units)
                }
            }
        ),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        int(),
        float().prop_map(Value::Float),
        py_str().prop_map(Value::Str),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            // Keys are unique: a repeated key collapses when parsed, tested separately.
            prop::collection::vec((py_str(), inner), 0..8).prop_map(|entries| {
                let mut seen = Vec::new();
                Value::Object(
                    entries
                        .into_iter()
                        .filter(|(k, _)| {
                            let fresh = !seen.contains(k);
                            seen.push(k.clone());
                            fresh
                        })
                        .collect(),
                )
            }),
        ]
    })
}

/// JSON-like text: fragments of valid and invalid documents glued at random.
fn json_like() -> impl Strategy<Value = String> {
    let tokens = vec![
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        " ",
        "\n",
        "\"a\"",
        "\"k\"",
        "\"\\u00e9\"",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"\\\\\"",
        "\"\\/\"",
        "\"\\x\"",
        "\"",
        "\"\u{1}\"",
        "\"é😀\"",
        "0",
        "1",
        "-",
        "-0",
        "01",
        ".5",
        "1.5E3",
        "e",
        "E+",
        "1e400",
        "-1e-400",
        "12345678901234567890123",
        "NaN",
        "Infinity",
        "-Infinity",
        "true",
        "false",
        "null",
        "nul",
        "\u{feff}",
        "\t",
        "\r",
    ];
    prop::collection::vec(prop::sample::select(tokens), 0..24).prop_map(|parts| parts.concat())
}

proptest! {
    #[test]
    fn written_values_parse_back_to_themselves(value in value()) {
        for ascii in [false, true] {
            let text = write(&value, ascii);
            let parsed = pyjson::parse(&text);
            prop_assert!(parsed.is_ok(), "{text:?} rejected: {parsed:?}");
            let parsed = parsed.unwrap();
            prop_assert!(same(&parsed, &value), "{text:?} parsed as {parsed:?}");
            if ascii {
                prop_assert!(text.is_ascii(), "{text:?}");
            }
        }
    }

    #[test]
    fn python_reads_and_respells_what_pyjson_writes(value in value()) {
        let text = write(&value, false);
        let want = Verdict::Accepted { plain: text.clone(), ascii: write(&value, true) };
        prop_assert_eq!(python(&text), want, "document {:?}", text);
    }

    #[test]
    fn python_and_pyjson_agree_on_json_like_text(text in json_like()) {
        prop_assert_eq!(pyjson_verdict(&text), python(&text), "document {:?}", text);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_normalise_stably(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            json_like().prop_map(String::into_bytes),
        ]
    ) {
        if let Ok(value) = pyjson::parse_bytes(&bytes) {
            let once = pyjson::to_string(&value);
            let again = pyjson::parse(&once);
            prop_assert!(again.is_ok(), "{once:?} rejected");
            prop_assert_eq!(pyjson::to_string(&again.unwrap()), once);
        }
    }

    #[test]
    fn a_repeated_key_keeps_its_first_place_and_last_value(
        first in any::<i32>(), middle in any::<bool>(), last in any::<i32>()
    ) {
        let text = format!(r#"{{"k": {first}, "m": {middle}, "k": {last}}}"#);
        prop_assert_eq!(
            pyjson::to_string(&pyjson::parse(&text).unwrap()),
            format!(r#"{{"k": {last}, "m": {middle}}}"#)
        );
    }
}
