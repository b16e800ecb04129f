//! Configuration: explicit options first, then the environment (BEHAVIOUR.md §2), read once per
//! client.

use std::fmt;
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use crate::log::warn_once;

pub const DEFAULT_TOOL_SELECTOR_URL: &str = "https://tool-selector-api:8020";
pub const DEFAULT_LETTA_API_URL: &str = "https://letta.oculair.ca/v1";
pub const DEFAULT_FALLBACK_TOOL_ID: &str = "tool-e34b5c60-5bd5-4288-a97f-2167ddf3062b";
pub const ATTACH_PATH: &str = "/api/v1/tools/attach";

const BASE_URL_VARIABLES: [&str; 6] = [
    "TOOLS_API_BASE_URL",
    "TOOLS_API_URL",
    "TOOL_SELECTOR_API_URL",
    "LETTA_TOOL_SELECTOR_URL",
    "WEAVIATE_TOOLS_API_URL",
    "TOOLS_API_DEFAULT_URL",
];

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
// Below the 5 s keep-alive of uvicorn (the Tool Selector's server), so we drop an idle socket
// before the server does and never race its close with a new request.
const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(4);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_CONNECTIONS: usize = 32;
const DEFAULT_MAX_LIMIT: u32 = 25;
const DEFAULT_LOOKUP_TTL: Duration = Duration::from_secs(300);
const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(30);
/// Legacy gave each lookup request 10 s; we keep that as the ceiling of the lookup phase.
const LOOKUP_CEILING: Duration = Duration::from_secs(10);
const DEFAULT_MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// What `requests` percent-encodes in a URL's path before sending it (its `requote_uri`): the
/// characters a request line cannot carry. Non-ASCII is always encoded, as UTF-8; `%` is not, so
/// an escape already in the URL stays as it is.
const UNSAFE_IN_PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// A credential. Its `Debug` never shows the value, so a stray `{:?}` cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// What a caller may set explicitly; every `None` falls back to the environment.
#[derive(Debug, Default, Clone)]
pub struct Options {
    pub base_url: Option<String>,
    pub letta_api_url: Option<String>,
    pub password: Option<String>,
    pub bearer_token: Option<String>,
    pub letta_password: Option<String>,
    pub allow_insecure_http: Option<bool>,
    pub timeout: Option<Duration>,
    pub connect_timeout: Option<Duration>,
    pub keep_alive_timeout: Option<Duration>,
    pub connections: Option<usize>,
    pub max_limit: Option<u32>,
    pub tool_id: Option<String>,
    pub fallback_tool_id: Option<String>,
    pub lookup_cache_ttl: Option<Duration>,
    pub lookup_negative_cache_ttl: Option<Duration>,
    pub max_response_bytes: Option<usize>,
    pub trigger_loop: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxySettings {
    pub http: Option<String>,
    pub https: Option<String>,
    pub no_proxy: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Tool Selector base URL, no trailing `/`.
    pub base_url: String,
    pub attach_url: String,
    /// Letta API base, ending in `/v1`.
    pub letta_api_url: String,
    /// Sent as `X-BARE-PASSWORD: password <value>` on the attach request.
    pub selector_password: Option<Secret>,
    pub bearer_token: Option<Secret>,
    /// Sent as `Authorization: Bearer <value>` on lookups.
    pub letta_password: Option<Secret>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub keep_alive_timeout: Duration,
    pub connections: usize,
    pub max_limit: u32,
    pub tool_id: Option<String>,
    pub fallback_tool_id: String,
    pub lookup_ttl: Duration,
    pub negative_ttl: Duration,
    pub max_response_bytes: usize,
    /// After an attach that attached tools, post a message to the agent (BEHAVIOUR.md §9).
    pub trigger_loop: bool,
    /// Path of a PEM bundle to trust besides the bundled roots (Node's `NODE_EXTRA_CA_CERTS`).
    pub extra_ca_certs: Option<String>,
    pub proxy: ProxySettings,
}

impl Config {
    /// How long the find_tools id lookup may take before the fallback id is used, so that a
    /// slow Letta API still leaves the attach request half of the call's time.
    pub fn lookup_budget(&self) -> Duration {
        (self.timeout / 2).min(LOOKUP_CEILING)
    }
}

/// A configuration that cannot be used at all. Names the setting, never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Reads configuration with `env` as the environment (`std::env::var` in production, a map in
/// tests and for callers that pass their own).
pub fn resolve(
    options: &Options,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let env = Environment(env);
    let base_url = tool_selector_base(options, &env)?;
    let credentials = Credentials::resolve(options, &env)?;
    let timing = Timing::resolve(options, &env);
    let lookup = LookupSettings::resolve(options, &env);
    Ok(Config {
        attach_url: format!("{base_url}{ATTACH_PATH}"),
        base_url,
        letta_api_url: letta_base(options, &env)?,
        selector_password: credentials.selector_password,
        bearer_token: credentials.bearer_token,
        letta_password: credentials.letta_password,
        timeout: timing.timeout,
        connect_timeout: timing.connect_timeout,
        keep_alive_timeout: timing.keep_alive_timeout,
        connections: options
            .connections
            .or_else(|| env.positive_int("FIND_TOOLS_CONNECTIONS"))
            .unwrap_or(DEFAULT_CONNECTIONS),
        max_limit: options
            .max_limit
            .or_else(|| env.positive_int("FIND_TOOLS_MAX_LIMIT"))
            .unwrap_or(DEFAULT_MAX_LIMIT),
        tool_id: lookup.tool_id,
        fallback_tool_id: lookup.fallback_tool_id,
        lookup_ttl: lookup.ttl,
        negative_ttl: lookup.negative_ttl,
        max_response_bytes: options
            .max_response_bytes
            .or_else(|| env.positive_int("FIND_TOOLS_MAX_RESPONSE_BYTES"))
            .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES),
        trigger_loop: options.trigger_loop.unwrap_or_else(|| {
            env.get("FIND_TOOLS_TRIGGER_LOOP")
                .is_some_and(|v| is_truthy_flag(&v))
        }),
        extra_ca_certs: env.non_empty("NODE_EXTRA_CA_CERTS"),
        proxy: ProxySettings {
            http: env.either("HTTP_PROXY", "http_proxy"),
            https: env.either("HTTPS_PROXY", "https_proxy"),
            no_proxy: env.either("NO_PROXY", "no_proxy"),
        },
    })
}

