//! Differential test: random documents are decided and re-encoded by CPython's `json`
//! module and by `pyjson`, and the outputs must agree byte for byte.

use std::io::Write;
use std::process::{Command, Stdio};

mod common;

use common::ORACLE;
use letta_find_tools::pyjson::{self, PyStr, Value};

const DOCUMENTS: usize = 10_000;

/// SplitMix64: tiny, deterministic, good enough to spread choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    fn digits(&mut self, out: &mut String, n: usize) {
        for _ in 0..n {
            out.push(char::from(b'0' + self.below(10) as u8));
        }
    }
}

/// Fragments Python must reject wherever a value may appear.
const BAD_VALUES: &[&str] = &[
    r#""\x""#,
    r#""\U0041""#,
    r#""\u12""#,
    r#""\u12G4""#,
    r#""\ud800\u12""#,
    "\"a\u{1}b\"",
    "\"\u{1f}\"",
    "\"tab\there\"",
    "\"line\nbreak\"",
    "\"unterminated",
    "01",
    "-01",
    "00",
    "1.",
    ".5",
    "1e",
    "1.e5",
    "+1",
    "-",
    "--1",
    "nan",
    "inf",
    "-NaN",
    "True",
    "None",
    "nul",
    "[1,]",
    "[,]",
    r#"{"a":1,}"#,
    "{'a':1}",
    "{1:2}",
    r#"{"a" 1}"#,
    r#"{"a":}"#,
    "[1 2]",
    "\u{c}1",
    "\u{a0}1",
    "\u{feff}1",
    "\u{2028}1",
    "0x1F",
    "1_0",
];

/// Spellings whose decoded value is at an edge of float parsing or repr.
const SPECIAL_FLOATS: &[&str] = &[
    "-0.0",
    "0.0",
    "0E0",
    "-0e-0",
    "1e400",
    "-1e400",
    "1E-400",
    "-1e-400",
    "2.2250738585072011e-308",
    "2.2250738585072014e-308",
    "4.9406564584124654e-324",
    "2.4703282292062327e-324",
    "2.4703282292062328e-324",
    "1.7976931348623157e308",
    "1.7976931348623158e308",
    "1.7976931348623159e308",
    "9007199254740993.0",
    "123456789012345.6",
    "1e15",
    "9999999999999998.0",
    "9999999999999999.0",
    "1e16",
    "0.0001",
    "0.00009999999999999999",
    "1e-5",
    "1.5E3",
    "1E+2",
    "0.1",
    "0.30000000000000004",
];

struct Gen {
    rng: Rng,
    /// Chance (percent) at each opportunity of making the document invalid; one defect per
    /// document, so that every kind of defect decides the verdict on its own.
    poison: usize,
    /// The kind of defect this document may get; fixed per document so that frequent
    /// opportunities (whitespace) do not crowd out rare ones (escapes).
    defect_kind: Defect,
}

#[derive(Clone, Copy, PartialEq)]
enum Defect {
    Value,
    Whitespace,
    InString,
    LongInt,
}

impl Gen {
    fn defect(&mut self, kind: Defect) -> bool {
        let hit = self.defect_kind == kind && self.rng.chance(self.poison);
        if hit {
            self.poison = 0;
        }
        hit
    }

    fn ws(&mut self, out: &mut String) {
        if self.defect(Defect::Whitespace) {
            out.push(
                self.rng
                    .pick(&['\u{b}', '\u{c}', '\u{a0}', '\u{2028}', '\u{3000}']),
            );
        }
        if self.rng.chance(50) {
            for _ in 0..=self.rng.below(3) {
                out.push(self.rng.pick(&[' ', '\t', '\n', '\r']));
            }
        }
    }

