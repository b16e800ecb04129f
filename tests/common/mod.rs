//! What the integration tests share: CPython's own `json` module as the oracle for pyjson.

/// A python3 program that reads hex-encoded UTF-8 documents, one a line, and prints for each
/// `ERR <exception>` or `OK <hex ensure_ascii=False> <hex ensure_ascii=True>` (flushed, so a
/// long-lived process can answer one line at a time). Python writes an unpaired surrogate raw,
/// which UTF-8 cannot carry, where pyjson writes a `\udXXX` escape, so the oracle escapes those
/// the same way: they only occur inside string literals, and that is the only difference allowed.
pub const ORACLE: &str = r#"
import json, re, sys
surrogate = re.compile('[\ud800-\udfff]')
def escape_surrogates(text):
    return surrogate.sub(lambda m: '\\u%04x' % ord(m.group()), text)
for line in sys.stdin:
    text = bytes.fromhex(line.strip()).decode('utf-8')
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as e:
        print('ERR', type(e).__name__, flush=True)
        continue
    plain = escape_surrogates(json.dumps(obj, ensure_ascii=False)).encode('utf-8')
    ascii = json.dumps(obj, ensure_ascii=True).encode('ascii')
    print('OK', plain.hex(), ascii.hex(), flush=True)
"#;
