//! The find_tools tool id (BEHAVIOUR.md §3): looked up in the Letta API, cached per agent, with
//! one lookup in flight per agent shared by every concurrent caller.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::http::HttpClient;
use crate::pyjson::{self, Value};
use crate::stats::Stats;

/// Beyond this many cached agents, expired entries are dropped; if all are live, the cache
/// starts over. Bounds memory when callers send endless distinct agent ids.
const MAX_ENTRIES: usize = 10_000;

/// What a lookup found; a fallback is cached for the shorter, negative TTL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Id(String),
    Fallback,
}

/// Everything but the RFC 3986 unreserved characters is escaped in an agent id's segment.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// How a call got its id, for `stats()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheUse {
    Hit,
    Miss,
    Shared,
}

struct Resolved {
    id: String,
    expires: Instant,
}

#[derive(Default)]
struct Slot {
    cell: OnceCell<Resolved>,
}

pub struct LookupCache {
    slots: Mutex<HashMap<Option<String>, Arc<Slot>>>,
    positive_ttl: Duration,
    negative_ttl: Duration,
}

impl LookupCache {
    pub fn new(positive_ttl: Duration, negative_ttl: Duration) -> Self {
        LookupCache {
            slots: Mutex::new(HashMap::new()),
            positive_ttl,
            negative_ttl,
        }
    }

    /// Returns the cached id for `agent_id`, or runs `lookup` (once, however many callers wait).
    pub async fn resolve<F, Fut>(
        &self,
        agent_id: Option<&str>,
        fallback: &str,
        lookup: F,
    ) -> (String, CacheUse)
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Found>,
    {
        let key = agent_id.map(str::to_owned);
        let slot = self.live_slot(&key);
        if let Some(resolved) = slot.cell.get() {
            return (resolved.id.clone(), CacheUse::Hit);
        }
        let mut ran = false;
        let resolved = slot
            .cell
            .get_or_init(|| async {
                ran = true;
                let found = lookup().await;
                let (id, ttl) = match found {
                    Found::Id(id) => (id, self.positive_ttl),
                    Found::Fallback => (fallback.to_owned(), self.negative_ttl),
                };
                Resolved {
                    id,
                    expires: Instant::now() + ttl,
                }
            })
            .await;
        let used = if ran {
            CacheUse::Miss
        } else {
            CacheUse::Shared
        };
        (resolved.id.clone(), used)
    }

    /// The slot for `key`, replaced by a fresh one if its value has expired.
    fn live_slot(&self, key: &Option<String>) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let expired = |slot: &Slot| slot.cell.get().is_some_and(|r| r.expires <= now);
        if let Some(slot) = slots.get(key) {
            if !expired(slot) {
                return slot.clone();
            }
        }
        if slots.len() >= MAX_ENTRIES {
            slots.retain(|_, slot| !expired(slot));
            if slots.len() >= MAX_ENTRIES {
                slots.clear();
            }
        }
        let fresh = Arc::new(Slot::default());
        slots.insert(key.clone(), fresh.clone());
        fresh
    }
}

pub fn record(stats: &Stats, used: CacheUse) {
    let counter = match used {
        CacheUse::Hit => &stats.lookup_cache_hits,
        CacheUse::Miss => &stats.lookup_cache_misses,
        CacheUse::Shared => &stats.lookup_shared,
    };
    counter.fetch_add(1, Relaxed);
}

/// Percent-encodes an agent id as exactly one path segment, so no id can reach another
/// endpoint (`../`, `?`, `#`, `%2F` all stay inside the segment). `None` for `.` and `..`:
/// URL parsers collapse those dot-segments in every spelling, `%2E%2E` included (WHATWG URL),
/// so `/agents/%2E%2E/tools` would be sent as `/tools`; such an id has no agent lookup.
pub fn encode_segment(segment: &str) -> Option<String> {
    if matches!(segment, "." | "..") {
        return None;
    }
    Some(utf8_percent_encode(segment, PATH_SEGMENT).to_string())
}

/// The query of the agent's tool list. Letta (0.16) pages it, 10 tools by default, and its
/// `after`/`before` cursors compare ids while it sorts by creation time, so cursor paging skips
/// tools: one page as large as this covers every agent. `desc` (newest first) is the order
/// Letta's default page, the script's, was walked in, which the "last candidate" rule depends on.
const AGENT_TOOLS_QUERY: &str = "limit=1000&order=desc";

/// The query of the organisation's tool list, on `/tools/`: Letta answers `/tools` with a
/// redirect, which is never followed. `search` (case-insensitive, a substring) narrows the page
/// to names the walk can match, so no page size can leave find_tools out.
const ALL_TOOLS_QUERY: &str = "search=find_tools&limit=1000&order=desc";

