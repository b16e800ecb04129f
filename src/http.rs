//! The pooled HTTP client: hyper's connection pool over a connector of our own, so that every
//! open connection holds one of its origin's `connections` slots until it closes, and the
//! bound on sockets is exact rather than a consequence of how requests are scheduled. This file
//! is the client's API (requests, replies, failures); `connector` makes the connections (TLS,
//! proxies, slots), `origin` keeps what each origin has shown (undici's `core/connect.js`
//! beside `dispatcher/pool.js`).

use std::io;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http::header::{
    ACCEPT, AUTHORIZATION, CONNECTION, CONTENT_TYPE, PROXY_AUTHORIZATION, USER_AGENT,
};
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::sync::Semaphore;

use crate::config::{Config, ConfigError};
use crate::stats::Stats;

mod connector;
mod origin;

use connector::{proxy_matcher, route, tls_config, Dialer};
use origin::{Origin, Origins};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Pool = Client<HttpsConnector<Dialer>, Full<Bytes>>;

/// How many times a lookup GET is sent again after its connection failed without a response.
const IDEMPOTENT_RETRIES: u32 = 2;

/// Why an upstream request produced no HTTP response; each has its result line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Timeout,
    /// Refused, reset, DNS, TLS, a malformed response...
    Transport,
    /// The body was larger than the configured cap; reading stopped there.
    TooLarge,
}

/// Why a request got no reply: a failure, or a client closed before it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// `close()` was called on the client: the call rejects rather than resolving to a line.
    Closed,
    Failed(Failure),
}

impl From<Failure> for RequestError {
    fn from(failure: Failure) -> Self {
        RequestError::Failed(failure)
    }
}

pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Which upstream a request goes to; each has its own bound on requests in flight.
#[derive(Debug, Clone, Copy)]
enum Upstream {
    ToolSelector,
    Letta,
}

pub struct HttpClient {
    pool: RwLock<Option<Pool>>,
    // Requests in flight per upstream. The connector's slots already bound sockets; this
    // keeps a burst queued here, inside each call's own deadline, instead of in the pool.
    tool_selector_slots: Semaphore,
    letta_slots: Semaphore,
    proxies: Option<Arc<Matcher>>,
    origins: Arc<Origins>,
    max_response_bytes: usize,
    stats: Arc<Stats>,
}

impl HttpClient {
    pub fn new(config: &Config, stats: Arc<Stats>) -> Result<Self, ConfigError> {
        let proxies = proxy_matcher(&config.proxy)?.map(Arc::new);
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(config.connect_timeout));
        let origins = Arc::new(Origins::new(config.connections));
        let dialer = Dialer::new(tcp, origins.clone(), proxies.clone(), stats.clone());
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(config.extra_ca_certs.as_deref())?)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(dialer);
        let pool = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(config.keep_alive_timeout)
            .pool_max_idle_per_host(config.connections)
            .build(connector);
        Ok(HttpClient {
            pool: RwLock::new(Some(pool)),
            tool_selector_slots: Semaphore::new(config.connections),
            letta_slots: Semaphore::new(config.connections),
            proxies,
            origins,
            max_response_bytes: config.max_response_bytes,
            stats,
        })
    }

    /// Drops the pool: idle connections close now, busy ones when their request ends.
    pub fn close(&self) {
        if let Ok(mut pool) = self.pool.write() {
            pool.take();
        }
    }

    pub fn is_closed(&self) -> bool {
        self.pool.read().map(|p| p.is_none()).unwrap_or(true)
    }

    /// A lookup: idempotent, so it is sent again if a pooled connection died under it.
    pub async fn get(&self, url: &str, bearer: Option<&str>) -> Result<Reply, RequestError> {
        let uri = parse_uri(url)?;
        let mut headers = json_headers();
        if let Some(token) = bearer {
            headers.insert(AUTHORIZATION, header_value(&format!("Bearer {token}"))?);
        }
        let origin = self.origins.of(&uri);
        let mut retries = IDEMPOTENT_RETRIES;
        loop {
            let request =
                self.request(Method::GET, &uri, &origin, headers.clone(), Bytes::new())?;
            match self.send(Upstream::Letta, &origin, request).await {
                Err(FailedExchange::Dropped) if retries > 0 => retries -= 1,
                outcome => return outcome.map_err(FailedExchange::into_error),
            }
        }
    }

    /// The attach request: sent once. hyper itself resends only a request that never left
    /// because its pooled connection was found closed, as BEHAVIOUR.md §4 allows.
    pub async fn post_json(
        &self,
        url: &str,
        extra_headers: HeaderMap,
        body: String,
    ) -> Result<Reply, RequestError> {
        let mut headers = json_headers();
        headers.extend(extra_headers);
        self.post(Upstream::ToolSelector, url, headers, body).await
    }

    /// A POST to the Letta API (the loop trigger's message), sent once like the attach request
    /// and bounded like the lookups. `headers` are all the request's headers.
    pub async fn post_to_letta(
        &self,
        url: &str,
        headers: HeaderMap,
        body: String,
    ) -> Result<Reply, RequestError> {
        self.post(Upstream::Letta, url, headers, body).await
    }

    async fn post(
        &self,
        upstream: Upstream,
        url: &str,
        headers: HeaderMap,
        body: String,
    ) -> Result<Reply, RequestError> {
        let uri = parse_uri(url)?;
        let origin = self.origins.of(&uri);
        let request = self.request(Method::POST, &uri, &origin, headers, Bytes::from(body))?;
        self.send(upstream, &origin, request)
            .await
            .map_err(FailedExchange::into_error)
    }

    fn request(
        &self,
        method: Method,
        uri: &Uri,
        origin: &Origin,
        mut headers: HeaderMap,
        body: Bytes,
    ) -> Result<Request<Full<Bytes>>, Failure> {
        // A plain-http request through a proxy carries the proxy's credentials itself; an
        // https one gets them in the CONNECT of its tunnel instead.
        if uri.scheme() == Some(&http::uri::Scheme::HTTP) {
            if let Some(auth) = route(self.proxies.as_deref(), uri).proxy_auth() {
                headers.insert(PROXY_AUTHORIZATION, auth);
            }
        }
        if origin.asks_for_close() {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        let mut request = Request::builder()
            .method(method)
            .uri(uri.clone())
            .body(Full::new(body))
            .map_err(|_| Failure::Transport)?;
        *request.headers_mut() = headers;
        Ok(request)
    }

    async fn send(
        &self,
        upstream: Upstream,
        origin: &Origin,
        request: Request<Full<Bytes>>,
    ) -> Result<Reply, FailedExchange> {
        let pool = self
            .pool
            .read()
            .ok()
            .and_then(|p| p.clone())
            .ok_or(FailedExchange::Closed)?;
        let slots = match upstream {
            Upstream::ToolSelector => &self.tool_selector_slots,
            Upstream::Letta => &self.letta_slots,
        };
        let _slot = slots.acquire().await.map_err(|_| FailedExchange::Closed)?;
        self.stats.upstream_requests.fetch_add(1, Relaxed);
        let _request = origin.request_in_flight();
        let response = pool
            .request(request)
            .await
            .map_err(|e| failed(&e, !e.is_connect()))?;
        let status = response.status().as_u16();
        let collected = Limited::new(response.into_body(), self.max_response_bytes)
            .collect()
            .await;
        let body = match collected {
            Ok(collected) => Vec::from(collected.to_bytes()),
            Err(e) if e.is::<LengthLimitError>() => {
                return Err(FailedExchange::Failed(Failure::TooLarge))
            }
            Err(e) => return Err(failed(&*e, true)),
        };
        // hyper hands the connection back to the pool from a task of its own once the body is
        // done; one turn of the scheduler lets that happen before the caller's next request,
        // which would otherwise find the pool empty and wait for, or open, another connection.
        tokio::task::yield_now().await;
        Ok(Reply { status, body })
    }
}