    /// A value; `spine` more levels of nesting are forced below it, `budget` limits the
    /// depth of the random branches hanging off the spine.
    fn value(&mut self, out: &mut String, spine: usize, budget: usize) {
        if spine == 0 && self.defect(Defect::Value) {
            out.push_str(self.rng.pick(BAD_VALUES));
            return;
        }
        let container = spine > 0 || (budget > 0 && self.rng.chance(35));
        if !container {
            return self.scalar(out);
        }
        let len = self.rng.below(5) + usize::from(spine > 0);
        let object = self.rng.chance(50);
        // A later repeated key would replace the spine, so in objects it goes last.
        let spine_at = if object {
            len.saturating_sub(1)
        } else {
            self.rng.below(len.max(1))
        };
        out.push(if object { '{' } else { '[' });
        self.ws(out);
        for i in 0..len {
            if i > 0 {
                out.push(',');
                self.ws(out);
            }
            if object {
                self.key(out);
                self.ws(out);
                out.push(':');
                self.ws(out);
            }
            if spine > 0 && i == spine_at {
                self.value(out, spine - 1, budget);
            } else {
                self.value(out, 0, budget.saturating_sub(1));
            }
            self.ws(out);
        }
        out.push(if object { '}' } else { ']' });
    }

    fn key(&mut self, out: &mut String) {
        const KEYS: &[&str] = &[
            r#""a""#,
            r#""b""#,
            r#""\u0061""#,
            r#""""#,
            "\"ké\"",
            r#""k\u00E9""#,
            r#""\ud800""#,
            r#""\ud83d\ude00""#,
            "\"😀\"",
            r#""\n""#,
        ];
        if self.rng.chance(70) {
            out.push_str(self.rng.pick(KEYS));
        } else {
            self.string(out);
        }
    }

    fn scalar(&mut self, out: &mut String) {
        match self.rng.below(10) {
            0 => out.push_str(self.rng.pick(&["null", "true", "false"])),
            1 => out.push_str(self.rng.pick(&["NaN", "Infinity", "-Infinity"])),
            2 | 3 => self.int(out),
            4..=6 => self.float(out),
            _ => self.string(out),
        }
    }

    fn int(&mut self, out: &mut String) {
        if self.rng.chance(20) {
            out.push('-');
        }
        let len = match self.rng.below(20) {
            0 => 4300,
            // Python refuses to convert these.
            1 if self.defect(Defect::LongInt) => 4301 + self.rng.below(800),
            2..=5 => 20 + self.rng.below(400),
            _ => 1 + self.rng.below(19),
        };
        if len == 1 {
            self.rng.digits(out, 1);
        } else {
            out.push(char::from(b'1' + self.rng.below(9) as u8));
            self.rng.digits(out, len - 1);
        }
    }

    fn float(&mut self, out: &mut String) {
        match self.rng.below(7) {
            0 => out.push_str(self.rng.pick(SPECIAL_FLOATS)),
            1 | 2 => {
                // Any finite double, subnormals included, printed by Rust in one of several
                // notations (shortest, truncated, over-long, full decimal).
                let f = loop {
                    let f = f64::from_bits(self.rng.next());
                    if f.is_finite() {
                        break f;
                    }
                };
                let text = match self.rng.below(5) {
                    0 => format!("{f:e}"),
                    1 => format!("{f:E}"),
                    2 => format!("{f:.3e}"),
                    3 => format!("{f:.25e}"),
                    _ => format!("{f:?}"),
                };
                out.push_str(&text);
            }
            3 => {
                // Binary fractions with 14-16 digits before the point are often exactly
                // halfway between two shortest decimal candidates.
                let f = (self.rng.next() >> 11) as f64 / self.rng.pick(&[1.0, 2.0, 4.0, 8.0, 16.0]);
                out.push_str(&format!("{f:?}"));
            }
            4 => {
                // Magnitudes around the repr switch between fixed and exponent notation.
                let f = (self.rng.below(1_000_000) as f64 + 0.5)
                    * 10f64.powi(self.rng.below(30) as i32 - 12);
                out.push_str(&format!("{f}"));
            }
            _ => {
                if self.rng.chance(30) {
                    out.push('-');
                }
                let int_len = 1 + self.rng.below(20);
                if int_len == 1 {
                    self.rng.digits(out, 1);
                } else {
                    out.push(char::from(b'1' + self.rng.below(9) as u8));
                    self.rng.digits(out, int_len - 1);
                }
                let fraction = self.rng.chance(60);
                if fraction {
                    out.push('.');
                    let n = 1 + self.rng.below(20);
                    self.rng.digits(out, n);
                }
                if !fraction || self.rng.chance(60) {
                    out.push(self.rng.pick(&['e', 'E']));
                    out.push_str(self.rng.pick(&["", "+", "-"]));
                    let exp = self.rng.below(420);
                    out.push_str(&format!("{exp:0width$}", width = 1 + self.rng.below(4)));
                }
            }
        }
    }

