//! State shared by the server handle and the connection tasks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::Value;

use crate::format::Format;
use crate::script::{Script, Step};

/// Settings fixed when the server starts.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) default_latency: Duration,
    pub(crate) reply_tokens: u64,
    pub(crate) api_key: Option<String>,
    pub(crate) max_body_bytes: usize,
    pub(crate) http1_only: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            default_latency: Duration::ZERO,
            reply_tokens: 12,
            api_key: None,
            // Anthropic documents a 32 MB limit for Messages request bodies, taken here as MiB.
            max_body_bytes: 32 * 1024 * 1024,
            http1_only: false,
        }
    }
}

/// A request as the server received it, for assertions in tests.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl RecordedRequest {
    /// Request method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// Request path, without the query.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Request headers, as received.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Request body, byte for byte.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Parses the body as JSON.
    ///
    /// # Errors
    ///
    /// Returns the parse error when the body is not valid JSON.
    pub fn json(&self) -> serde_json::Result<Value> {
        serde_json::from_slice(&self.body)
    }
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) script: Script,
    counts: HashMap<(Format, String), u64>,
    total: u64,
    last: HashMap<String, RecordedRequest>,
}

impl State {
    pub(crate) fn requests(&self, model: &str) -> u64 {
        self.counts
            .iter()
            .filter(|((_, counted), _)| counted == model)
            .map(|(_, count)| count)
            .sum()
    }

    pub(crate) fn requests_to(&self, format: Format, model: &str) -> u64 {
        self.counts
            .get(&(format, model.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    pub(crate) fn last_request(&self, model: &str) -> Option<RecordedRequest> {
        self.last.get(model).cloned()
    }

    pub(crate) fn reset(&mut self) {
        *self = State::default();
    }
}

/// Everything the connection tasks share with the [`SimServer`](crate::SimServer) handle.
///
/// NOTE: the lock is taken only for short map updates and never held across an await.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) options: Options,
    state: Mutex<State>,
    sequence: AtomicU64,
}

impl Shared {
    pub(crate) fn new(options: Options) -> Self {
        Shared {
            options,
            ..Shared::default()
        }
    }

    /// Locks the state; a panic in another holder does not poison a test fixture.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Returns a number unique to this server, for response and request ids.
    pub(crate) fn next_sequence(&self) -> u64 {
        self.sequence.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Counts a request that names no model or reaches no known path.
    pub(crate) fn count_anonymous(&self) {
        self.lock().total += 1;
    }

    /// Counts a request for `model` and keeps it as the model's last request.
    pub(crate) fn record(
        &self,
        format: Format,
        model: &str,
        parts: &http::request::Parts,
        body: &Bytes,
    ) {
        let recorded = RecordedRequest {
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
            headers: parts.headers.clone(),
            body: body.clone(),
        };
        let mut state = self.lock();
        state.total += 1;
        *state.counts.entry((format, model.to_owned())).or_default() += 1;
        state.last.insert(model.to_owned(), recorded);
    }

    pub(crate) fn next_step(&self, model: &str) -> Step {
        self.lock().script.next(model)
    }
}