/// The environment a configuration is read from, with the readings every setting shares.
struct Environment<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Environment<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
    }

    /// The variable, unless it is unset or blank.
    fn non_empty(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.trim().is_empty())
    }

    fn either(&self, upper: &str, lower: &str) -> Option<String> {
        self.non_empty(upper).or_else(|| self.non_empty(lower))
    }

    fn seconds(&self, name: &str) -> Option<Duration> {
        let parsed = self
            .get(name)?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s > 0.0);
        if parsed.is_none() {
            warn_once(&format!(
                "{name} must be a number of seconds > 0; using the default"
            ));
        }
        parsed.and_then(|s| Duration::try_from_secs_f64(s).ok())
    }

    fn millis(&self, name: &str) -> Option<Duration> {
        let parsed = self
            .get(name)?
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|ms| *ms > 0);
        if parsed.is_none() {
            warn_once(&format!(
                "{name} must be a whole number of milliseconds > 0; using the default"
            ));
        }
        parsed.map(Duration::from_millis)
    }

    fn positive_int<T: TryFrom<u64>>(&self, name: &str) -> Option<T> {
        let parsed = self
            .get(name)?
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n >= 1)
            .and_then(|n| T::try_from(n).ok());
        if parsed.is_none() {
            warn_once(&format!(
                "{name} must be a whole number >= 1; using the default"
            ));
        }
        parsed
    }
}

struct Credentials {
    selector_password: Option<Secret>,
    bearer_token: Option<Secret>,
    letta_password: Option<Secret>,
}

impl Credentials {
    fn resolve(options: &Options, env: &Environment) -> Result<Self, ConfigError> {
        let letta_password = secret(options.letta_password.clone(), "LETTA_PASSWORD", env)?;
        let selector_password =
            match secret(options.password.clone(), "TOOL_SELECTOR_PASSWORD", env)? {
                Some(p) => Some(p),
                None => letta_password.clone(),
            };
        let bearer_token = secret(
            options.bearer_token.clone(),
            "TOOL_SELECTOR_BEARER_TOKEN",
            env,
        )?;
        Ok(Credentials {
            selector_password,
            bearer_token,
            letta_password,
        })
    }
}

