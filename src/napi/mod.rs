//! The `#[napi]` surface: the JS API of `index.d.ts`, each call validated on the JS thread, run on
//! the process-wide runtime and settled back on the JS thread.

mod abort;
mod read;
mod settle;
mod warnings;

use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::Unknown;
use napi_derive::napi;
use once_cell::sync::Lazy;

use crate::client::{ClientClosed, FindToolsClient};
use crate::config::{self, ConfigError};
use crate::outcome::Kind;
use crate::{args, stats};
use abort::{AbortListener, Listening};
use read::{read_args, read_signal};
use settle::Settlement;

static DEFAULT_CLIENT: Lazy<std::result::Result<Arc<FindToolsClient>, ConfigError>> =
    Lazy::new(|| {
        build_client(&config::Options::default(), &|name| {
            std::env::var(name).ok()
        })
    });

fn build_client(
    options: &config::Options,
    env: &dyn Fn(&str) -> Option<String>,
) -> std::result::Result<Arc<FindToolsClient>, ConfigError> {
    let config = config::resolve(options, env)?;
    FindToolsClient::new(config).map(Arc::new)
}

fn default_client() -> Result<Arc<FindToolsClient>> {
    DEFAULT_CLIENT
        .as_ref()
        .map(Arc::clone)
        .map_err(|e| Error::from_reason(format!("letta-find-tools configuration: {e}")))
}

/// Arguments of a find_tools call (BEHAVIOUR.md §1). Every field is optional; `null` and
/// `undefined` mean "not given". A field of any other type rejects with a `TypeError`.
// Only the generated `.d.ts` uses this type: the call reads its arguments by hand (read.rs).
#[napi(object)]
pub struct FindToolsArgs {
    /// What kind of tool the agent is looking for; sent only when non-empty.
    pub query: Option<String>,
    /// The agent to attach tools to; sent only when non-empty, and used to look up the id of
    /// the agent's own find_tools tool.
    #[napi(js_name = "agent_id")]
    pub agent_id: Option<String>,
    /// Tool ids to keep attached: a comma-separated string or a list. The find_tools id is
    /// always kept, first.
    #[napi(js_name = "keep_tools")]
    pub keep_tools: Option<Either<String, Vec<String>>>,
    /// How many tools to attach (number or numeric string): floored, clamped to
    /// `[1, FIND_TOOLS_MAX_LIMIT]`; missing or not a finite number → 10.
    pub limit: Option<Either<f64, String>>,
    /// Minimum match score 0–100 (number or numeric string); missing or not finite → 50.
    #[napi(js_name = "min_score")]
    pub min_score: Option<Either<f64, String>>,
    /// Ask Letta for a heartbeat: a boolean, or the string "true" in any case.
    #[napi(js_name = "request_heartbeat")]
    pub request_heartbeat: Option<Either<bool, String>>,
}

/// Per-call options.
// Only the generated `.d.ts` uses this type: the call reads its options by hand (read.rs).
#[napi(object)]
pub struct CallOptions {
    /// Cancels the call: the upstream request is dropped and the promise rejects with the
    /// signal's reason (an `AbortError` for `controller.abort()`). The signal counts as aborted
    /// when its `aborted` is `true`; the addon keeps no hold on it once the call has settled.
    #[napi(ts_type = "AbortSignal")]
    pub signal: Option<Unknown<'static>>,
}

