//! Scripted behaviour: the [`Step`] a request gets, and the per-model queues of steps.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, RETRY_AFTER};
use http::StatusCode;

/// Scripted behaviour of the simulated provider for one request.
///
/// A step has an action (reply, error, raw body, dropped connection, cut response) and
/// modifiers that apply to whatever the action sends: extra headers, added latency, fixed
/// usage, fixed text. Steps are queued per model with `SimServer::script` and consumed one
/// per request.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use agentix_sim::Step;
///
/// let steps = [
///     Step::error(429).retry_after("2"),
///     Step::error(529).latency(Duration::from_millis(50)),
///     Step::drop_connection(),
///     Step::ok().usage(120, 30),
/// ];
/// # let _ = steps;
/// ```
#[derive(Clone, Debug)]
pub struct Step {
    pub(crate) action: Action,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) latency: Duration,
    pub(crate) event_interval: Duration,
    pub(crate) usage: Option<(u64, u64)>,
    pub(crate) text: Option<String>,
    pub(crate) message: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Reply,
    Error {
        status: StatusCode,
        error_type: Option<String>,
    },
    Raw {
        status: StatusCode,
        content_type: HeaderValue,
        body: Bytes,
    },
    DropConnection,
    StreamError {
        after_events: usize,
        status: StatusCode,
        error_type: Option<String>,
    },
    Cut {
        after_events: usize,
    },
}

impl Action {
    /// Short name of the action, for logs.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Action::Reply => "reply",
            Action::Error { .. } => "error",
            Action::Raw { .. } => "raw",
            Action::DropConnection => "drop_connection",
            Action::StreamError { .. } => "error_in_stream",
            Action::Cut { .. } => "cut",
        }
    }
}

impl Step {
    fn with_action(action: Action) -> Self {
        Step {
            action,
            headers: Vec::new(),
            latency: Duration::ZERO,
            event_interval: Duration::ZERO,
            usage: None,
            text: None,
            message: None,
        }
    }

    /// Creates a step that sends a successful reply in the request's format.
    pub fn ok() -> Self {
        Step::with_action(Action::Reply)
    }

    /// Creates a step that sends the request format's error body for `status`.
    ///
    /// The error type follows the status as the provider documents it, for example
    /// Anthropic's `overloaded_error` for 529 or OpenAI's `rate_limit_exceeded` code for 429.
    ///
    /// # Panics
    ///
    /// Panics when `status` is not between 100 and 999.
    pub fn error(status: u16) -> Self {
        Step::with_action(Action::Error {
            status: status_code(status),
            error_type: None,
        })
    }

    /// Creates a step that sends an error body with an explicit error type.
    ///
    /// For Anthropic the name becomes `error.type`. For OpenAI a known code sets the `type`
    /// and `code` pair the API uses. The known codes are `context_length_exceeded`,
    /// `rate_limit_exceeded`, `insufficient_quota`, `invalid_api_key`, `model_not_found` and
    /// `service_unavailable`, and any other name becomes `error.type` with a null code. The
    /// name `context_length_exceeded` gives each format its real context-length error.
    ///
    /// # Panics
    ///
    /// Panics when `status` is not between 100 and 999.
    pub fn error_typed(status: u16, error_type: &str) -> Self {
        Step::with_action(Action::Error {
            status: status_code(status),
            error_type: Some(error_type.to_owned()),
        })
    }

    /// Creates a step that sends the format's context-length error with status 400.
    ///
    /// Anthropic: `invalid_request_error` with the message `prompt is too long: 250000 tokens
    /// > 200000 maximum`. OpenAI: `invalid_request_error` with code
    /// `context_length_exceeded` and param `messages`.
    pub fn context_length_exceeded() -> Self {
        Step::error_typed(400, "context_length_exceeded")
    }

    /// Creates a step that sends `body` verbatim, as a proxy's HTML error page or a
    /// malformed JSON body would arrive.
    ///
    /// # Panics
    ///
    /// Panics when `status` is not between 100 and 999 or `content_type` is not a valid
    /// header value.
    pub fn raw(status: u16, content_type: &str, body: impl Into<Bytes>) -> Self {
        Step::with_action(Action::Raw {
            status: status_code(status),
            content_type: HeaderValue::from_str(content_type)
                .expect("Step::raw needs a valid content-type header value"),
            body: body.into(),
        })
    }

    /// Creates a step that closes the TCP connection without sending a response.
    ///
    /// Over HTTP/2 the stream is reset instead, and the connection stays open.
    pub fn drop_connection() -> Self {
        Step::with_action(Action::DropConnection)
    }

    /// Creates a step that starts a successful reply and closes the connection midway.
    ///
    /// A streamed reply (`"stream": true`) sends its first `after_events` server-sent
    /// events. A JSON reply sends its headers, with the full `content-length`, and the
    /// first half of its body.
    pub fn cut_after(after_events: usize) -> Self {
        Step::with_action(Action::Cut { after_events })
    }

    /// Creates a step that fails a streamed reply midway with the format's error event.
    ///
    /// A streamed reply sends its first `after_events` events, then an error event with
    /// the format's error body for `status` (an `event: error` for Anthropic, a `data:`
    /// line with `{"error": ..}` for OpenAI), and ends without `message_stop` or `[DONE]`. The
    /// HTTP status stays 200, as the stream had already started. A request without
    /// `"stream": true` gets the plain error response, as with [`Step::error`].
    ///
    /// # Panics
    ///
    /// Panics when `status` is not between 100 and 999.
    pub fn error_in_stream(after_events: usize, status: u16) -> Self {
        Step::with_action(Action::StreamError {
            after_events,
            status: status_code(status),
            error_type: None,
        })
    }

