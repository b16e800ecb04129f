//! JSON read and written exactly as CPython 3.11's `json` module does it.
//!
//! `json.loads` followed by `json.dumps(obj, ensure_ascii=...)` normalises a document in
//! ways `serde_json` does not reproduce: Python float `repr` spelling, `NaN`/`Infinity`
//! tokens, arbitrary-size ints, lone UTF-16 surrogates, duplicate keys and `", "` / `": "`
//! separators. Text produced here is byte-identical to what the Python side produces for
//! the same input, so the two can be compared or substituted for one another.

use std::collections::HashMap;
use std::fmt::{self, Write as _};

/// `sys.get_int_max_str_digits()` default: longer int literals make `json.loads` raise.
const MAX_INT_DIGITS: usize = 4300;
/// Python raises `RecursionError` a few levels below its recursion limit of 1000; a fixed
/// limit keeps behaviour independent of the caller's stack.
const MAX_DEPTH: usize = 1000;
/// Objects with fewer keys than this find repeated keys by linear scan, which is cheaper
/// than building a hash index for the small objects that dominate real documents.
const INDEX_THRESHOLD: usize = 16;

/// A JSON string as Python holds it.
///
/// `\ud800`-style escapes may leave unpaired UTF-16 surrogates in a Python `str`; Rust
/// strings cannot hold them, so such strings are kept as UTF-16 code units and written
/// back as `\uXXXX` escapes. The parser uses `Wtf16` only when the string really contains
/// an unpaired surrogate, so every other string is `Utf8` and equality stays meaningful.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PyStr {
    Utf8(String),
    Wtf16(Vec<u16>),
}

impl PyStr {
    /// The text, unless it contains an unpaired surrogate.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            PyStr::Utf8(s) => Some(s),
            PyStr::Wtf16(_) => None,
        }
    }

    fn push_str(&mut self, s: &str) {
        match self {
            PyStr::Utf8(text) => text.push_str(s),
            PyStr::Wtf16(units) => units.extend(s.encode_utf16()),
        }
    }

    fn push_char(&mut self, c: char) {
        self.push_str(c.encode_utf8(&mut [0; 4]));
    }

    fn push_lone_surrogate(&mut self, unit: u16) {
        let mut units = match self {
            PyStr::Utf8(text) => text.encode_utf16().collect(),
            PyStr::Wtf16(units) => std::mem::take(units),
        };
        units.push(unit);
        *self = PyStr::Wtf16(units);
    }
}

impl From<&str> for PyStr {
    fn from(s: &str) -> Self {
        PyStr::Utf8(s.to_owned())
    }
}

impl From<String> for PyStr {
    fn from(s: String) -> Self {
        PyStr::Utf8(s)
    }
}

/// A decoded JSON value with the same information content as the Python object.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// Python int: canonical decimal digits with optional leading '-' ("-0" normalises to "0").
    Int(String),
    /// Any f64, including NaN and ±inf (from `NaN`/`Infinity` tokens or overflow like `1e400`).
    Float(f64),
    Str(PyStr),
    Array(Vec<Value>),
    /// Keys in first-seen order; a repeated key keeps its first position and its last value
    /// (dict semantics).
    Object(Vec<(PyStr, Value)>),
}

impl Value {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(PyStr::Utf8(s.into()))
    }

    /// Python truthiness: null, false, 0, ±0.0, "", [] and {} are falsy; NaN is truthy.
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(digits) => digits.bytes().any(|b| (b'1'..=b'9').contains(&b)),
            Value::Float(f) => *f != 0.0,
            Value::Str(PyStr::Utf8(s)) => !s.is_empty(),
            Value::Str(PyStr::Wtf16(units)) => !units.is_empty(),
            Value::Array(items) => !items.is_empty(),
            Value::Object(entries) => !entries.is_empty(),
        }
    }

    /// The value stored under `key` if this is an object (the first match, should a
    /// hand-built object repeat a key).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a string value without unpaired surrogates.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => s.as_str(),
            _ => None,
        }
    }
}

/// Why and where a document was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    offset: usize,
    reason: &'static str,
}

impl ParseError {
    /// Byte offset into the input at which the problem was detected.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.offset)
    }
}

impl std::error::Error for ParseError {}

/// Parses `text` as `json.loads(text)` does (default arguments), rejecting exactly the
/// documents Python rejects.
pub fn parse(text: &str) -> Result<Value, ParseError> {
    Parser { text, pos: 0 }.document()
}