/// Options of an explicit client. Every option left out is read from the environment when
/// the client is constructed (see the README's table); durations are in milliseconds.
#[napi(object)]
#[derive(Default)]
pub struct ClientOptions {
    /// Tool Selector base URL (`TOOLS_API_BASE_URL` and its aliases).
    pub base_url: Option<String>,
    /// Letta API URL, with or without the trailing `/v1` (`LETTA_API_URL`).
    pub letta_api_url: Option<String>,
    /// Sent as `X-BARE-PASSWORD: password <value>` (`TOOL_SELECTOR_PASSWORD`, else `LETTA_PASSWORD`).
    pub password: Option<String>,
    /// Sent as `Authorization: Bearer <value>` on the attach request (`TOOL_SELECTOR_BEARER_TOKEN`).
    pub bearer_token: Option<String>,
    /// Sent as `Authorization: Bearer <value>` on lookups (`LETTA_PASSWORD`).
    pub letta_password: Option<String>,
    /// Allow a plain `http://` Tool Selector URL (`TOOLS_API_ALLOW_INSECURE_HTTP`).
    pub allow_insecure_http: Option<bool>,
    /// Budget of a whole call, lookup and attach (`TOOLS_API_TIMEOUT`, in seconds there; 15 s).
    pub timeout: Option<f64>,
    /// Budget of opening one connection (`FIND_TOOLS_CONNECT_TIMEOUT_MS`; 5000).
    pub connect_timeout: Option<f64>,
    /// How long an idle pooled connection is kept (`FIND_TOOLS_KEEP_ALIVE_TIMEOUT_MS`; 4000).
    pub keep_alive_timeout: Option<f64>,
    /// Requests in flight, hence connections, per upstream (`FIND_TOOLS_CONNECTIONS`; 32).
    pub connections: Option<u32>,
    /// Upper bound of `limit` (`FIND_TOOLS_MAX_LIMIT`; 25).
    pub max_limit: Option<u32>,
    /// A fixed find_tools id: no lookup at all (`FIND_TOOLS_TOOL_ID`).
    pub tool_id: Option<String>,
    /// The id used when no lookup finds one (`FIND_TOOLS_FALLBACK_ID`).
    pub fallback_tool_id: Option<String>,
    /// How long a found id is cached (`FIND_TOOLS_LOOKUP_TTL`, in seconds there; 300 s).
    pub lookup_cache_ttl: Option<f64>,
    /// How long a fallback id is cached (`FIND_TOOLS_LOOKUP_NEGATIVE_TTL`, in seconds there; 30 s).
    pub lookup_negative_cache_ttl: Option<f64>,
    /// Largest upstream body read (`FIND_TOOLS_MAX_RESPONSE_BYTES`; 16 MiB).
    pub max_response_bytes: Option<u32>,
    /// After an attach that attached tools, post a message to the agent so that its next step
    /// sees them; the result line gets `loop_triggered` (`FIND_TOOLS_TRIGGER_LOOP`; off).
    pub trigger_loop: Option<bool>,
    /// Read the environment from this object instead of `process.env`.
    pub env: Option<std::collections::HashMap<String, String>>,
}

/// Counters of one client, for dashboards. Counts are totals since the client was made.
#[napi(object)]
pub struct ClientStats {
    /// Calls started.
    pub calls: f64,
    /// Calls not yet settled.
    pub in_flight: f64,
    /// HTTP requests sent upstream (lookups and attaches).
    pub upstream_requests: f64,
    /// TCP connections opened; stays low while the pool reuses them.
    pub connections_opened: f64,
    /// Calls that found the find_tools id in the cache.
    pub lookup_cache_hits: f64,
    /// Calls that ran a lookup.
    pub lookup_cache_misses: f64,
    /// Calls that waited for a lookup another call was already running.
    pub lookup_shared: f64,
    /// Calls that resolved to the timeout line.
    pub timeouts: f64,
    /// Calls that resolved to an error line (timeouts included).
    pub errors: f64,
    /// Median call latency, milliseconds.
    pub latency_p50_ms: f64,
    /// 99th percentile call latency, milliseconds.
    pub latency_p99_ms: f64,
    /// Cumulative latency histogram: calls that took at most `le` milliseconds.
    pub latency_buckets: Vec<LatencyBucket>,
}

/// One bucket of the latency histogram, Prometheus style.
#[napi(object)]
pub struct LatencyBucket {
    /// Upper bound, milliseconds.
    pub le: f64,
    /// Calls that took at most `le` milliseconds (cumulative).
    pub count: f64,
}

/// Where a client sends its requests. Secrets appear only as booleans; credentials in a URL
/// are shown as `***`.
#[napi(object)]
pub struct ClientSettings {
    /// Tool Selector base URL.
    pub tool_selector_url: String,
    /// Where the attach request goes.
    pub attach_url: String,
    /// Letta API base, ending in `/v1`.
    pub letta_api_url: String,
    /// Budget of a whole call.
    pub timeout_ms: f64,
    /// Most connections (and requests in flight) per upstream.
    pub connections: u32,
    /// Upper bound of `limit`.
    pub max_limit: u32,
    /// The find_tools id is configured, so no lookup is made.
    pub fixed_tool_id: bool,
    /// An `X-BARE-PASSWORD` is sent on the attach request.
    pub has_password: bool,
    /// A bearer token is sent on the attach request.
    pub has_bearer_token: bool,
    /// A bearer token is sent on lookups.
    pub has_letta_password: bool,
}

