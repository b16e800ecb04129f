//! The pooled HTTP client: one reqwest client per `ToolSelectorClient`, a bounded number of
//! requests in flight per upstream, connections counted where they are made.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use tokio::sync::Semaphore;
use tower::{Layer, Service};

use crate::config::{Config, ConfigError, ProxySettings};
use crate::log::warn_once;
use crate::stats::Stats;

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
        self.send(Upstream::Letta, client.get(url).headers(headers))
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
        self.send(
            Upstream::ToolSelector,
            client.post(url).headers(headers).body(body),
        )
        .await
    }

    fn current(&self) -> Result<reqwest::Client, Failure> {
        self.client
            .read()
            .ok()
            .and_then(|c| c.clone())
            .ok_or(Failure::Closed)
    }

    async fn send(
        &self,
        upstream: Upstream,
        request: reqwest::RequestBuilder,
    ) -> Result<Reply, Failure> {
        let slots = match upstream {
            Upstream::ToolSelector => &self.tool_selector_slots,
            Upstream::Letta => &self.letta_slots,
        };
        let _slot = slots.acquire().await.map_err(|_| Failure::Closed)?;
        self.stats.upstream_requests.fetch_add(1, Relaxed);
        let mut response = request.send().await.map_err(classify)?;
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
        Ok(Reply { status, body })
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
        let stats = self.stats.clone();
        Box::pin(async move {
            let connection = connecting.await?;
            stats.connections_opened.fetch_add(1, Relaxed);
            Ok(connection)
        })
    }
}