/// Parses an HTTP body. A UTF-8 BOM is skipped; invalid UTF-8 is decoded lossily (U+FFFD), as
/// `requests`' `Response.json()` did for the legacy script's `application/json` replies, so a
/// stray byte costs one character rather than the whole answer.
pub fn parse_bytes(bytes: &[u8]) -> Result<Value, ParseError> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let skipped = bytes.len() - body.len();
    let text = String::from_utf8_lossy(body);
    parse(&text).map_err(|e| ParseError {
        offset: skipped + e.offset,
        ..e
    })
}

/// `json.dumps(value, ensure_ascii=False)`.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, false);
    out
}

/// Appends `json.dumps(value, ensure_ascii=ascii)`.
///
/// Unpaired surrogates are written as `\udXXX` escapes even when `ascii` is false: Python
/// would emit them raw and then fail to encode the text, whereas this keeps it valid JSON.
pub fn write_value(out: &mut String, value: &Value, ascii: bool) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Int(digits) => out.push_str(digits),
        Value::Float(f) => write_float(out, *f),
        Value::Str(s) => write_pystr(out, s, ascii),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item, ascii);
            }
            out.push(']');
        }
        Value::Object(entries) => {
            out.push('{');
            for (i, (key, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_pystr(out, key, ascii);
                out.push_str(": ");
                write_value(out, item, ascii);
            }
            out.push('}');
        }
    }
}

/// Appends `s` as a JSON string literal, as `json.dumps(s, ensure_ascii=ascii)` spells it.
pub fn write_str(out: &mut String, s: &str, ascii: bool) {
    out.push('"');
    if ascii {
        for c in s.chars() {
            write_char(out, c, true);
        }
    } else {
        // Only ASCII bytes need escaping here, so runs between them are whole UTF-8
        // sequences and can be copied without decoding.
        let mut run = 0;
        for (i, b) in s.bytes().enumerate() {
            if b < 0x20 || b == b'"' || b == b'\\' {
                out.push_str(&s[run..i]);
                write_escape(out, char::from(b));
                run = i + 1;
            }
        }
        out.push_str(&s[run..]);
    }
    out.push('"');
}

/// Appends the JSON spelling of `f` used by Python: `float.__repr__`, or `NaN`,
/// `Infinity`, `-Infinity`.
pub fn write_float(out: &mut String, f: f64) {
    if f.is_nan() {
        return out.push_str("NaN");
    }
    if f.is_infinite() {
        return out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
    }
    // Rust's LowerExp gives the shortest digits that round-trip, as "d.ddde-7"; only a
    // tie between two shortest candidates and the layout differ from Python's repr.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').expect("LowerExp has an exponent");
    let exp: i32 = exp.parse().expect("LowerExp exponent is an integer");
    let mut digits = mantissa.replace('.', "");
    let last_exp = exp + 1 - digits.len() as i32;
    if let Some(even) = tie_to_even(f.abs(), &digits, last_exp) {
        digits = even;
    }
    let exp = last_exp + digits.len() as i32 - 1;
    if f.is_sign_negative() {
        out.push('-');
    }
    let (lead, frac) = digits.split_at(1);
    if (-4..16).contains(&exp) {
        if exp < 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        } else {
            let point = exp as usize;
            out.push_str(lead);
            if frac.len() > point {
                out.push_str(&frac[..point]);
                out.push('.');
                out.push_str(&frac[point..]);
            } else {
                out.push_str(frac);
                out.extend(std::iter::repeat_n('0', point - frac.len()));
                out.push_str(".0");
            }
        }
    } else {
        out.push_str(lead);
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
        let sign = if exp < 0 { '-' } else { '+' };
        write!(out, "e{sign}{:02}", exp.unsigned_abs()).expect("writing to a String");
    }
}

/// Python's repr (David Gay's dtoa) breaks an exact tie between two equally short, equally
/// close digit strings towards an even last digit; Rust's formatter does not, e.g.
/// 718880197048711.25 is `718880197048711.2` in Python but `…711.3` in Rust. Given the
/// shortest digits (`x` = digits × 10^`last_exp`, `x` >= 0), returns Python's choice when
/// it differs.
fn tie_to_even(x: f64, digits: &str, last_exp: i32) -> Option<String> {
    let d: u64 = digits.parse().expect("at most 17 digits");
    if d.is_multiple_of(2) {
        return None;
    }
    [d - 1, d + 1].into_iter().find_map(|alt| {
        let midpoint = is_half_of(x, u128::from(d + alt), last_exp);
        let alt = alt.to_string();
        let round_trips = || format!("{alt}e{last_exp}").parse() == Ok(x);
        (midpoint && round_trips()).then_some(alt)
    })
}

