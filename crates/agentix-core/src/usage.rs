//! Token usage: what a response reports and what a request can spend at most.

use std::sync::Arc;

/// Token counts a response reports, summed over all kinds by [`Usage::total`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    /// Prompt tokens billed at the input rate.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// Prompt tokens written to the provider's cache.
    pub cache_creation_input_tokens: u64,
    /// Prompt tokens read from the provider's cache.
    pub cache_read_input_tokens: u64,
}

impl Usage {
    /// Returns the sum of all token kinds, saturating at `u64::MAX`.
    pub fn total(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.output_tokens)
            .saturating_add(self.cache_creation_input_tokens)
            .saturating_add(self.cache_read_input_tokens)
    }
}

/// Callback that receives the final usage of a response whose usage arrives later (a stream).
pub type UsageCallback = Box<dyn FnOnce(Option<Usage>) + Send + 'static>;

/// Reads token usage from responses and bounds what a request can spend.
pub trait MeterUsage<Req, Res> {
    /// Returns an upper estimate of the tokens `request` can spend: its `max_tokens` plus
    /// its input. `None` when the request gives no bound.
    fn estimate(&self, request: &Req) -> Option<u64>;

    /// Returns the usage `response` reports, or `None` when it reports none.
    fn usage(&self, response: &Res) -> Option<Usage>;

    /// Arranges for `settle` to run once with the final usage of a response whose usage
    /// arrives after the response itself, as a stream's does: when the stream ends, fails or
    /// is dropped. Returns `settle` unused when `response` is not such a response.
    ///
    /// The default handles no deferred usage.
    fn defer_usage(&self, response: &mut Res, settle: UsageCallback) -> Option<UsageCallback> {
        let _ = response;
        Some(settle)
    }
}

impl<Req, Res, M: MeterUsage<Req, Res> + ?Sized> MeterUsage<Req, Res> for Arc<M> {
    fn estimate(&self, request: &Req) -> Option<u64> {
        (**self).estimate(request)
    }

    fn usage(&self, response: &Res) -> Option<Usage> {
        (**self).usage(response)
    }

    fn defer_usage(&self, response: &mut Res, settle: UsageCallback) -> Option<UsageCallback> {
        (**self).defer_usage(response, settle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_sums_every_kind_and_saturates() {
        let usage = Usage {
            input_tokens: 10,
            output_tokens: 20,
            cache_creation_input_tokens: 3,
            cache_read_input_tokens: 4,
        };
        assert_eq!(usage.total(), 37);

        let huge = Usage {
            input_tokens: u64::MAX,
            output_tokens: 1,
            ..Usage::default()
        };
        assert_eq!(huge.total(), u64::MAX);
    }
}
