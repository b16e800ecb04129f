//! The pooled HTTP client: one reqwest client per `ToolSelectorClient`, a bounded number of
//! requests in flight per upstream, connections counted where they are made.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONNECTION, CONTENT_TYPE};
use tokio::sync::Semaphore;
use tower::{Layer, Service};

use crate::config::{Config, ConfigError, ProxySettings};
use crate::log::warn_once;
use crate::stats::Stats;

/// How many times a lookup GET is sent again after its connection failed without a response.
const IDEMPOTENT_RETRIES: u32 = 2;

/// A request sent this soon after another one finished, with nothing else in flight, should
/// find that one's connection in the pool; if it has to open one instead, the server closed
/// the connection right after answering.
const QUICK_REUSE: Duration = Duration::from_millis(50);

tokio::task_local! {
    /// Set by the connector when the request being sent made the pool open a connection, so a
    /// failure can be told apart: on a fresh connection, or on one reused from the pool.
    static OPENED_CONNECTION: Cell<bool>;
}

/// Why an upstream request produced no HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Timeout,
    /// Refused, reset, DNS, TLS, a malformed response...
    Transport,
    /// The body was larger than the configured cap; reading stopped there.
    TooLarge,
    /// `close()` was called on the client.
    Closed,
}

pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Which upstream a request goes to; each has its own in-flight bound.
#[derive(Debug, Clone, Copy)]
pub enum Upstream {
    ToolSelector,
    Letta,
}

pub struct HttpClient {
    client: RwLock<Option<reqwest::Client>>,
    // One bound per upstream: with HTTP/1.1 a request in flight holds one connection, so
    // bounding requests bounds sockets without waiting on the pool's internals.
    tool_selector_slots: Semaphore,
    letta_slots: Semaphore,
    connections: usize,
    /// Per upstream, set once it is seen to close connections right after answering without
    /// saying so (no `Connection: close`): a reused connection dropped without an answer, or
    /// the connection of a request that just finished already gone from the pool. Reusing
    /// such connections races the server's close, and an attach caught in that race cannot be
    /// retried; from then on the upstream's requests ask for `Connection: close` instead.
    closes_connections: [AtomicBool; 2],
    /// Per upstream, when a request last finished with its whole answer read: microseconds
    /// since `epoch`, plus one (0 for never).
    finished_at: [AtomicU64; 2],
    epoch: Instant,
    quick_reuse: Duration,
    /// Both upstreams on one origin share pooled connections, so also what is learnt of them.
    same_origin: bool,
    max_response_bytes: usize,
    stats: Arc<Stats>,
}

impl HttpClient {
    pub fn new(config: &Config, stats: Arc<Stats>) -> Result<Self, ConfigError> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .pool_max_idle_per_host(config.connections)
            .pool_idle_timeout(config.keep_alive_timeout)
            .connect_timeout(config.connect_timeout)
            .tcp_nodelay(true)
            // A redirect would turn the attach POST into a GET or carry credentials to another
            // host; a 3xx is reported like any other non-200 answer instead.
            .redirect(reqwest::redirect::Policy::none())
            .connector_layer(CountConnectionsLayer {
                stats: stats.clone(),
            })
            .no_proxy();
        for proxy in proxies(&config.proxy)? {
            builder = builder.proxy(proxy);
        }
        for certificate in extra_certificates(config.extra_ca_certs.as_deref()) {
            builder = builder.add_root_certificate(certificate);
        }
        let client = builder
            .build()
            .map_err(|e| ConfigError(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpClient {
            client: RwLock::new(Some(client)),
            tool_selector_slots: Semaphore::new(config.connections),
            letta_slots: Semaphore::new(config.connections),
            connections: config.connections,
            closes_connections: [AtomicBool::new(false), AtomicBool::new(false)],
            finished_at: [AtomicU64::new(0), AtomicU64::new(0)],
            epoch: Instant::now(),
            // Our own idle timeout must not look like the server's close.
            quick_reuse: QUICK_REUSE.min(config.keep_alive_timeout / 2),
            same_origin: same_origin(&config.attach_url, &config.letta_api_url),
            max_response_bytes: config.max_response_bytes,
            stats,
        })
    }

    /// Drops the pool: idle connections close now, busy ones when their request ends.
    pub fn close(&self) {
        if let Ok(mut client) = self.client.write() {
            client.take();
        }
    }

    pub fn is_closed(&self) -> bool {
        self.client.read().map(|c| c.is_none()).unwrap_or(true)
    }