/// Whether `2 * x == n * 10^q` exactly, for odd `n`.
fn is_half_of(x: f64, n: u128, q: i32) -> bool {
    let bits = x.to_bits();
    let biased_exp = (bits >> 52) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (m, e) = match biased_exp {
        0 => (fraction, -1074),
        _ => (fraction | 1 << 52, biased_exp - 1075),
    };
    if m == 0 {
        return false;
    }
    // m * 2^(e+1) == n * 2^q * 5^q with m = odd * 2^shift: powers of two and odd parts
    // must match separately.
    let shift = m.trailing_zeros() as i32;
    let odd = u128::from(m >> shift);
    let Some(five) = 5u128.checked_pow(q.unsigned_abs()) else {
        return false;
    };
    shift + e + 1 == q
        && if q >= 0 {
            n.checked_mul(five) == Some(odd)
        } else {
            odd.checked_mul(five) == Some(n)
        }
}

fn write_pystr(out: &mut String, s: &PyStr, ascii: bool) {
    match s {
        PyStr::Utf8(s) => write_str(out, s, ascii),
        PyStr::Wtf16(units) => {
            out.push('"');
            for c in char::decode_utf16(units.iter().copied()) {
                match c {
                    Ok(c) => write_char(out, c, ascii),
                    Err(lone) => write_unit_escape(out, lone.unpaired_surrogate()),
                }
            }
            out.push('"');
        }
    }
}

fn write_char(out: &mut String, c: char, ascii: bool) {
    let plain = if ascii {
        (' '..='~').contains(&c)
    } else {
        c >= ' '
    };
    if plain && c != '"' && c != '\\' {
        out.push(c);
    } else {
        write_escape(out, c);
    }
}

fn write_escape(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        _ => {
            for &unit in c.encode_utf16(&mut [0; 2]).iter() {
                write_unit_escape(out, unit);
            }
        }
    }
}

fn write_unit_escape(out: &mut String, unit: u16) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str("\\u");
    for shift in [12, 8, 4, 0] {
        out.push(char::from(HEX[usize::from((unit >> shift) & 0xF)]));
    }
}

/// A container whose closing bracket has not been seen yet.
enum Frame {
    Array(Vec<Value>),
    Object(ObjectBuilder),
}

struct ObjectBuilder {
    entries: Vec<(PyStr, Value)>,
    /// Key to entry position, built once the object is too big for linear scans.
    index: Option<HashMap<PyStr, usize>>,
    /// The key whose value is being parsed.
    key: PyStr,
}

impl ObjectBuilder {
    fn insert(&mut self, value: Value) {
        let key = std::mem::replace(&mut self.key, PyStr::Utf8(String::new()));
        if self.index.is_none() && self.entries.len() >= INDEX_THRESHOLD {
            let index = self.entries.iter().enumerate();
            self.index = Some(index.map(|(i, (k, _))| (k.clone(), i)).collect());
        }
        let slot = match &mut self.index {
            None => self.entries.iter().position(|(k, _)| *k == key),
            Some(index) => {
                let slot = index.get(&key).copied();
                if slot.is_none() {
                    index.insert(key.clone(), self.entries.len());
                }
                slot
            }
        };
        match slot {
            Some(i) => self.entries[i].1 = value,
            None => self.entries.push((key, value)),
        }
    }
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    /// Iterative rather than recursive so that the depth limit, not the thread's stack
    /// size, decides how deep a document may nest.
    fn document(mut self) -> Result<Value, ParseError> {
        let mut stack: Vec<Frame> = Vec::new();
        'value: loop {
            self.skip_whitespace();
            let mut value = match self.peek() {
                Some(b'[') => {
                    self.open(stack.len())?;
                    if self.eat(b']') {
                        Value::Array(Vec::new())
                    } else {
                        stack.push(Frame::Array(Vec::new()));
                        continue 'value;
                    }
                }
                Some(b'{') => {
                    self.open(stack.len())?;
                    if self.eat(b'}') {
                        Value::Object(Vec::new())
                    } else {
                        let key = self.key()?;
                        stack.push(Frame::Object(ObjectBuilder {
                            entries: Vec::new(),
                            index: None,
                            key,
                        }));
                        continue 'value;
                    }
                }
                _ => self.scalar()?,
            };
            loop {
                self.skip_whitespace();
                let Some(mut frame) = stack.pop() else {
                    if self.pos < self.text.len() {
                        return Err(self.error("extra data"));
                    }
                    return Ok(value);
                };
                match &mut frame {
                    Frame::Array(items) => items.push(value),
                    Frame::Object(object) => object.insert(value),
                }
                if self.eat(b',') {
                    if let Frame::Object(object) = &mut frame {
                        self.skip_whitespace();
                        object.key = self.key()?;
                    }
                    stack.push(frame);
                    continue 'value;
                }
                value = match frame {
                    Frame::Array(items) if self.eat(b']') => Value::Array(items),
                    Frame::Object(object) if self.eat(b'}') => Value::Object(object.entries),
                    _ => return Err(self.error("expecting ',' delimiter")),
                };
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.pos += 1;
        }
        found
    }

