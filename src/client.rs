//! One find_tools client: configuration, the pooled HTTP client, the lookup cache, the counters.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use http::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use tokio::time::{timeout_at, Instant};

use crate::args::{attach_body, sanitize, CallArgs, RawArgs};
use crate::config::{Config, ConfigError};
use crate::http::{header_value, Failure, HttpClient, RequestError};
use crate::lookup::{self, LookupCache};
use crate::outcome::{self, Answer, Kind};
use crate::stats::{Snapshot, Stats};

/// A call on a closed client: the only way a call produces no result line at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientClosed;

pub struct FindToolsClient {
    config: Config,
    http: HttpClient,
    cache: LookupCache,
    stats: Arc<Stats>,
    attach_headers: HeaderMap,
    trigger_headers: HeaderMap,
}

impl FindToolsClient {
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        let stats = Arc::new(Stats::default());
        let http = HttpClient::new(&config, stats.clone())?;
        let attach_headers = attach_auth_headers(&config)?;
        let trigger_headers = trigger_headers(&config)?;
        Ok(FindToolsClient {
            cache: LookupCache::new(config.lookup_ttl, config.negative_ttl),
            config,
            http,
            stats,
            attach_headers,
            trigger_headers,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn stats(&self) -> Snapshot {
        self.stats.snapshot()
    }

    pub fn close(&self) {
        self.http.close();
    }

    pub fn is_closed(&self) -> bool {
        self.http.is_closed()
    }

    /// Sanitises `raw` and runs the call. Resolves to the result line, with the kind of line it
    /// is (decided where the line is made), for every upstream or network outcome; only a
    /// closed client is an error.
    pub async fn find_tools(&self, raw: RawArgs) -> Result<(String, Kind), ClientClosed> {
        if self.is_closed() {
            return Err(ClientClosed);
        }
        let args = sanitize(raw, self.config.max_limit);
        let started = Instant::now();
        self.stats.calls.fetch_add(1, Relaxed);
        self.stats.in_flight.fetch_add(1, Relaxed);
        // Decrements even when the caller drops this future (abort), so in-flight stays true.
        let _in_flight = CallInFlight(&self.stats);
        let result = self.run(&args, started).await;
        self.stats.record_latency(started.elapsed());
        if let Ok((_, kind)) = &result {
            match kind {
                Kind::Success => {}
                Kind::Error => {
                    self.stats.errors.fetch_add(1, Relaxed);
                }
                Kind::Timeout => {
                    self.stats.errors.fetch_add(1, Relaxed);
                    self.stats.timeouts.fetch_add(1, Relaxed);
                }
            }
        }
        result
    }

    async fn run(&self, args: &CallArgs, started: Instant) -> Result<(String, Kind), ClientClosed> {
        let deadline = started + self.config.timeout;
        let tool_id = self.find_tools_id(args.agent_id.as_deref(), started).await;
        let body = attach_body(args, &tool_id);
        let attach =
            self.http
                .post_json(&self.config.attach_url, self.attach_headers.clone(), body);
        match timeout_at(deadline, attach).await {
            Ok(Ok(reply)) => {
                let answer = Answer::from_reply(&reply);
                Ok(self
                    .trigger_loop_if_asked(answer, args, deadline)
                    .await
                    .render())
            }
            Ok(Err(RequestError::Closed)) => Err(ClientClosed),
            Ok(Err(RequestError::Failed(failure))) => Ok(outcome::from_failure(&failure)),
            Err(_elapsed) => Ok(outcome::from_failure(&Failure::Timeout)),
        }
    }

    /// BEHAVIOUR.md §9: after an attach that attached tools, a message to the agent, within
    /// what is left of the call's time and through the pool's Letta bound; sent once.
    async fn trigger_loop_if_asked(
        &self,
        answer: Answer,
        args: &CallArgs,
        deadline: Instant,
    ) -> Answer {
        if !self.config.trigger_loop {
            return answer;
        }
        let Some(agent_id) = args.agent_id.as_deref() else {
            return answer;
        };
        let Some(names) = answer.attached_tool_names() else {
            return answer;
        };
        let Some(segment) = lookup::encode_segment(agent_id) else {
            return answer.with_loop_triggered(false);
        };
        let url = format!("{}/agents/{segment}/messages", self.config.letta_api_url);
        let body = outcome::loop_trigger_body(&names);
        let sent = self
            .http
            .post_to_letta(&url, self.trigger_headers.clone(), body);
        let triggered = matches!(
            timeout_at(deadline, sent).await,
            Ok(Ok(reply)) if matches!(reply.status, 200..=202)
        );
        answer.with_loop_triggered(triggered)
    }

    async fn find_tools_id(&self, agent_id: Option<&str>, started: Instant) -> String {
        if let Some(id) = &self.config.tool_id {
            return id.clone();
        }
        let lookup_deadline = started + self.config.lookup_budget();
        let bearer = self.config.letta_password.as_ref().map(|s| s.expose());
        let search = || async move {
            let search =
                lookup::find_tool_id(&self.http, &self.config.letta_api_url, bearer, agent_id);
            timeout_at(lookup_deadline, search)
                .await
                .unwrap_or(lookup::Found::Fallback)
        };
        let (id, used) = self
            .cache
            .resolve(agent_id, &self.config.fallback_tool_id, search)
            .await;
        lookup::record(&self.stats, used);
        id
    }
}

/// Counts a call in `stats.in_flight` until it drops.
struct CallInFlight<'a>(&'a Stats);

impl Drop for CallInFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

fn attach_auth_headers(config: &Config) -> Result<HeaderMap, ConfigError> {
    let mut headers = HeaderMap::new();
    let refused = |name: &str| ConfigError(format!("{name} cannot be sent in an HTTP header"));
    if let Some(password) = &config.selector_password {
        let value = header_value(&format!("password {}", password.expose()))
            .map_err(|_| refused("TOOL_SELECTOR_PASSWORD"))?;
        headers.insert(HeaderName::from_static("x-bare-password"), value);
    }
    if let Some(token) = &config.bearer_token {
        let value = header_value(&format!("Bearer {}", token.expose()))
            .map_err(|_| refused("TOOL_SELECTOR_BEARER_TOKEN"))?;
        headers.insert(AUTHORIZATION, value);
    }
    Ok(headers)
}

/// The loop trigger's headers, as legacy's `requests.post(json=...)` sent them: its own
/// `Content-Type`, `requests`' default `Accept`, and the Letta credential when there is one.
fn trigger_headers(config: &Config) -> Result<HeaderMap, ConfigError> {
    let mut headers = HeaderMap::with_capacity(3);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
    if let Some(password) = &config.letta_password {
        let value = header_value(&format!("Bearer {}", password.expose()))
            .map_err(|_| ConfigError("LETTA_PASSWORD cannot be sent in an HTTP header".into()))?;
        headers.insert(AUTHORIZATION, value);
    }
    Ok(headers)
}
