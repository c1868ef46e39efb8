//! Whether the provider billed a response that reports no usage.

/// Decides whether the provider billed a response whose usage the meter cannot read.
///
/// A response that reports usage always settles to that usage. One that reports none
/// either charges its whole reservation (billed) or releases it (not billed).
pub trait BillingPolicy<Res> {
    /// Returns whether the provider billed `response`, a response that reports no usage.
    fn is_billed(&self, response: &Res) -> bool;
}

/// Treats every response without usage as billed, so it charges its whole reservation.
///
/// The default policy: it never undercounts, whatever the response type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlwaysBilled;

impl<Res> BillingPolicy<Res> for AlwaysBilled {
    fn is_billed(&self, _response: &Res) -> bool {
        true
    }
}

/// Treats an HTTP response without usage as billed only when its status is 2xx.
///
/// LLM providers do not bill requests they answer with an error status (429, 529, 5xx,
/// 4xx), and their error bodies carry no usage, so such a response releases its
/// reservation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BilledOnSuccess;

impl<B> BillingPolicy<http::Response<B>> for BilledOnSuccess {
    fn is_billed(&self, response: &http::Response<B>) -> bool {
        response.status().is_success()
    }
}

impl<Res, F> BillingPolicy<Res> for F
where
    F: Fn(&Res) -> bool,
{
    fn is_billed(&self, response: &Res) -> bool {
        self(response)
    }
}