    pub async fn get(&self, url: &str, bearer: Option<&str>) -> Result<Reply, Failure> {
        let client = self.current()?;
        let mut headers = json_headers();
        if let Some(token) = bearer {
            headers.insert(AUTHORIZATION, header_value(&format!("Bearer {token}"))?);
        }
        self.ask_to_close_if_needed(Upstream::Letta, &mut headers);
        self.send(Upstream::Letta, client.get(url).headers(headers), true)
            .await
    }

    pub async fn post_json(
        &self,
        url: &str,
        extra_headers: HeaderMap,
        body: String,
    ) -> Result<Reply, Failure> {
        let client = self.current()?;
        let mut headers = json_headers();
        headers.extend(extra_headers);
        self.ask_to_close_if_needed(Upstream::ToolSelector, &mut headers);
        self.send(
            Upstream::ToolSelector,
            client.post(url).headers(headers).body(body),
            false,
        )
        .await
    }

    fn ask_to_close_if_needed(&self, upstream: Upstream, headers: &mut HeaderMap) {
        let learnt = |u: Upstream| self.closes_connections[u as usize].load(Relaxed);
        let other = match upstream {
            Upstream::ToolSelector => Upstream::Letta,
            Upstream::Letta => Upstream::ToolSelector,
        };
        if learnt(upstream) || (self.same_origin && learnt(other)) {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
    }

    fn learn_closes_connections(&self, upstream: Upstream) {
        if !self.closes_connections[upstream as usize].swap(true, Relaxed) {
            let name = match upstream {
                Upstream::ToolSelector => "Tool Selector",
                Upstream::Letta => "Letta API",
            };
            warn_once(&format!(
                "the {name} closes connections right after answering without saying so; \
                 its requests now ask for a new connection each (Connection: close)"
            ));
        }
    }

    fn slots(&self, upstream: Upstream) -> &Semaphore {
        match upstream {
            Upstream::ToolSelector => &self.tool_selector_slots,
            Upstream::Letta => &self.letta_slots,
        }
    }

    fn now_micros(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX - 1) + 1
    }

    /// Whether the pool should hold an idle connection for `upstream` now: the caller's is the
    /// only request in flight to its origin, and another one finished there a moment ago.
    fn expects_an_idle_connection(&self, upstream: Upstream) -> bool {
        let both = [Upstream::ToolSelector, Upstream::Letta];
        let origin: &[Upstream] = if self.same_origin {
            &both
        } else {
            std::slice::from_ref(&upstream)
        };
        let in_flight: usize = origin
            .iter()
            .map(|u| self.connections - self.slots(*u).available_permits())
            .sum();
        let now = self.now_micros();
        let quick = u64::try_from(self.quick_reuse.as_micros()).unwrap_or(u64::MAX);
        in_flight == 1
            && origin.iter().any(|u| {
                let finished = self.finished_at[*u as usize].load(Relaxed);
                finished != 0 && now.saturating_sub(finished) < quick
            })
    }

    fn current(&self) -> Result<reqwest::Client, Failure> {
        self.client
            .read()
            .ok()
            .and_then(|c| c.clone())
            .ok_or(Failure::Closed)
    }