/// Runs find_tools on the default client, built from the environment on first use.
///
/// Resolves to the result line exactly as the legacy script printed it, e.g.
/// `{"status": "success", "message": "...", "details": {...}}`. Upstream and network failures
/// resolve to an error line; only bad arguments (`TypeError`), an aborted signal and an
/// unusable configuration reject.
#[napi(ts_args_type = "args: FindToolsArgs, options?: CallOptions")]
pub fn find_tools<'env>(
    env: &'env Env,
    args: Unknown<'env>,
    options: Option<Unknown<'env>>,
) -> Result<PromiseRaw<'env, String>> {
    start_call(env, default_client(), args, options, ResultShape::Line)
}

/// Same as `findTools`, resolving to the line together with how the call ended, so callers
/// branch on `outcome` instead of parsing the line. Rejects exactly when `findTools` does.
#[napi(ts_args_type = "args: FindToolsArgs, options?: CallOptions")]
pub fn find_tools_outcome<'env>(
    env: &'env Env,
    args: Unknown<'env>,
    options: Option<Unknown<'env>>,
) -> Result<PromiseRaw<'env, FindToolsOutcome>> {
    start_call(
        env,
        default_client(),
        args,
        options,
        ResultShape::WithOutcome,
    )
}

/// Hands each warning of the addon (an unusable setting, a change of connection habit; every
/// one deduplicated as before) to `listener` as its bare message, instead of printing it to
/// stderr, so that a host with its own log writes it in its own format. The listener runs on
/// the JS thread that registered it: at once for a warning raised there (building a client),
/// soon after for one raised on the runtime's threads. It does not keep the process alive. One
/// listener per process: a later call replaces it. A warning the listener cannot take (it
/// threw, or its thread is gone) goes to stderr.
#[napi(ts_args_type = "listener: (message: string) => void")]
pub fn on_warning(env: &Env, listener: Function<String, ()>) -> Result<()> {
    warnings::register(env, listener)
}

/// `limit` when the caller gives none (or not a finite number), before clamping to `maxLimit`.
#[napi]
pub const DEFAULT_LIMIT: u32 = args::DEFAULT_LIMIT;

/// `min_score` when the caller gives none (or not a finite number).
#[napi]
pub const DEFAULT_MIN_SCORE: f64 = args::DEFAULT_MIN_SCORE;

/// How a call that resolved ended, as `findToolsOutcome` spells it.
fn outcome_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Success => "success",
        Kind::Error => "error",
        Kind::Timeout => "timeout",
    }
}

/// A result line and how the call ended.
#[napi(object)]
pub struct FindToolsOutcome {
    /// The line `findTools` resolves to.
    pub result: String,
    /// `success` when the Tool Selector attached the tools, `timeout` when the call's budget
    /// ran out (`result` is then the timeout line), `error` for any other upstream or network
    /// failure (`result` is the error line).
    #[napi(ts_type = "'success' | 'error' | 'timeout'")]
    pub outcome: String,
}

/// Counters of the default client.
#[napi]
pub fn stats() -> Result<ClientStats> {
    Ok(to_js_stats(default_client()?.stats()))
}

/// An explicit find_tools client with its own connection pool, cache and counters.
#[napi]
pub struct ToolSelectorClient {
    inner: Arc<FindToolsClient>,
}

#[napi]
impl ToolSelectorClient {
    /// Options win; every option left out comes from the environment, read now.
    /// Throws when the configuration cannot work (a malformed URL, a secret with a line break).
    #[napi(constructor)]
    pub fn new(options: Option<ClientOptions>) -> Result<Self> {
        let options = options.unwrap_or_default();
        let env_map = options.env.clone();
        let read_env = move |name: &str| match &env_map {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        };
        let inner = build_client(&core_options(options)?, &read_env)
            .map_err(|e| Error::from_reason(format!("letta-find-tools configuration: {e}")))?;
        Ok(ToolSelectorClient { inner })
    }

