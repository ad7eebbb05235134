//! The catalogue's kept answers found before routing ([`crate::http::kept`]): `GET` of the
//! event list, an event, or its availability, when this thread holds a copy of the answer. A
//! kept answer depends on the path and the query string alone (never on the caller: only
//! answers everyone may see are kept), so it can be chosen from those before axum routes the
//! request, extracts its parameters and calls the handler, which would find the same copy.

use uuid::Uuid;

use super::catalogue::{self, Rendered};
use super::reads::raw_list_key;
use crate::state::AppState;

/// A route whose kept answers are served before routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeptRoute {
    /// `GET /events`.
    List,
    /// `GET /events/{id}`.
    Detail,
    /// `GET /events/{id}/availability`.
    Availability,
}

impl KeptRoute {
    /// Every one, in the order of [`KeptRoute::index`].
    pub const ALL: [KeptRoute; 3] = [KeptRoute::List, KeptRoute::Detail, KeptRoute::Availability];

    /// Its place in [`KeptRoute::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The route as axum names it (`MatchedPath`) under the API prefix.
    pub fn path(self, prefix: &str) -> String {
        match self {
            KeptRoute::List => format!("{prefix}/events"),
            KeptRoute::Detail => format!("{prefix}/events/{{id}}"),
            KeptRoute::Availability => format!("{prefix}/events/{{id}}/availability"),
        }
    }
}

/// The kept answer of a `GET` of `path?query` from this thread's copy, if the path is one of
/// the [`KeptRoute`]s and the copy is there. Anything else (another path, an id that is not a
/// plain UUID, a query whose answer is never kept, no copy) is `None`, and the request is routed
/// as usual.
pub fn find(state: &AppState, path: &str, query: Option<&str>) -> Option<(KeptRoute, Rendered)> {
    let rest = path
        .strip_prefix(state.config.api_prefix.as_str())?
        .strip_prefix("/events")?;
    let raw = query.unwrap_or_default();
    let (route, label, key) = if rest.is_empty() {
        (KeptRoute::List, "events_list", raw_list_key("", raw)?)
    } else {
        let rest = rest.strip_prefix('/')?;
        match rest.split_once('/') {
            None => {
                let id = Uuid::try_parse(rest).ok()?;
                (
                    KeptRoute::Detail,
                    "event_detail",
                    catalogue::detail_key(id, raw),
                )
            }
            Some((id, "availability")) => {
                let id = Uuid::try_parse(id).ok()?;
                let key = catalogue::availability_key(id);
                (KeptRoute::Availability, "event_availability", key)
            }
            Some(_) => return None,
        }
    };
    let bytes = state.cache.front_hit(label, &key)?;
    Some((route, Rendered::from_bytes(bytes)?))
}