struct Timing {
    timeout: Duration,
    connect_timeout: Duration,
    keep_alive_timeout: Duration,
}

impl Timing {
    fn resolve(options: &Options, env: &Environment) -> Self {
        let timeout = options
            .timeout
            .or_else(|| env.seconds("TOOLS_API_TIMEOUT"))
            .unwrap_or(DEFAULT_TIMEOUT);
        let connect_timeout = options
            .connect_timeout
            .or_else(|| env.millis("FIND_TOOLS_CONNECT_TIMEOUT_MS"))
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT)
            .min(timeout);
        let keep_alive_timeout = options
            .keep_alive_timeout
            .or_else(|| env.millis("FIND_TOOLS_KEEP_ALIVE_TIMEOUT_MS"))
            .unwrap_or(DEFAULT_KEEP_ALIVE);
        Timing {
            timeout,
            connect_timeout,
            keep_alive_timeout,
        }
    }
}

struct LookupSettings {
    tool_id: Option<String>,
    fallback_tool_id: String,
    ttl: Duration,
    negative_ttl: Duration,
}

impl LookupSettings {
    fn resolve(options: &Options, env: &Environment) -> Self {
        let trimmed = |explicit: &Option<String>, name: &str| {
            explicit
                .clone()
                .or_else(|| env.non_empty(name))
                .map(|v| v.trim().to_owned())
        };
        LookupSettings {
            tool_id: trimmed(&options.tool_id, "FIND_TOOLS_TOOL_ID"),
            fallback_tool_id: trimmed(&options.fallback_tool_id, "FIND_TOOLS_FALLBACK_ID")
                .unwrap_or_else(|| DEFAULT_FALLBACK_TOOL_ID.to_owned()),
            ttl: options
                .lookup_cache_ttl
                .or_else(|| env.seconds("FIND_TOOLS_LOOKUP_TTL"))
                .unwrap_or(DEFAULT_LOOKUP_TTL),
            negative_ttl: options
                .lookup_negative_cache_ttl
                .or_else(|| env.seconds("FIND_TOOLS_LOOKUP_NEGATIVE_TTL"))
                .unwrap_or(DEFAULT_NEGATIVE_TTL),
        }
    }
}

/// `url` without its user-info, for logs and `settings()`: a password may sit in a URL.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            // Both only fail for URLs that cannot have credentials, which this one has.
            let _ = parsed.set_username("***");
            let _ = parsed.set_password(None);
            parsed.to_string().trim_end_matches('/').to_owned()
        }
        _ => url.to_owned(),
    }
}

pub fn is_truthy_flag(value: &str) -> bool {
    is_exactly_truthy(value.trim())
}