    /// `idempotent`: the request may be sent again (at most `IDEMPOTENT_RETRIES` times) when
    /// an attempt got no response because the connection failed after it was established.
    /// That is the keep-alive race: a server closing a pooled connection just as a request
    /// goes out on it, which hyper retries by itself only when it notices before writing, and
    /// which can hit the retry too while other pooled connections are closing. Only the lookup
    /// GETs set it; the attach POST is never repeated (contract §4).
    async fn send(
        &self,
        upstream: Upstream,
        request: reqwest::RequestBuilder,
        idempotent: bool,
    ) -> Result<Reply, Failure> {
        let _slot = self
            .slots(upstream)
            .acquire()
            .await
            .map_err(|_| Failure::Closed)?;
        let expects_reuse = self.expects_an_idle_connection(upstream);
        let mut retries = if idempotent { IDEMPOTENT_RETRIES } else { 0 };
        let mut request = request;
        let mut response = loop {
            let again = if retries > 0 {
                request.try_clone()
            } else {
                None
            };
            self.stats.upstream_requests.fetch_add(1, Relaxed);
            let (sent, opened) = OPENED_CONNECTION
                .scope(Cell::new(false), async {
                    let sent = request.send().await;
                    (sent, OPENED_CONNECTION.with(Cell::get))
                })
                .await;
            let dropped = |error: &reqwest::Error| !error.is_connect() && !error.is_timeout();
            if let Err(error) = &sent {
                if !opened && dropped(error) {
                    self.learn_closes_connections(upstream);
                }
            }
            match (sent, again) {
                (Ok(response), _) => {
                    if opened && expects_reuse {
                        self.learn_closes_connections(upstream);
                    }
                    break response;
                }
                (Err(error), Some(again)) if dropped(&error) => {
                    retries -= 1;
                    request = again;
                    // Lets the runtime see the closes that are already on their way.
                    tokio::task::yield_now().await;
                }
                (Err(error), _) => return Err(classify(error)),
            }
        };
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > self.max_response_bytes {
                return Err(Failure::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        // hyper hands the connection back to the pool from a task of its own once the body is
        // done; one turn of the scheduler lets that happen before the caller's next request,
        // which would otherwise find the pool empty and open a second socket.
        drop(response);
        tokio::task::yield_now().await;
        self.finished_at[upstream as usize].store(self.now_micros(), Relaxed);
        Ok(Reply { status, body })
    }
}

/// Whether two URLs share scheme, host and port (hence a connection pool).
fn same_origin(a: &str, b: &str) -> bool {
    match (reqwest::Url::parse(a), reqwest::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(4);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    headers
}

/// Configuration already refuses control characters, so this only fails on values a caller
/// built by hand; the failure says nothing of the value.
pub fn header_value(value: &str) -> Result<HeaderValue, Failure> {
    let mut header = HeaderValue::from_str(value).map_err(|_| Failure::Transport)?;
    header.set_sensitive(true);
    Ok(header)
}

fn classify(error: reqwest::Error) -> Failure {
    if error.is_timeout() {
        Failure::Timeout
    } else {
        Failure::Transport
    }
}

/// Proxies from the usual variables; loopback is never proxied, whatever `NO_PROXY` says.
fn proxies(settings: &ProxySettings) -> Result<Vec<reqwest::Proxy>, ConfigError> {
    let bypass = format!(
        "localhost,127.0.0.0/8,::1,{}",
        settings.no_proxy.as_deref().unwrap_or("")
    );
    let mut list = Vec::new();
    let entries = [
        (settings.http.as_deref(), "HTTP_PROXY", false),
        (settings.https.as_deref(), "HTTPS_PROXY", true),
    ];
    for (url, name, for_https) in entries {
        let Some(url) = url else { continue };
        let proxy = if for_https {
            reqwest::Proxy::https(url)
        } else {
            reqwest::Proxy::http(url)
        }
        .map_err(|_| ConfigError(format!("{name} is not a valid proxy URL")))?;
        list.push(proxy.no_proxy(reqwest::NoProxy::from_string(&bypass)));
    }
    Ok(list)
}

/// Node's `NODE_EXTRA_CA_CERTS`: extra roots next to the bundled ones. Like Node, a file that
/// cannot be read is a warning, not a failure.
fn extra_certificates(path: Option<&str>) -> Vec<reqwest::Certificate> {
    let Some(path) = path else {
        return Vec::new();
    };
    let loaded = std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|pem| reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| e.to_string()));
    match loaded {
        Ok(certificates) => certificates,
        Err(reason) => {
            warn_once(&format!(
                "ignoring extra CA certificates from NODE_EXTRA_CA_CERTS ({path}): {reason}"
            ));
            Vec::new()
        }
    }
}

#[derive(Clone)]
struct CountConnectionsLayer {
    stats: Arc<Stats>,
}

impl<S> Layer<S> for CountConnectionsLayer {
    type Service = CountConnections<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CountConnections {
            inner,
            stats: self.stats.clone(),
        }
    }
}

/// Counts every connection the pool opens, so reuse shows up in `stats()`.
#[derive(Clone)]
struct CountConnections<S> {
    inner: S,
    stats: Arc<Stats>,
}

impl<S, R> Service<R> for CountConnections<S>
where
    S: Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let connecting = self.inner.call(request);
        // Outside a request's scope (a connect the pool finishes in the background) there is
        // nobody to tell.
        let _ = OPENED_CONNECTION.try_with(|opened| opened.set(true));
        let stats = self.stats.clone();
        Box::pin(async move {
            let connection = connecting.await?;
            stats.connections_opened.fetch_add(1, Relaxed);
            Ok(connection)
        })
    }
}