    /// Same as the module's `findTools`, on this client.
    #[napi(ts_args_type = "args: FindToolsArgs, options?: CallOptions")]
    pub fn find_tools<'env>(
        &self,
        env: &'env Env,
        args: Unknown<'env>,
        options: Option<Unknown<'env>>,
    ) -> Result<PromiseRaw<'env, String>> {
        start_call(
            env,
            Ok(self.inner.clone()),
            args,
            options,
            ResultShape::Line,
        )
    }

    /// Same as the module's `findToolsOutcome`, on this client.
    #[napi(ts_args_type = "args: FindToolsArgs, options?: CallOptions")]
    pub fn find_tools_outcome<'env>(
        &self,
        env: &'env Env,
        args: Unknown<'env>,
        options: Option<Unknown<'env>>,
    ) -> Result<PromiseRaw<'env, FindToolsOutcome>> {
        start_call(
            env,
            Ok(self.inner.clone()),
            args,
            options,
            ResultShape::WithOutcome,
        )
    }

    /// This client's counters.
    #[napi]
    pub fn stats(&self) -> ClientStats {
        to_js_stats(self.inner.stats())
    }

    /// Where this client sends requests, without secrets.
    #[napi]
    pub fn settings(&self) -> ClientSettings {
        let c = self.inner.config();
        ClientSettings {
            tool_selector_url: config::redact_url(&c.base_url),
            attach_url: config::redact_url(&c.attach_url),
            letta_api_url: config::redact_url(&c.letta_api_url),
            timeout_ms: c.timeout.as_secs_f64() * 1000.0,
            connections: u32::try_from(c.connections).unwrap_or(u32::MAX),
            max_limit: c.max_limit,
            fixed_tool_id: c.tool_id.is_some(),
            has_password: c.selector_password.is_some(),
            has_bearer_token: c.bearer_token.is_some(),
            has_letta_password: c.letta_password.is_some(),
        }
    }

    /// Closes idle connections now and busy ones when their call ends. Later calls reject.
    #[napi]
    pub fn close(&self) {
        self.inner.close();
    }
}

fn core_options(options: ClientOptions) -> Result<config::Options> {
    let millis = |name: &str, value: Option<f64>| -> Result<Option<Duration>> {
        value
            .map(|ms| {
                if ms.is_finite() && ms > 0.0 {
                    Duration::try_from_secs_f64(ms / 1000.0)
                        .map_err(|_| Error::from_reason(format!("{name} is out of range")))
                } else {
                    Err(Error::new(
                        Status::InvalidArg,
                        format!("{name} must be a positive number of milliseconds"),
                    ))
                }
            })
            .transpose()
    };
    let positive = |name: &str, value: Option<u32>| -> Result<Option<u32>> {
        match value {
            Some(0) => Err(Error::new(
                Status::InvalidArg,
                format!("{name} must be at least 1"),
            )),
            other => Ok(other),
        }
    };
    Ok(config::Options {
        base_url: options.base_url,
        letta_api_url: options.letta_api_url,
        password: options.password,
        bearer_token: options.bearer_token,
        letta_password: options.letta_password,
        allow_insecure_http: options.allow_insecure_http,
        timeout: millis("timeout", options.timeout)?,
        connect_timeout: millis("connectTimeout", options.connect_timeout)?,
        keep_alive_timeout: millis("keepAliveTimeout", options.keep_alive_timeout)?,
        connections: positive("connections", options.connections)?.map(|n| n as usize),
        max_limit: positive("maxLimit", options.max_limit)?,
        tool_id: options.tool_id,
        fallback_tool_id: options.fallback_tool_id,
        lookup_cache_ttl: millis("lookupCacheTtl", options.lookup_cache_ttl)?,
        lookup_negative_cache_ttl: millis(
            "lookupNegativeCacheTtl",
            options.lookup_negative_cache_ttl,
        )?,
        max_response_bytes: positive("maxResponseBytes", options.max_response_bytes)?
            .map(|n| n as usize),
        trigger_loop: options.trigger_loop,
    })
}

fn to_js_stats(s: stats::Snapshot) -> ClientStats {
    ClientStats {
        calls: s.calls as f64,
        in_flight: s.in_flight as f64,
        upstream_requests: s.upstream_requests as f64,
        connections_opened: s.connections_opened as f64,
        lookup_cache_hits: s.lookup_cache_hits as f64,
        lookup_cache_misses: s.lookup_cache_misses as f64,
        lookup_shared: s.lookup_shared as f64,
        timeouts: s.timeouts as f64,
        errors: s.errors as f64,
        latency_p50_ms: s.latency_p50_ms,
        latency_p99_ms: s.latency_p99_ms,
        latency_buckets: s
            .latency_buckets
            .into_iter()
            .map(|(le, count)| LatencyBucket {
                le,
                count: count as f64,
            })
            .collect(),
    }
}

