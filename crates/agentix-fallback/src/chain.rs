//! The progress of one call along the chain: which entry is in flight, and the request for
//! the next one.

use std::sync::Arc;

use agentix_core::{BoxError, Outcome, RecordServedBy, ReplayRequest, RouteModel, ServedBy};
use tower::util::BoxCloneSyncService;

use crate::service::Shared;
use crate::target::TargetList;
use crate::{FallbackTarget, SetModelError};

/// The reason a call with a non-empty chain cannot fall back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Blocked {
    /// The request returned no copy from [`ReplayRequest::replay`].
    Unreplayable,
    /// The request carries [`agentix_core::NoFallback`].
    OptedOut,
}

/// The next attempt of a call: its request, and the service it goes through.
pub(crate) enum Next<Req, Res> {
    /// Through the layer's inner service.
    Inner(Req),
    /// Through a target's own service.
    Target(BoxCloneSyncService<Req, Res, BoxError>, Req),
}

/// An entry of the chain after the primary.
enum Entry<'a, Req, Res> {
    /// A model of [`FallbackConfig::models`](crate::FallbackConfig::models).
    Model(&'a Arc<str>),
    Target(&'a FallbackTarget<Req, Res>),
}

/// The progress of one call along the chain, and what it needs to move on.
pub(crate) struct Chain<S, R, T, Req> {
    pub(crate) shared: Arc<Shared<R, T>>,
    // The service for fallback attempts, `None` when the call cannot fall back.
    pub(crate) service: Option<S>,
    // The request as it came, kept to build each fallback attempt's request.
    pub(crate) original: Option<Req>,
    // The primary model's name, when known.
    pub(crate) primary: Option<Arc<str>>,
    // The position in the chain of the attempt in flight, where 0 is the primary.
    pub(crate) position: usize,
    // The reason the call cannot fall back although its chain is not empty.
    pub(crate) blocked: Option<Blocked>,
}

impl<S, R, T, Req> Chain<S, R, T, Req>
where
    R: RouteModel<Req>,
    Req: ReplayRequest,
{
    /// Returns the entry at `position`, which is at least 1 and at most the chain length.
    fn entry<Res>(shared: &Shared<R, T>, position: usize) -> Entry<'_, Req, Res>
    where
        T: TargetList<Req, Res>,
    {
        let models = shared.models.len();
        if position <= models {
            Entry::Model(&shared.models[position - 1])
        } else {
            Entry::Target(&shared.targets.targets()[position - models - 1])
        }
    }

    /// Returns the model and the provider of the attempt in flight, when known.
    fn current<Res>(&mut self) -> (Option<Arc<str>>, Option<Arc<str>>)
    where
        T: TargetList<Req, Res>,
    {
        if self.position == 0 {
            return (self.primary_model(), self.shared.provider.clone());
        }
        match Self::entry::<Res>(&self.shared, self.position) {
            Entry::Model(model) => (Some(Arc::clone(model)), self.shared.provider.clone()),
            Entry::Target(target) => (
                Some(Arc::clone(&target.model)),
                Some(Arc::clone(&target.provider)),
            ),
        }
    }

    /// Returns the primary model's name, reading it from the request the first time when
    /// the config does not name it.
    fn primary_model(&mut self) -> Option<Arc<str>> {
        if self.primary.is_none() {
            if let Some(original) = &self.original {
                self.primary = self.shared.router.model(original).map(Arc::from);
            }
        }
        self.primary.clone()
    }

    /// Builds the request for the next entry after an outcome that falls back, and moves
    /// the chain to it.
    ///
    /// Returns `Ok(None)` when no entry is left or the request cannot be copied, so the
    /// caller returns the current result.
    pub(crate) fn next_request<Res>(
        &mut self,
        outcome: &Outcome,
    ) -> Result<Option<Next<Req, Res>>, BoxError>
    where
        T: TargetList<Req, Res>,
    {
        let (from, _) = self.current::<Res>();
        let from = from.as_deref().unwrap_or("unknown");

        if self.shared.chain_len::<Req, Res>() == 0 {
            return Ok(None);
        }
        match self.blocked {
            Some(Blocked::Unreplayable) => {
                log_unreplayable(from, outcome);
                return Ok(None);
            }
            Some(Blocked::OptedOut) => {
                tracing::debug!(
                    model = from,
                    reason = ?outcome,
                    "not falling back: the request carries NoFallback; returning its result"
                );
                return Ok(None);
            }
            None => {}
        }

        let shared = Arc::clone(&self.shared);
        let mut after = self.position;
        loop {
            let Some(next) = self.next_position::<Res>(after) else {
                tracing::warn!(
                    model = from,
                    position = self.position,
                    reason = ?outcome,
                    "every model of the fallback chain failed; returning the last result"
                );
                return Ok(None);
            };
            after = next;

            let (model, provider, request) = match Self::entry::<Res>(&shared, next) {
                Entry::Model(model) => {
                    let Some(request) = self.routed_copy(next, model)? else {
                        log_unreplayable(from, outcome);
                        return Ok(None);
                    };
                    (model, shared.provider.as_deref(), Next::Inner(request))
                }
                Entry::Target(target) => {
                    let request = match &target.translator {
                        Some(translate) => {
                            let Some(original) = &self.original else {
                                log_unreplayable(from, outcome);
                                return Ok(None);
                            };
                            match translate(original, &target.model) {
                                Ok(request) => request,
                                Err(error) => {
                                    log_untranslatable(target, next, &error);
                                    continue;
                                }
                            }
                        }
                        None => match self.routed_copy(next, &target.model)? {
                            Some(request) => request,
                            None => {
                                log_unreplayable(from, outcome);
                                return Ok(None);
                            }
                        },
                    };
                    let request = match &target.service {
                        Some(service) => Next::Target(service.clone(), request),
                        None => Next::Inner(request),
                    };
                    (&target.model, Some(&*target.provider), request)
                }
            };
            log_fallback(from, model, provider, next, outcome);
            self.position = next;
            return Ok(Some(request));
        }
    }

    /// Returns the position of the next entry after `after`, skipping an entry on the
    /// inner service that names the primary model again.
    fn next_position<Res>(&mut self, after: usize) -> Option<usize>
    where
        T: TargetList<Req, Res>,
    {
        // NOTE: a configured primary is never among the models (`validate` checks it), but
        // a primary read from the request can be, and it was already tried.
        let primary = self.primary_model();
        let shared = Arc::clone(&self.shared);
        (after + 1..=shared.chain_len::<Req, Res>()).find(|&position| {
            let same_service_model = match Self::entry::<Res>(&shared, position) {
                Entry::Model(model) => Some(model),
                Entry::Target(target) if target.service.is_none() => Some(&target.model),
                Entry::Target(_) => None,
            };
            same_service_model.is_none() || same_service_model != primary.as_ref()
        })
    }

    /// Returns a copy of the original request with `model` set, or `None` when the request
    /// cannot be copied.
    fn routed_copy<Res>(
        &mut self,
        position: usize,
        model: &Arc<str>,
    ) -> Result<Option<Req>, BoxError>
    where
        T: TargetList<Req, Res>,
    {
        let Some(mut request) = self.copy_original::<Res>(position) else {
            return Ok(None);
        };
        if let Err(source) = self.shared.router.set_model(&mut request, model) {
            return Err(Box::new(SetModelError {
                model: Arc::clone(model),
                position,
                source,
            }));
        }
        Ok(Some(request))
    }

    /// Returns the request for the attempt at `position`: a copy of the original, or the
    /// original itself for the last entry of the chain.
    fn copy_original<Res>(&mut self, position: usize) -> Option<Req>
    where
        T: TargetList<Req, Res>,
    {
        if position == self.shared.chain_len::<Req, Res>() {
            return self.original.take();
        }
        let copy = self.original.as_ref().and_then(ReplayRequest::replay);
        // A request that was copied once but not twice still goes to this entry, and the
        // chain ends after it.
        copy.or_else(|| self.original.take())
    }

    /// Records which model produced an `Ok` response and returns the result.
    pub(crate) fn finish<Res: RecordServedBy>(
        &mut self,
        result: Result<Res, BoxError>,
    ) -> Result<Res, BoxError>
    where
        T: TargetList<Req, Res>,
    {
        let mut response = result?;
        let (model, provider) = self.current::<Res>();
        if let Some(model) = model {
            response.record_served_by(ServedBy {
                model,
                position: self.position,
                provider,
            });
        }
        Ok(response)
    }
}

/// Logs a failure that would fall back but has no copy of the request to send.
fn log_unreplayable(model: &str, outcome: &Outcome) {
    tracing::warn!(
        model,
        reason = ?outcome,
        "cannot fall back: the request cannot be replayed; returning its result"
    );
}

/// Logs a target skipped because its translator rejected the request.
fn log_untranslatable<Req, Res>(
    target: &FallbackTarget<Req, Res>,
    position: usize,
    error: &BoxError,
) {
    tracing::warn!(
        model = &*target.model,
        provider = &*target.provider,
        position,
        %error,
        "skipping fallback target: the request cannot be translated for it"
    );
}

/// Logs one fallback with both models, the provider of the next one and what triggered it.
fn log_fallback(from: &str, to: &str, provider: Option<&str>, position: usize, outcome: &Outcome) {
    let provider = provider.unwrap_or("unknown");
    match outcome {
        Outcome::Failure(failure) => tracing::warn!(
            from,
            to,
            provider,
            position,
            kind = ?failure.kind,
            status = failure.status,
            "falling back to the next model after a provider failure"
        ),
        Outcome::Rejected(rejection) => tracing::warn!(
            from,
            to,
            provider,
            position,
            rejection = ?rejection,
            "falling back to the next model after a local rejection"
        ),
        Outcome::Success => {
            debug_assert!(false, "a successful call never falls back");
        }
    }
}