/// Classifies a failed exchange. A connection that was up and then dropped without an answer
/// may be retried if the request is idempotent. (When it was a silently closing server, the
/// connection's own end of stream has already been noted: see `CloseWatchingStream::note_read`.)
fn failed(error: &(dyn std::error::Error + 'static), was_connected: bool) -> FailedExchange {
    match classify(error) {
        Failure::Transport if was_connected => FailedExchange::Dropped,
        failure => FailedExchange::Failed(failure),
    }
}

/// How one exchange went wrong, before it is reported as a [`RequestError`].
enum FailedExchange {
    /// The connection was established and then lost without a complete answer.
    Dropped,
    Failed(Failure),
    Closed,
}

impl FailedExchange {
    fn into_error(self) -> RequestError {
        match self {
            FailedExchange::Dropped => RequestError::Failed(Failure::Transport),
            FailedExchange::Failed(failure) => RequestError::Failed(failure),
            FailedExchange::Closed => RequestError::Closed,
        }
    }
}

/// Every request says who sent it, so Letta's and the Tool Selector's logs can tell this
/// client's calls apart. The crate's version is the package's (`npm version` syncs it).
const USER_AGENT_VALUE: &str = concat!("letta-find-tools/", env!("CARGO_PKG_VERSION"));

fn parse_uri(url: &str) -> Result<Uri, Failure> {
    url.parse::<Uri>().map_err(|_| Failure::Transport)
}

fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(4);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    headers
}

/// A credential's header, each character one Latin-1 byte (HTTP's obs-text above 0x7F), as
/// legacy's `http.client` encoded it. Configuration already refuses control characters and
/// characters beyond U+00FF, so this only fails on values a caller built by hand; the failure
/// says nothing of the value.
pub fn header_value(value: &str) -> Result<HeaderValue, Failure> {
    let latin1 = value
        .chars()
        .map(|c| u8::try_from(u32::from(c)).map_err(|_| Failure::Transport))
        .collect::<Result<Vec<u8>, Failure>>()?;
    let mut header = HeaderValue::from_bytes(&latin1).map_err(|_| Failure::Transport)?;
    header.set_sensitive(true);
    Ok(header)
}

/// A timeout anywhere in the error's causes (the connect timeout) is a timeout; anything else
/// that kept a response from arriving is a transport failure.
fn classify(error: &(dyn std::error::Error + 'static)) -> Failure {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if io.kind() == io::ErrorKind::TimedOut {
                return Failure::Timeout;
            }
        }
        cause = e.source();
    }
    Failure::Transport
}