/// The legacy search: the agent's own tools first, then all tools.
pub async fn find_tool_id(
    http: &HttpClient,
    letta_api_url: &str,
    bearer: Option<&str>,
    agent_id: Option<&str>,
) -> Found {
    if let Some(segment) = agent_id.and_then(encode_segment) {
        let url = format!("{letta_api_url}/agents/{segment}/tools?{AGENT_TOOLS_QUERY}");
        let decision = fetch_list(http, &url, bearer)
            .await
            .map_or(ListDecision::Silent, |list| agent_list_decision(&list));
        match decision {
            ListDecision::Id(id) => return Found::Id(id),
            ListDecision::NoId => return Found::Fallback,
            ListDecision::Silent => {}
        }
    }
    let url = format!("{letta_api_url}/tools/?{ALL_TOOLS_QUERY}");
    let decision = fetch_list(http, &url, bearer)
        .await
        .map_or(ListDecision::Silent, |list| all_tools_decision(&list));
    match decision {
        ListDecision::Id(id) => Found::Id(id),
        ListDecision::NoId | ListDecision::Silent => Found::Fallback,
    }
}

async fn fetch_list(http: &HttpClient, url: &str, bearer: Option<&str>) -> Option<Value> {
    let reply = http.get(url, bearer).await.ok()?;
    if reply.status != 200 {
        return None;
    }
    pyjson::parse_bytes(&reply.body).ok()
}

/// What one list of tools says about the find_tools id.
#[derive(Debug, PartialEq, Eq)]
enum ListDecision {
    /// The id to use.
    Id(String),
    /// The list decided on an entry with no usable id: legacy took the empty id for none and
    /// used the fallback id without searching further.
    NoId,
    /// No entry decided, or the list could not be walked (legacy's walk raised): search on.
    Silent,
}

impl ListDecision {
    fn of(id: Option<String>) -> Self {
        id.map_or(ListDecision::NoId, ListDecision::Id)
    }
}

/// One list entry as legacy read it: `tool.get('name', '').lower()` and `tool.get('id', '')`.
/// `None` where legacy's walk raised: an entry that is not an object, a name that is not a
/// string.
fn entry(tool: &Value) -> Option<(String, Option<String>)> {
    if !matches!(tool, Value::Object(_)) {
        return None;
    }
    let name = match tool.get("name") {
        None => String::new(),
        Some(name) => name.as_str()?.to_lowercase(),
    };
    let id = tool
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_owned);
    Some((name, id))
}

fn entries(list: &Value) -> &[Value] {
    match list {
        Value::Array(items) => items,
        _ => &[],
    }
}

/// An exact `find_tools` decides at once; otherwise the *last* name holding both "find" and
/// "tool" does, at the end.
fn agent_list_decision(list: &Value) -> ListDecision {
    let mut candidate = None;
    for tool in entries(list) {
        let Some((name, id)) = entry(tool) else {
            return ListDecision::Silent;
        };
        if name == "find_tools" {
            return ListDecision::of(id);
        }
        if name.contains("find") && name.contains("tool") {
            candidate = Some(id);
        }
    }
    candidate.map_or(ListDecision::Silent, ListDecision::of)
}

