//! Shared vocabulary of the Agentix layers.
//!
//! Every Agentix layer needs to know a few things about a request or its result, and each
//! of those is a small trait here, so a layer asks only for what it uses:
//!
//! - [`Classify`] turns a call's result into an [`Outcome`]: success, a provider
//!   [`Failure`] of some [`FailureKind`] with the server's hints, or a local [`Rejection`]
//!   made by Agentix itself.
//! - [`RouteModel`] reads and replaces the model a request asks for.
//! - [`MeterUsage`] reads the [`Usage`] a response reports and estimates the most a request
//!   can spend.
//! - [`TenantScoped`] finds the [`TenantId`] a route attached to a request.
//! - [`ReplayRequest`] makes a byte-identical copy of a request for another attempt.
//! - [`RecordServedBy`] writes into a response which model served it.
//!
//! The crate does no I/O. Wire formats implement these traits in `agentix-http`; users of
//! other clients implement them for their own types.

mod error;
mod outcome;
mod request;
mod routing;
mod usage;

pub use error::{rejection_of, BoxError, BudgetExceeded, CircuitOpen};
pub use outcome::{Classify, Failure, FailureKind, Outcome, Rejection};
pub use request::{ReplayRequest, TenantId, TenantScoped};
pub use routing::{
    Attempts, FallbackOptOut, NoFallback, RecordAttempts, RecordServedBy, RouteModel, ServedBy,
};
pub use usage::{MeterUsage, Usage, UsageCallback};