/// One of the truthy words in any case, nothing around it: legacy's reading of
/// `TOOLS_API_ALLOW_INSECURE_HTTP`, where `" true"` is not a yes. A switch that lowers security
/// takes the stricter reading.
fn is_exactly_truthy(value: &str) -> bool {
    matches!(
        value.to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

fn tool_selector_base(options: &Options, env: &Environment) -> Result<String, ConfigError> {
    let allow_insecure = options.allow_insecure_http.unwrap_or_else(|| {
        env.get("TOOLS_API_ALLOW_INSECURE_HTTP")
            .is_some_and(|v| is_exactly_truthy(&v))
    });
    let configured = options
        .base_url
        .clone()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| {
            BASE_URL_VARIABLES
                .iter()
                .find_map(|name| env.non_empty(name))
        });
    let raw = match configured {
        Some(value) => value.trim().to_owned(),
        None => {
            warn_once(&format!(
                "no Tool Selector URL configured (TOOLS_API_BASE_URL); using {DEFAULT_TOOL_SELECTOR_URL}"
            ));
            DEFAULT_TOOL_SELECTOR_URL.to_owned()
        }
    };
    let promoted = match raw.strip_prefix("http://") {
        Some(rest) if !allow_insecure => {
            warn_once(
                "the Tool Selector URL uses http://; promoted to https:// \
                 (set TOOLS_API_ALLOW_INSECURE_HTTP=true to allow plain http)",
            );
            format!("https://{rest}")
        }
        _ => raw,
    };
    let base = encode_path(promoted.trim_end_matches('/'));
    check_url(&base, "the Tool Selector URL")?;
    Ok(base)
}

fn letta_base(options: &Options, env: &Environment) -> Result<String, ConfigError> {
    let raw = options
        .letta_api_url
        .clone()
        .or_else(|| env.non_empty("LETTA_API_URL"))
        .unwrap_or_else(|| DEFAULT_LETTA_API_URL.to_owned());
    let trimmed = raw.trim().trim_end_matches('/');
    let base = if trimmed.ends_with("/v1") {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/v1")
    };
    let base = encode_path(&base);
    check_url(&base, "LETTA_API_URL")?;
    Ok(base)
}

/// `url` with its path (everything after the authority) percent-encoded as `requests` sends it,
/// so that a non-ASCII path goes out as UTF-8 escapes rather than raw bytes in the request line.
fn encode_path(url: &str) -> String {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let path_start = url[authority_start..]
        .find('/')
        .map_or(url.len(), |i| authority_start + i);
    let (origin, path) = url.split_at(path_start);
    format!("{origin}{}", utf8_percent_encode(path, UNSAFE_IN_PATH))
}

fn check_url(url: &str, what: &str) -> Result<(), ConfigError> {
    let parsed = url::Url::parse(url)
        .map_err(|e| ConfigError(format!("{what} is not a valid URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError(format!("{what} must use http or https")));
    }
    Ok(())
}

/// Explicit value first, then the variable; sent as given (spaces included), as legacy sent it.
/// Refused, rather than sent mangled or split into two headers: a control character other than
/// tab (CR, LF, NUL, DEL, C1), which could end or forge a header, and a character above U+00FF,
/// which has no Latin-1 byte for HTTP's obs-text (legacy's `http.client` failed on it).
fn secret(
    explicit: Option<String>,
    variable: &str,
    env: &Environment,
) -> Result<Option<Secret>, ConfigError> {
    let value = explicit
        .or_else(|| env.get(variable))
        .filter(|v| !v.is_empty());
    match value {
        Some(v) if v.chars().any(|c| c.is_control() && c != '\t') => Err(ConfigError(format!(
            "{variable} contains a control character (CR, LF, NUL...) and cannot be sent in a header"
        ))),
        Some(v) if v.chars().any(|c| u32::from(c) > 0xff) => Err(ConfigError(format!(
            "{variable} contains a character beyond Latin-1 (e.g. a zero-width space) and cannot \
             be sent in a header"
        ))),
        Some(v) => Ok(Some(Secret(v))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve_with(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        resolve_opts(&Options::default(), vars)
    }

    fn resolve_opts(options: &Options, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        resolve(options, &|name| map.get(name).cloned())
    }

    #[test]
    fn base_url_takes_the_first_non_empty_variable_in_order() {
        let c = resolve_with(&[
            ("TOOLS_API_BASE_URL", "  "),
            ("TOOLS_API_URL", ""),
            ("TOOL_SELECTOR_API_URL", "https://b.example/"),
            ("WEAVIATE_TOOLS_API_URL", "https://c.example"),
        ])
        .unwrap();
        assert_eq!(c.base_url, "https://b.example");
        assert_eq!(c.attach_url, "https://b.example/api/v1/tools/attach");
    }

    #[test]
    fn no_base_url_uses_the_default() {
        let c = resolve_with(&[]).unwrap();
        assert_eq!(c.base_url, DEFAULT_TOOL_SELECTOR_URL);
    }

    #[test]
    fn plain_http_is_promoted_unless_allowed() {
        let promoted = resolve_with(&[("TOOLS_API_URL", "http://ts:8020/")]).unwrap();
        assert_eq!(promoted.base_url, "https://ts:8020");
        for flag in ["1", "TRUE", "yes", "On"] {
            let allowed = resolve_with(&[
                ("TOOLS_API_URL", "http://ts:8020/"),
                ("TOOLS_API_ALLOW_INSECURE_HTTP", flag),
            ])
            .unwrap();
            assert_eq!(allowed.base_url, "http://ts:8020", "flag {flag}");
        }
        let refused = resolve_with(&[
            ("TOOLS_API_URL", "http://ts:8020"),
            ("TOOLS_API_ALLOW_INSECURE_HTTP", "nope"),
        ])
        .unwrap();
        assert_eq!(refused.base_url, "https://ts:8020");
    }

    #[test]
    fn a_path_prefix_in_the_base_is_kept() {
        let c = resolve_with(&[("TOOLS_API_BASE_URL", "https://h/sub/")]).unwrap();
        assert_eq!(c.attach_url, "https://h/sub/api/v1/tools/attach");
    }

    #[test]
    fn letta_url_gets_exactly_one_v1_and_keeps_its_scheme() {
        for (raw, want) in [
            ("http://letta:8283", "http://letta:8283/v1"),
            ("http://letta:8283/", "http://letta:8283/v1"),
            ("http://letta:8283/v1", "http://letta:8283/v1"),
            ("http://letta:8283/v1/", "http://letta:8283/v1"),
        ] {
            let c = resolve_with(&[("LETTA_API_URL", raw)]).unwrap();
            assert_eq!(c.letta_api_url, want, "from {raw}");
        }
        assert_eq!(
            resolve_with(&[]).unwrap().letta_api_url,
            DEFAULT_LETTA_API_URL
        );
    }

    #[test]
    fn passwords_and_tokens() {
        let c = resolve_with(&[("LETTA_PASSWORD", "lp")]).unwrap();
        assert_eq!(c.selector_password.unwrap().expose(), "lp");
        assert_eq!(c.letta_password.unwrap().expose(), "lp");
        let c = resolve_with(&[
            ("LETTA_PASSWORD", "lp"),
            ("TOOL_SELECTOR_PASSWORD", "sp"),
            ("TOOL_SELECTOR_BEARER_TOKEN", "tok"),
        ])
        .unwrap();
        assert_eq!(c.selector_password.unwrap().expose(), "sp");
        assert_eq!(c.bearer_token.unwrap().expose(), "tok");
    }

    #[test]
    fn a_secret_with_a_line_break_is_refused_without_showing_it() {
        let err = resolve_with(&[("TOOL_SELECTOR_PASSWORD", "abc\r\nX-Evil: 1")]).unwrap_err();
        assert!(err.0.contains("TOOL_SELECTOR_PASSWORD"));
        assert!(!err.0.contains("abc"));
        assert!(!format!("{:?}", Secret("hunter2".into())).contains("hunter2"));
    }

    #[test]
    fn a_secret_that_could_split_a_header_or_has_no_latin1_byte_is_refused() {
        for variable in [
            "TOOL_SELECTOR_PASSWORD",
            "TOOL_SELECTOR_BEARER_TOKEN",
            "LETTA_PASSWORD",
        ] {
            for value in [
                "tok\u{200b}en",
                "tok\u{100}",
                "tok😀",
                "tok\u{7f}",
                "tok\u{85}",
                "tok\0",
                "tok\u{1b}",
            ] {
                let err = resolve_with(&[(variable, value)]).unwrap_err();
                assert!(err.0.contains(variable), "{variable}={value:?}: {}", err.0);
                assert!(!err.0.contains("tok"), "{}", err.0);
            }
        }
    }

    #[test]
    fn a_secret_is_kept_as_given_spaces_tabs_and_latin1_included() {
        for value in [
            " lead",
            "trail ",
            "tab\there",
            "p\u{e9}",
            "\u{a0}nbsp",
            "\u{ff}",
            "a b~!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}",
        ] {
            let c = resolve_with(&[
                ("TOOL_SELECTOR_BEARER_TOKEN", value),
                ("LETTA_PASSWORD", value),
            ])
            .unwrap();
            assert_eq!(c.bearer_token.unwrap().expose(), value);
            assert_eq!(c.letta_password.unwrap().expose(), value);
        }
    }

    #[test]
    fn the_insecure_switch_is_read_exactly() {
        for flag in [" true", "true ", "\ttrue", "yes\n", "tru"] {
            let c = resolve_with(&[
                ("TOOLS_API_URL", "http://ts:8020"),
                ("TOOLS_API_ALLOW_INSECURE_HTTP", flag),
            ])
            .unwrap();
            assert_eq!(c.base_url, "https://ts:8020", "flag {flag:?}");
        }
    }

    #[test]
    fn a_path_is_sent_percent_encoded() {
        let c =
            resolve_with(&[("TOOLS_API_BASE_URL", "https://h:1/\u{fc}/caf\u{e9} x/%41/")]).unwrap();
        assert_eq!(c.base_url, "https://h:1/%C3%BC/caf%C3%A9%20x/%41");
        assert_eq!(
            c.attach_url,
            "https://h:1/%C3%BC/caf%C3%A9%20x/%41/api/v1/tools/attach"
        );
        let c = resolve_with(&[("LETTA_API_URL", "http://l/\u{e9}t\u{e9}")]).unwrap();
        assert_eq!(c.letta_api_url, "http://l/%C3%A9t%C3%A9/v1");
        assert_eq!(encode_path("https://h"), "https://h");
        assert_eq!(
            encode_path("https://u:p@h/a?b=\"c\""),
            "https://u:p@h/a?b=%22c%22"
        );
    }

    #[test]
    fn the_loop_trigger_is_off_unless_asked_for() {
        assert!(!resolve_with(&[]).unwrap().trigger_loop);
        assert!(
            !resolve_with(&[("FIND_TOOLS_TRIGGER_LOOP", "no")])
                .unwrap()
                .trigger_loop
        );
        assert!(
            resolve_with(&[("FIND_TOOLS_TRIGGER_LOOP", "true")])
                .unwrap()
                .trigger_loop
        );
        let options = Options {
            trigger_loop: Some(false),
            ..Default::default()
        };
        let c = resolve_opts(&options, &[("FIND_TOOLS_TRIGGER_LOOP", "1")]).unwrap();
        assert!(!c.trigger_loop);
    }

    #[test]
    fn numeric_variables_fall_back_on_bad_values() {
        let c = resolve_with(&[
            ("TOOLS_API_TIMEOUT", "0"),
            ("FIND_TOOLS_MAX_LIMIT", ""),
            ("FIND_TOOLS_CONNECTIONS", "x"),
        ])
        .unwrap();
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        assert_eq!(c.max_limit, DEFAULT_MAX_LIMIT);
        assert_eq!(c.connections, DEFAULT_CONNECTIONS);
        let c =
            resolve_with(&[("TOOLS_API_TIMEOUT", "2.5"), ("FIND_TOOLS_MAX_LIMIT", "7")]).unwrap();
        assert_eq!(c.timeout, Duration::from_millis(2500));
        assert_eq!(c.max_limit, 7);
        assert_eq!(c.lookup_budget(), Duration::from_millis(1250));
    }

    #[test]
    fn options_win_over_the_environment() {
        let options = Options {
            base_url: Some("http://opt:1".into()),
            allow_insecure_http: Some(true),
            connections: Some(3),
            tool_id: Some("tool-x".into()),
            ..Default::default()
        };
        let c = resolve_opts(
            &options,
            &[
                ("TOOLS_API_BASE_URL", "https://env:2"),
                ("FIND_TOOLS_CONNECTIONS", "9"),
            ],
        )
        .unwrap();
        assert_eq!(c.base_url, "http://opt:1");
        assert_eq!(c.connections, 3);
        assert_eq!(c.tool_id.as_deref(), Some("tool-x"));
    }

    #[test]
    fn credentials_in_urls_are_redacted_for_display() {
        assert_eq!(redact_url("https://user:pw@h:1/x"), "https://***@h:1/x");
        assert_eq!(redact_url("https://token@h/v1"), "https://***@h/v1");
        assert_eq!(redact_url("http://h:8020"), "http://h:8020");
        assert_eq!(redact_url("http://h:8020/sub"), "http://h:8020/sub");
    }

    #[test]
    fn a_url_that_is_not_http_is_refused() {
        assert!(resolve_with(&[("TOOLS_API_BASE_URL", "ftp://x")]).is_err());
        assert!(resolve_with(&[("LETTA_API_URL", "not a url")]).is_err());
    }
}