    fn string(&mut self, out: &mut String) {
        out.push('"');
        if self.defect(Defect::InString) {
            if self.rng.chance(50) {
                out.push(char::from(self.rng.below(0x20) as u8));
            } else {
                // Any printable after the backslash; most are invalid escapes.
                out.push('\\');
                out.push(char::from(b' ' + self.rng.below(95) as u8));
            }
        }
        for _ in 0..self.rng.below(8) {
            match self.rng.below(6) {
                0 => {
                    for _ in 0..=self.rng.below(6) {
                        out.push(
                            self.rng
                                .pick(&['a', 'Z', '0', ' ', '/', '\'', '<', '&', '~']),
                        );
                    }
                }
                1 => out.push_str(
                    self.rng
                        .pick(&[r#"\""#, r"\\", r"\/", r"\b", r"\f", r"\n", r"\r", r"\t"]),
                ),
                2 | 3 => self.unicode_escape(out),
                _ => out.push(self.raw_char()),
            }
        }
        out.push('"');
    }

    fn raw_char(&mut self) -> char {
        const CHARS: &[char] = &[
            'é',
            '中',
            '\u{2028}',
            '\u{2029}',
            '\u{7f}',
            '\u{80}',
            '\u{85}',
            '\u{9f}',
            '\u{a0}',
            '\u{feff}',
            '\u{fffd}',
            '\u{ffff}',
            '😀',
            '\u{10000}',
            '\u{10ffff}',
        ];
        if self.rng.chance(50) {
            return self.rng.pick(CHARS);
        }
        loop {
            let c = self.rng.below(0x11_0000) as u32;
            if let Some(c) = char::from_u32(c).filter(|&c| c >= ' ' && c != '"' && c != '\\') {
                return c;
            }
        }
    }

    fn unicode_escape(&mut self, out: &mut String) {
        let units: Vec<u16> = match self.rng.below(9) {
            0 => vec![self.rng.below(0x20) as u16],
            1 => vec![self
                .rng
                .pick(&[0x7f, 0x80, 0xe9, 0x2028, 0xfeff, 0xffff, 0x22, 0x5c, 0x2f])],
            2 => vec![self.rng.below(0x1_0000) as u16],
            3 | 4 => vec![self.high(), self.low()],
            5 => vec![self.high()],
            6 => vec![self.low()],
            7 => vec![self.low(), self.high()],
            _ => vec![self.high(), self.high(), self.low()],
        };
        for unit in units {
            out.push_str("\\u");
            for c in format!("{unit:04x}").chars() {
                out.push(if self.rng.chance(50) {
                    c.to_ascii_uppercase()
                } else {
                    c
                });
            }
        }
    }

    fn high(&mut self) -> u16 {
        0xD800 + self.rng.below(0x400) as u16
    }

    fn low(&mut self) -> u16 {
        0xDC00 + self.rng.below(0x400) as u16
    }

    fn document(&mut self, i: usize) -> String {
        let mut out = String::new();
        self.poison = if i % 4 == 3 { 10 } else { 0 };
        self.defect_kind = self.rng.pick(&[
            Defect::Value,
            Defect::Whitespace,
            Defect::InString,
            Defect::LongInt,
        ]);
        self.ws(&mut out);
        let spine = if i.is_multiple_of(5) {
            self.rng.below(61)
        } else {
            0
        };
        // Bushy branches all along a deep spine would make huge documents.
        self.value(&mut out, spine, if spine > 0 { 1 } else { 3 });
        self.ws(&mut out);
        match i % 8 {
            5 => out.push_str(
                self.rng
                    .pick(&[" x", "1", ",", "]", "}", "{}", " null", "\"\""]),
            ),
            1 if !out.is_empty() => {
                // Drop or duplicate one character somewhere.
                let at = self.rng.below(out.chars().count());
                let (byte, c) = out.char_indices().nth(at).unwrap();
                if self.rng.chance(50) {
                    out.remove(byte);
                } else {
                    out.insert(byte, c);
                }
            }
            _ => {}
        }
        out
    }
}

fn hex_decode(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("oracle hex"))
        .collect()
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn has_lone_surrogate(value: &Value) -> bool {
    match value {
        Value::Str(PyStr::Wtf16(_)) => true,
        Value::Array(items) => items.iter().any(has_lone_surrogate),
        Value::Object(entries) => entries
            .iter()
            .any(|(k, v)| matches!(k, PyStr::Wtf16(_)) || has_lone_surrogate(v)),
        _ => false,
    }
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(entries) => 1 + entries.iter().map(|(_, v)| depth(v)).max().unwrap_or(0),
        _ => 0,
    }
}

/// Runs a python3 script with `input` on stdin and returns its stdout lines.
fn run_python(script: &str, input: String) -> Vec<String> {
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 must be installed: it is the oracle for this test");
    let mut stdin = child.stdin.take().unwrap();
    // Written from another thread: the output pipe fills up long before the input is done.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success(), "python3 oracle failed");
    let stdout = String::from_utf8(output.stdout).unwrap();
    stdout.lines().map(str::to_owned).collect()
}

/// The mismatch between pyjson and Python for one document, if any.
fn compare(doc: &str, verdict: &str) -> Result<Option<Value>, String> {
    let ours = pyjson::parse(doc);
    let fields: Vec<&str> = verdict.split(' ').collect();
    let (plain, ascii) = match fields[..] {
        ["ERR", _] => {
            return match ours {
                Err(_) => Ok(None),
                Ok(v) => Err(format!(
                    "python rejects, pyjson gives {}",
                    pyjson::to_string(&v)
                )),
            }
        }
        ["OK", plain, ascii] => (hex_decode(plain), hex_decode(ascii)),
        _ => panic!("unexpected oracle line {verdict:?}"),
    };
    let value = ours.map_err(|e| format!("python accepts, pyjson: {e}"))?;
    let ours_plain = pyjson::to_string(&value);
    if ours_plain.as_bytes() != plain {
        return Err(format!(
            "ensure_ascii=False\n python: {}\n pyjson: {ours_plain}",
            String::from_utf8_lossy(&plain)
        ));
    }
    let mut ours_ascii = String::new();
    pyjson::write_value(&mut ours_ascii, &value, true);
    if ours_ascii.as_bytes() != ascii {
        return Err(format!(
            "ensure_ascii=True\n python: {}\n pyjson: {ours_ascii}",
            String::from_utf8_lossy(&ascii)
        ));
    }
    let reparsed = pyjson::parse(&ours_plain).map_err(|e| format!("own output rejected: {e}"))?;
    if pyjson::to_string(&reparsed) != ours_plain {
        return Err("output does not round-trip".to_owned());
    }
    let from_bytes = pyjson::parse_bytes(doc.as_bytes()).map_err(|e| e.to_string())?;
    if pyjson::to_string(&from_bytes) != ours_plain {
        return Err("parse_bytes disagrees with parse".to_owned());
    }
    Ok(Some(value))
}

#[test]
fn matches_python_json_module() {
    let mut generator = Gen {
        rng: Rng(0x5EED_1234_ABCD_0001),
        poison: 0,
        defect_kind: Defect::Value,
    };
    let docs: Vec<String> = (0..DOCUMENTS).map(|i| generator.document(i)).collect();
    let input = docs
        .iter()
        .map(|d| hex_encode(d.as_bytes()) + "\n")
        .collect();
    let verdicts = run_python(ORACLE, input);
    assert_eq!(
        verdicts.len(),
        docs.len(),
        "one oracle verdict per document"
    );

    let mut failures = Vec::new();
    let (mut accepted, mut rejected, mut lone_surrogates, mut deep) = (0, 0, 0, 0);
    for (doc, verdict) in docs.iter().zip(&verdicts) {
        match compare(doc, verdict) {
            Ok(Some(value)) => {
                accepted += 1;
                lone_surrogates += usize::from(has_lone_surrogate(&value));
                deep += usize::from(depth(&value) > 40);
            }
            Ok(None) => rejected += 1,
            Err(why) => failures.push(format!("document {doc:?}\n{why}")),
        }
    }
    eprintln!(
        "accepted {accepted}, rejected {rejected}, lone surrogates {lone_surrogates}, deep {deep}"
    );
    assert!(
        failures.is_empty(),
        "{} of {DOCUMENTS} documents differ from Python; first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(5)].join("\n\n")
    );
    // Guard against a generator that silently stopped exercising the interesting cases.
    assert!(accepted >= 5000, "only {accepted} valid documents");
    assert!(rejected >= 1500, "only {rejected} invalid documents");
    assert!(
        lone_surrogates >= 1000,
        "only {lone_surrogates} with lone surrogates"
    );
    assert!(deep >= 200, "only {deep} deeply nested documents");
}

/// `float.__repr__` for many doubles at once: the document test sees too few of each kind
/// (e.g. exact ties between two shortest spellings) to be sure of the float writer.
#[test]
fn float_spelling_matches_python() {
    const ORACLE: &str = r#"
import json, struct, sys
for line in sys.stdin:
    print(json.dumps(struct.unpack('>d', bytes.fromhex(line.strip()))[0]))
"#;
    let mut rng = Rng(0xF10A7);
    let floats: Vec<f64> = (0..300_000)
        .map(|i| {
            let mantissa = (rng.next() >> 11) as f64;
            match i % 5 {
                0 => f64::from_bits(rng.next()),
                // Binary fractions just below 2^53: many are exact decimal ties.
                1 => mantissa / rng.pick(&[1.0, 2.0, 4.0, 8.0, 16.0, 32.0]),
                2 => mantissa * 2f64.powi(rng.below(2100) as i32 - 1126),
                3 => {
                    let digits = rng.next() % 10u64.pow(1 + rng.below(17) as u32);
                    format!("{digits}e{}", rng.below(650) as i32 - 330)
                        .parse()
                        .unwrap()
                }
                _ => 2f64.powi(rng.below(2098) as i32 - 1074) * rng.pick(&[1.0, -1.0, 0.75, 1.5]),
            }
        })
        .collect();
    let input = floats
        .iter()
        .map(|f| format!("{:016x}\n", f.to_bits()))
        .collect();
    let expected = run_python(ORACLE, input);
    assert_eq!(expected.len(), floats.len(), "one oracle line per float");
    let failures: Vec<String> = floats
        .iter()
        .zip(&expected)
        .filter_map(|(&f, python)| {
            let mut ours = String::new();
            pyjson::write_float(&mut ours, f);
            (ours != *python)
                .then(|| format!("{:016x}: python {python}, pyjson {ours}", f.to_bits()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} floats differ, first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(10)].join("\n")
    );
}