/// How a call on the runtime ended, before it is turned into JS on its thread.
enum CallEnd {
    Finished(String, Kind),
    Closed,
    Aborted,
}

impl From<std::result::Result<(String, Kind), ClientClosed>> for CallEnd {
    fn from(result: std::result::Result<(String, Kind), ClientClosed>) -> Self {
        match result {
            Ok((line, kind)) => CallEnd::Finished(line, kind),
            Err(ClientClosed) => CallEnd::Closed,
        }
    }
}

/// What a finished call resolves to: `findTools`'s line, or `findToolsOutcome`'s object.
#[derive(Clone, Copy)]
enum ResultShape {
    Line,
    WithOutcome,
}

/// Validates on the JS thread (so a `TypeError` names the field), then runs the call on the
/// runtime; the returned promise settles back on the JS thread. Every failure before the call
/// starts, a throwing getter or Proxy trap of the caller's included, rejects the promise: it
/// never throws synchronously and never stays pending.
fn start_call<'env, T>(
    env: &'env Env,
    client: Result<Arc<FindToolsClient>>,
    args: Unknown<'env>,
    options: Option<Unknown<'env>>,
    shape: ResultShape,
) -> Result<PromiseRaw<'env, T>> {
    let prepared = client.and_then(|client| Ok((client, read_args(args)?, read_signal(options)?)));
    let (client, raw, signal) = match prepared {
        Ok(ready) => ready,
        Err(error) => return rejected(env, error),
    };
    let (abort, listener) = match signal.map(|signal| abort::listen(env, signal)).transpose() {
        Ok(None) => (None, None),
        Ok(Some(Listening::AlreadyAborted(reason))) => return settle::rejected(env, reason),
        Ok(Some(Listening::Armed(abort, listener))) => (Some(abort), Some(listener)),
        Err(error) => return rejected(env, error),
    };
    let (promise, pending) = match settle::promise(env) {
        Ok(created) => created,
        Err(error) => {
            if let Some(listener) = listener {
                listener.release(env);
            }
            return Err(error);
        }
    };
    spawn(async move {
        let call = client.find_tools(raw);
        let end = match abort {
            None => CallEnd::from(call.await),
            Some(abort) => tokio::select! {
                result = call => CallEnd::from(result),
                _ = abort.notified() => CallEnd::Aborted,
            },
        };
        pending.settle(Box::new(move |env| settlement(env, end, listener, shape)));
    });
    Ok(promise)
}

/// The call's settlement, on its JS thread: the listener comes off the signal first, on every
/// path, so nothing the call took from JS outlives it.
fn settlement<'env>(
    env: &'env Env,
    end: CallEnd,
    listener: Option<AbortListener>,
    shape: ResultShape,
) -> Result<Settlement<'env>> {
    let signal = listener.and_then(|listener| listener.release(env));
    match end {
        CallEnd::Finished(line, kind) => {
            let value = match shape {
                ResultShape::Line => line.into_unknown(env)?,
                ResultShape::WithOutcome => FindToolsOutcome {
                    result: line,
                    outcome: outcome_name(kind).to_owned(),
                }
                .into_unknown(env)?,
            };
            Ok(Settlement::Resolve(value))
        }
        CallEnd::Closed => Err(Error::from_reason("this ToolSelectorClient is closed")),
        CallEnd::Aborted => match signal {
            Some(signal) => Ok(Settlement::Reject(signal.get_named_property("reason")?)),
            None => Err(Error::from_reason("aborted")),
        },
    }
}

/// A promise already rejected with `error`, so misuse surfaces where the caller awaits.
/// A getter or Proxy trap of the caller's that threw left its exception pending: it is taken
/// back and becomes the rejection, so the caller sees its own error, asynchronously like any
/// other. `InvalidArg` errors become a `TypeError`, as JS callers expect for a wrong type.
fn rejected<'env, T>(env: &'env Env, error: Error) -> Result<PromiseRaw<'env, T>> {
    let reason = settle::take_exception(env).unwrap_or_else(|| settle::error_value(env, error));
    settle::rejected(env, reason)
}