    fn error(&self, reason: &'static str) -> ParseError {
        ParseError {
            offset: self.pos,
            reason,
        }
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// Consumes an opening bracket (and the whitespace after it) at nesting level `depth`.
    fn open(&mut self, depth: usize) -> Result<(), ParseError> {
        if depth >= MAX_DEPTH {
            return Err(self.error("maximum nesting depth exceeded"));
        }
        self.pos += 1;
        self.skip_whitespace();
        Ok(())
    }

    /// An object key and the ':' after it.
    fn key(&mut self) -> Result<PyStr, ParseError> {
        if !self.eat(b'"') {
            return Err(self.error("expecting property name enclosed in double quotes"));
        }
        let key = self.string()?;
        self.skip_whitespace();
        if !self.eat(b':') {
            return Err(self.error("expecting ':' delimiter"));
        }
        Ok(key)
    }

    fn scalar(&mut self) -> Result<Value, ParseError> {
        let rest = &self.text.as_bytes()[self.pos..];
        let (value, len) = match rest.first() {
            Some(b'"') => {
                self.pos += 1;
                return self.string().map(Value::Str);
            }
            Some(b'n') if rest.starts_with(b"null") => (Value::Null, 4),
            Some(b't') if rest.starts_with(b"true") => (Value::Bool(true), 4),
            Some(b'f') if rest.starts_with(b"false") => (Value::Bool(false), 5),
            Some(b'N') if rest.starts_with(b"NaN") => (Value::Float(f64::NAN), 3),
            Some(b'I') if rest.starts_with(b"Infinity") => (Value::Float(f64::INFINITY), 8),
            Some(b'-') if rest.starts_with(b"-Infinity") => (Value::Float(f64::NEG_INFINITY), 9),
            Some(b'-' | b'0'..=b'9') => return self.number(),
            _ => return Err(self.error("expecting value")),
        };
        self.pos += len;
        Ok(value)
    }

    /// Python's `-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?`: a fraction or exponent that is
    /// not followed by digits is not part of the number (and then fails as extra data).
    fn number(&mut self) -> Result<Value, ParseError> {
        let bytes = self.text.as_bytes();
        let digits_end = |mut i: usize| {
            while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            i
        };
        let start = self.pos;
        let int_start = start + usize::from(bytes[start] == b'-');
        let mut end = match bytes.get(int_start) {
            Some(b'0') => int_start + 1,
            Some(b'1'..=b'9') => digits_end(int_start + 1),
            _ => return Err(self.error("expecting value")),
        };
        let int_end = end;
        if bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit) {
            end = digits_end(end + 1);
        }
        if matches!(bytes.get(end), Some(b'e' | b'E')) {
            let sign = usize::from(matches!(bytes.get(end + 1), Some(b'+' | b'-')));
            if bytes.get(end + 1 + sign).is_some_and(u8::is_ascii_digit) {
                end = digits_end(end + 1 + sign);
            }
        }
        let literal = &self.text[start..end];
        let value = if end == int_end {
            if int_end - int_start > MAX_INT_DIGITS {
                return Err(self.error("integer literal longer than 4300 digits"));
            }
            Value::Int(if literal == "-0" { "0" } else { literal }.to_owned())
        } else {
            // Correctly rounded like Python's float(); overflow gives ±inf, as in Python.
            Value::Float(literal.parse().expect("JSON numbers are valid Rust floats"))
        };
        self.pos = end;
        Ok(value)
    }