/// The first exact `find_tools` decides. Legacy's walk raising here ended the whole lookup with
/// the fallback id, which is what `NoId` means too.
fn all_tools_decision(list: &Value) -> ListDecision {
    for tool in entries(list) {
        let Some((name, id)) = entry(tool) else {
            return ListDecision::NoId;
        };
        if name == "find_tools" {
            return ListDecision::of(id);
        }
    }
    ListDecision::Silent
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(json: &str) -> Value {
        pyjson::parse(json).unwrap()
    }

    fn id(id: &str) -> ListDecision {
        ListDecision::Id(id.to_owned())
    }

    #[test]
    fn exact_name_wins_over_earlier_candidates() {
        let tools = list(
            r#"[{"name":"find_attach_tools","id":"tool-cand"},{"name":"Find_Tools","id":"tool-exact"},{"name":"other","id":"tool-o"}]"#,
        );
        assert_eq!(agent_list_decision(&tools), id("tool-exact"));
    }

    #[test]
    fn the_last_candidate_wins_without_an_exact_name() {
        let tools = list(
            r#"[{"name":"find_my_tool","id":"tool-c1"},{"name":"x","id":"tool-x"},{"name":"tool_finder","id":"tool-c2"}]"#,
        );
        assert_eq!(agent_list_decision(&tools), id("tool-c2"));
        assert_eq!(
            agent_list_decision(&list(r#"[{"name":"x","id":"t"}]"#)),
            ListDecision::Silent
        );
        assert_eq!(
            agent_list_decision(&list(r#"{"detail":"err"}"#)),
            ListDecision::Silent
        );
        assert_eq!(
            agent_list_decision(&list(r#"[{"id":"t"}]"#)),
            ListDecision::Silent
        );
    }

    #[test]
    fn an_entry_that_decides_without_an_id_means_the_fallback() {
        for tools in [
            r#"[{"name":"find_tools","id":""},{"name":"find_tools","id":"tool-later"}]"#,
            r#"[{"name":"find_tools"},{"name":"find_tools","id":"tool-later"}]"#,
            r#"[{"name":"find_tools","id":null}]"#,
            r#"[{"name":"find_my_tool","id":"tool-c1"},{"name":"tool_finder","id":""}]"#,
        ] {
            assert_eq!(
                agent_list_decision(&list(tools)),
                ListDecision::NoId,
                "{tools}"
            );
        }
        assert_eq!(
            all_tools_decision(&list(
                r#"[{"name":"abc","id":"a"},{"name":"FIND_TOOLS"},{"name":"find_tools","id":"z"}]"#
            )),
            ListDecision::NoId
        );
    }

    #[test]
    fn an_entry_legacy_could_not_read_ends_the_walk() {
        // Legacy's `tool.get('name', '').lower()` raised on these: the agent step was abandoned
        // for the global one, and a raise in the global step ended in the fallback id.
        for tools in [
            r#"[{"name":null,"id":"a"},{"name":"find_tools","id":"z"}]"#,
            r#"["find_tools",{"name":"find_tools","id":"z"}]"#,
        ] {
            assert_eq!(
                agent_list_decision(&list(tools)),
                ListDecision::Silent,
                "{tools}"
            );
            assert_eq!(
                all_tools_decision(&list(tools)),
                ListDecision::NoId,
                "{tools}"
            );
        }
    }

    #[test]
    fn global_search_takes_the_first_exact_name_only() {
        let tools = list(
            r#"[{"name":"find_tool_x","id":"a"},{"name":"FIND_TOOLS","id":"b"},{"name":"find_tools","id":"c"}]"#,
        );
        assert_eq!(all_tools_decision(&tools), id("b"));
        assert_eq!(all_tools_decision(&list("[]")), ListDecision::Silent);
    }

    #[test]
    fn agent_ids_stay_one_path_segment() {
        let encoded = |id: &str| encode_segment(id).unwrap();
        assert_eq!(encoded("agent-1_x"), "agent-1_x");
        assert_eq!(encoded("../../tools?x=1#"), "..%2F..%2Ftools%3Fx%3D1%23");
        assert_eq!(encoded("%2F..%2F"), "%252F..%252F");
        assert_eq!(encoded("a\r\nb\0"), "a%0D%0Ab%00");
        assert_eq!(encoded("café"), "caf%C3%A9");
        assert_eq!(encoded("..."), "...");
        assert_eq!(encode_segment(".."), None);
        assert_eq!(encode_segment("."), None);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_lookup_and_entries_expire() {
        let cache = Arc::new(LookupCache::new(
            Duration::from_secs(300),
            Duration::from_secs(30),
        ));
        let lookups = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let run = |cache: Arc<LookupCache>, lookups: Arc<std::sync::atomic::AtomicUsize>| async move {
            cache
                .resolve(Some("a"), "fallback", || async move {
                    lookups.fetch_add(1, Relaxed);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    Found::Fallback
                })
                .await
        };
        let callers: Vec<_> = (0..50)
            .map(|_| tokio::spawn(run(cache.clone(), lookups.clone())))
            .collect();
        let mut uses = Vec::new();
        for caller in callers {
            let (id, used) = caller.await.unwrap();
            assert_eq!(id, "fallback");
            uses.push(used);
        }
        assert_eq!(lookups.load(Relaxed), 1);
        assert_eq!(uses.iter().filter(|u| **u == CacheUse::Miss).count(), 1);
        assert_eq!(uses.iter().filter(|u| **u == CacheUse::Shared).count(), 49);

        assert_eq!(run(cache.clone(), lookups.clone()).await.1, CacheUse::Hit);
        tokio::time::advance(Duration::from_secs(31)).await;
        assert_eq!(run(cache.clone(), lookups.clone()).await.1, CacheUse::Miss);
        assert_eq!(lookups.load(Relaxed), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn positive_results_live_for_the_positive_ttl() {
        let cache = LookupCache::new(Duration::from_secs(300), Duration::from_secs(30));
        let found = || async { Found::Id("tool-ft".to_owned()) };
        assert_eq!(
            cache.resolve(None, "f", found).await,
            ("tool-ft".into(), CacheUse::Miss)
        );
        tokio::time::advance(Duration::from_secs(299)).await;
        assert_eq!(cache.resolve(None, "f", found).await.1, CacheUse::Hit);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(cache.resolve(None, "f", found).await.1, CacheUse::Miss);
    }
}