    /// Adds a response header.
    ///
    /// # Panics
    ///
    /// Panics when `name` or `value` is not a valid header name or value.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = HeaderName::from_bytes(name.as_bytes())
            .expect("Step::header needs a valid header name");
        let value = HeaderValue::from_str(value).expect("Step::header needs a valid header value");
        self.headers.push((name, value));
        self
    }

    /// Adds a `retry-after` header: delay seconds (`"2"`) or an HTTP date.
    ///
    /// # Panics
    ///
    /// Panics when `value` is not a valid header value.
    pub fn retry_after(self, value: &str) -> Self {
        self.header(RETRY_AFTER.as_str(), value)
    }

    /// Adds a `retry-after` header holding `at` as an HTTP date.
    pub fn retry_after_date(self, at: SystemTime) -> Self {
        let date = httpdate::fmt_http_date(at);
        self.header(RETRY_AFTER.as_str(), &date)
    }

    /// Adds a `retry-after-ms` header, the delay in milliseconds.
    pub fn retry_after_ms(self, millis: u64) -> Self {
        self.header("retry-after-ms", &millis.to_string())
    }

    /// Adds an `x-should-retry` header, the provider's explicit retry advice.
    pub fn should_retry(self, retry: bool) -> Self {
        self.header("x-should-retry", if retry { "true" } else { "false" })
    }

    /// Adds latency before the step's response, on top of the server's default latency.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency += latency;
        self
    }

    /// Waits `interval` between the server-sent events of a streamed reply.
    pub fn event_interval(mut self, interval: Duration) -> Self {
        self.event_interval = interval;
        self
    }

    /// Reports fixed usage in a successful reply: `input` and `output` tokens, verbatim.
    ///
    /// The reply text keeps its generated length.
    pub fn usage(mut self, input: u64, output: u64) -> Self {
        self.usage = Some((input, output));
        self
    }

    /// Sets the text of a successful reply, counting four characters per output token.
    pub fn text(mut self, text: &str) -> Self {
        self.text = Some(text.to_owned());
        self
    }

    /// Replaces the message of an error body.
    pub fn message(mut self, message: &str) -> Self {
        self.message = Some(message.to_owned());
        self
    }
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).expect("a scripted status must be between 100 and 999")
}

/// Per-model queues of steps, with an optional step repeated once a queue is empty.
#[derive(Debug, Default)]
pub(crate) struct Script {
    queues: HashMap<String, VecDeque<Step>>,
    repeated: HashMap<String, Step>,
}

impl Script {
    pub(crate) fn push(&mut self, model: &str, steps: impl IntoIterator<Item = Step>) {
        self.queues
            .entry(model.to_owned())
            .or_default()
            .extend(steps);
    }

    pub(crate) fn repeat(&mut self, model: &str, step: Step) {
        self.repeated.insert(model.to_owned(), step);
    }

    pub(crate) fn clear_model(&mut self, model: &str) {
        self.queues.remove(model);
        self.repeated.remove(model);
    }

    pub(crate) fn pending(&self, model: &str) -> usize {
        self.queues.get(model).map_or(0, VecDeque::len)
    }

    /// Takes the step for the next request to `model`: the head of its queue, else its
    /// repeated step, else a plain success.
    pub(crate) fn next(&mut self, model: &str) -> Step {
        if let Some(step) = self.queues.get_mut(model).and_then(VecDeque::pop_front) {
            return step;
        }
        self.repeated.get(model).cloned().unwrap_or_else(Step::ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_consumes_steps_in_order() {
        let mut script = Script::default();
        script.push("m", [Step::error(429), Step::error(500)]);
        assert_eq!(script.pending("m"), 2);
        assert_eq!(script.next("m").action, Step::error(429).action);
        assert_eq!(script.next("m").action, Step::error(500).action);
        assert_eq!(script.next("m").action, Action::Reply);
        assert_eq!(script.pending("m"), 0);
    }

    #[test]
    fn script_keeps_models_apart() {
        let mut script = Script::default();
        script.push("a", [Step::error(529)]);
        assert_eq!(script.next("b").action, Action::Reply);
        assert_eq!(script.next("a").action, Step::error(529).action);
    }

    #[test]
    fn repeated_step_follows_the_queue() {
        let mut script = Script::default();
        script.push("m", [Step::ok()]);
        script.repeat("m", Step::error(503));
        assert_eq!(script.next("m").action, Action::Reply);
        for _ in 0..3 {
            assert_eq!(script.next("m").action, Step::error(503).action);
        }
        script.clear_model("m");
        assert_eq!(script.next("m").action, Action::Reply);
    }

    #[test]
    fn retry_after_date_is_an_http_date() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let step = Step::error(429).retry_after_date(at);
        assert_eq!(step.headers[0].0, RETRY_AFTER);
        assert_eq!(step.headers[0].1, "Tue, 14 Nov 2023 22:13:20 GMT");
    }

    #[test]
    #[should_panic(expected = "valid header name")]
    fn header_rejects_an_invalid_name() {
        let _ = Step::ok().header("bad name", "x");
    }

    #[test]
    #[should_panic(expected = "valid content-type")]
    fn raw_rejects_an_invalid_content_type() {
        let _ = Step::raw(502, "text/html\n", "x");
    }

    #[test]
    #[should_panic(expected = "between 100 and 999")]
    fn error_rejects_an_invalid_status() {
        let _ = Step::error(42);
    }
}