    /// The rest of a string literal whose opening quote has been consumed.
    fn string(&mut self) -> Result<PyStr, ParseError> {
        let opening = self.pos - 1;
        let bytes = self.text.as_bytes();
        let mut out = PyStr::Utf8(String::new());
        loop {
            let run = self.pos;
            while let Some(&b) = bytes.get(self.pos) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.text[run..self.pos]);
            match bytes.get(self.pos) {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => self.escape(&mut out)?,
                Some(_) => return Err(self.error("invalid control character")),
                None => {
                    return Err(ParseError {
                        offset: opening,
                        reason: "unterminated string",
                    })
                }
            }
        }
    }

    /// One backslash escape.
    fn escape(&mut self, out: &mut PyStr) -> Result<(), ParseError> {
        let c = match self.text.as_bytes().get(self.pos + 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => return self.unicode_escape(out),
            _ => return Err(self.error("invalid \\escape")),
        };
        self.pos += 2;
        out.push_char(c);
        Ok(())
    }

    /// `\uXXXX`; a high surrogate directly followed by an escaped low surrogate forms one
    /// character, any other surrogate is kept unpaired, as Python does.
    fn unicode_escape(&mut self, out: &mut PyStr) -> Result<(), ParseError> {
        let Some(unit) = self.hex4(self.pos + 2) else {
            return Err(self.error("invalid \\uXXXX escape"));
        };
        self.pos += 6;
        if let Some(c) = char::from_u32(u32::from(unit)) {
            out.push_char(c);
            return Ok(());
        }
        let escape_follows = self.text.as_bytes()[self.pos..].starts_with(b"\\u");
        let low = if unit < 0xDC00 && escape_follows {
            self.hex4(self.pos + 2)
                .filter(|u| (0xDC00..0xE000).contains(u))
        } else {
            None
        };
        if let Some(low) = low {
            self.pos += 6;
            let c = 0x10000 + ((u32::from(unit) - 0xD800) << 10) + u32::from(low - 0xDC00);
            out.push_char(char::from_u32(c).expect("a surrogate pair is a scalar value"));
        } else {
            out.push_lone_surrogate(unit);
        }
        Ok(())
    }

    fn hex4(&self, at: usize) -> Option<u16> {
        let digits = self.text.as_bytes().get(at..at + 4)?;
        digits.iter().try_fold(0u16, |acc, &b| {
            let digit = char::from(b).to_digit(16)?;
            Some(acc << 4 | digit as u16)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(text: &str) -> String {
        to_string(&parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}")))
    }

    fn roundtrip_ascii(text: &str) -> String {
        let mut out = String::new();
        write_value(&mut out, &parse(text).unwrap(), true);
        out
    }

    fn float(f: f64) -> String {
        let mut out = String::new();
        write_float(&mut out, f);
        out
    }

    #[test]
    fn literals_and_whitespace() {
        assert_eq!(roundtrip(" \t\n\rnull \t\n\r"), "null");
        assert_eq!(roundtrip("true"), "true");
        assert_eq!(roundtrip("false"), "false");
        assert_eq!(roundtrip("NaN"), "NaN");
        assert_eq!(roundtrip("Infinity"), "Infinity");
        assert_eq!(roundtrip("-Infinity"), "-Infinity");
        for bad in [
            "",
            " ",
            "nul",
            "Null",
            "TRUE",
            "nan",
            "infinity",
            "-NaN",
            "+1",
            "\u{c}1",
            "\u{a0}1",
            "\u{feff}1",
            "null null",
            "[] x",
            "1 2",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(roundtrip("-0"), "0");
        assert_eq!(roundtrip("0"), "0");
        assert_eq!(roundtrip("-12"), "-12");
        assert_eq!(
            roundtrip("123456789012345678901234567890"),
            "123456789012345678901234567890"
        );
        assert_eq!(roundtrip("-0.0"), "-0.0");
        assert_eq!(roundtrip("0e0"), "0.0");
        assert_eq!(roundtrip("1.5E3"), "1500.0");
        assert_eq!(roundtrip("1E+2"), "100.0");
        assert_eq!(roundtrip("25e-6"), "2.5e-05");
        assert_eq!(roundtrip("1e400"), "Infinity");
        assert_eq!(roundtrip("-1E400"), "-Infinity");
        assert_eq!(roundtrip("1e-400"), "0.0");
        assert_eq!(roundtrip("-1e-400"), "-0.0");
        assert_eq!(roundtrip(&format!("{}.0", "1".repeat(5000))), "Infinity");
        for bad in [
            "01", "-01", "1.", ".5", "1e", "1e+", "1.e5", "-", "- 1", "0x10", "1_000",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn int_digit_limit() {
        let max = "9".repeat(4300);
        assert_eq!(roundtrip(&max), max);
        assert_eq!(roundtrip(&format!("-{max}")), format!("-{max}"));
        assert!(parse(&format!("9{max}")).is_err());
        assert!(parse(&format!("-9{max}")).is_err());
        assert!(parse(&format!("[9{max}]")).is_err());
    }

    #[test]
    fn float_repr() {
        let cases = [
            (1.0, "1.0"),
            (1500.0, "1500.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (123456789012345.6, "123456789012345.6"),
            (1e15, "1000000000000000.0"),
            (9999999999999998.0, "9999999999999998.0"),
            (1e16, "1e+16"),
            (2.5e-5, "2.5e-05"),
            (-2.5e-5, "-2.5e-05"),
            (1.2345678901234568e20, "1.2345678901234568e+20"),
            (1e22, "1e+22"),
            // Exact ties between two shortest candidates go to the even digit.
            (718_880_197_048_711.0 + 0.25, "718880197048711.2"),
            (-108_868_734_838_530.0 - 0.125, "-108868734838530.12"),
            (26_363_981_746_409.0 + 0.3125, "26363981746409.312"),
            (1_059_438_285_926_254.0 + 0.75, "1059438285926254.8"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (f, expected) in cases {
            assert_eq!(float(f), expected);
        }
    }

    #[test]
    fn string_escapes_parse() {
        assert_eq!(
            parse(r#""\"\\\/\b\f\n\r\t\u00e9\u00E9""#).unwrap(),
            Value::str("\"\\/\u{8}\u{c}\n\r\té\u{e9}")
        );
        assert_eq!(parse(r#""\ud83d\ude00""#).unwrap(), Value::str("😀"));
        assert_eq!(parse(r#""\uD83D\uDE00""#).unwrap(), Value::str("😀"));
        for bad in [
            r#""\x""#,
            r#""\U0041""#,
            r#""\u12""#,
            r#""\u12g4""#,
            r#""\u+123""#,
            r#""\ud800\u12""#,
            "\"a\nb\"",
            "\"\u{1f}\"",
            "\"\t\"",
            r#""abc"#,
            r#""\"#,
            "'a'",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should fail");
        }
        assert_eq!(roundtrip("\"\u{7f}\u{80}\""), "\"\u{7f}\u{80}\"");
    }

    #[test]
    fn lone_surrogates() {
        let lone = parse(r#""a\ud800""#).unwrap();
        assert_eq!(lone, Value::Str(PyStr::Wtf16(vec![0x61, 0xD800])));
        assert_eq!(lone.as_str(), None);
        assert_eq!(to_string(&lone), r#""a\ud800""#);
        assert_eq!(roundtrip(r#""\uDC00x""#), r#""\udc00x""#);
        // A high surrogate pairs only with the escape right after it.
        assert_eq!(roundtrip(r#""\ud800\ud800\udc00""#), "\"\\ud800\u{10000}\"");
        assert_eq!(roundtrip(r#""\udc00\ud800""#), r#""\udc00\ud800""#);
        assert_eq!(roundtrip("\"\\ud800é\\n\""), "\"\\ud800é\\n\"");
        assert_eq!(roundtrip_ascii("\"\\ud800é\\n\""), r#""\ud800\u00e9\n""#);
        assert_eq!(roundtrip(r#"{"\ud800": 1}"#), r#"{"\ud800": 1}"#);
    }

    #[test]
    fn string_writing() {
        let text = "a\u{0}\u{1f}\u{7f}\u{8}\u{c}\n\r\t\"\\/é😀\u{2028}";
        let mut out = String::new();
        write_str(&mut out, text, false);
        assert_eq!(
            out,
            "\"a\\u0000\\u001f\u{7f}\\b\\f\\n\\r\\t\\\"\\\\/é😀\u{2028}\""
        );
        out.clear();
        write_str(&mut out, text, true);
        assert_eq!(
            out,
            r#""a\u0000\u001f\u007f\b\f\n\r\t\"\\/\u00e9\ud83d\ude00\u2028""#
        );
    }

    #[test]
    fn containers() {
        assert_eq!(roundtrip("[]"), "[]");
        assert_eq!(roundtrip("{ }"), "{}");
        assert_eq!(roundtrip(" [ 1 ,2,\n[ ] , { } ] "), "[1, 2, [], {}]");
        assert_eq!(
            roundtrip(r#"{"a":1,"b":{"c":[true]}}"#),
            r#"{"a": 1, "b": {"c": [true]}}"#
        );
        for bad in [
            "[1,]",
            "[,1]",
            "[1 2]",
            "[",
            "]",
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            "{'a':1}",
            "{1:2}",
            r#"{"a"}"#,
            r#"{"a":}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn repeated_keys_keep_first_position_last_value() {
        assert_eq!(roundtrip(r#"{"a":1,"b":2,"a":3}"#), r#"{"a": 3, "b": 2}"#);
        assert_eq!(roundtrip(r#"{"a":1,"\u0061":3}"#), r#"{"a": 3}"#);
        // Enough keys to switch from linear scans to the hash index.
        let keys: Vec<String> = (0..40).map(|i| format!("\"k{}\":{i}", i % 25)).collect();
        let expected: Vec<String> = (0..25)
            .map(|i| format!("\"k{i}\": {}", if i < 15 { i + 25 } else { i }))
            .collect();
        assert_eq!(
            roundtrip(&format!("{{{}}}", keys.join(","))),
            format!("{{{}}}", expected.join(", "))
        );
    }

    #[test]
    fn depth_limit_on_small_stack() {
        let handle = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                let deep =
                    |n: usize| format!("{}1{}", "[{\"k\":".repeat(n / 2), "}]".repeat(n / 2));
                let value = parse(&deep(1000)).unwrap();
                let text = to_string(&value);
                assert_eq!(
                    text,
                    format!("{}1{}", "[{\"k\": ".repeat(500), "}]".repeat(500))
                );
                assert_eq!(value.clone(), value);
                assert!(parse(&format!("{}]", deep(1000).replacen('[', "[[", 1))).is_err());
                assert!(parse(&format!("{}{}", "[".repeat(1000), "]".repeat(1000))).is_ok());
                assert!(parse(&format!("{}{}", "[".repeat(1001), "]".repeat(1001))).is_err());
                assert!(parse(&"[".repeat(100_000)).is_err());
            })
            .unwrap();
        handle.join().unwrap();
    }

    #[test]
    fn bytes_input() {
        assert_eq!(
            parse_bytes(b"\xEF\xBB\xBF[1]").unwrap(),
            Value::Array(vec![Value::Int("1".into())])
        );
        assert!(parse("\u{feff}[1]").is_err());
        assert_eq!(
            parse_bytes(b"\xEF\xBB\xBF\"a\xffb\"").unwrap(),
            Value::str("a\u{fffd}b")
        );
        assert_eq!(
            parse_bytes(b"\"\xed\xa0\x80\"").unwrap(),
            Value::str("\u{fffd}\u{fffd}\u{fffd}")
        );
        assert_eq!(parse_bytes(b" [1, x]").unwrap_err().offset(), 5);
    }

    #[test]
    fn accessors() {
        let v = parse(r#"{"s":"x","e":"","n":null,"z":0,"f":-0.0,"nan":NaN,"a":[],"o":{},"i":-3}"#)
            .unwrap();
        assert_eq!(v.get("s").and_then(Value::as_str), Some("x"));
        assert_eq!(v.get("missing"), None);
        assert_eq!(Value::Null.get("s"), None);
        let truthy = |k: &str| v.get(k).unwrap().is_truthy();
        for k in ["e", "n", "z", "f", "a", "o"] {
            assert!(!truthy(k), "{k}");
        }
        for k in ["s", "nan", "i"] {
            assert!(truthy(k), "{k}");
        }
        assert!(v.is_truthy());
        assert!(!Value::Bool(false).is_truthy());
    }
}
