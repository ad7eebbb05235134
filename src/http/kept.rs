//! The application as one service: the catalogue's kept answers served before routing, every
//! other request through axum's router.
//!
//! A kept answer of the event list, an event or its availability depends on the path and the
//! query string alone ([`crate::events::kept`]). When this thread holds a copy, routing it costs
//! more than the answer: axum matches the path, inserts the matched path and the path
//! parameters into the request (five allocations), clones and boxes the route's stack (four
//! more), boxes the handler's future, and runs five extractors before the handler finds the
//! copy. Such a request goes instead through the same middleware stack around a service that
//! answers the copy: the same request id, log span, metrics (under the route's name), guard,
//! timeout, `Vary` and headers, and the same answer (BENCHMARKS.md, "Kept answers before
//! routing"). Everything else, a copy missing included, is routed as before.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::Request;
use axum::http::Method;
use axum::response::Response;
use futures_util::future::{Either, Ready, ready};
use tower::{Layer, Service};

use crate::app::{MiddlewareStack, middleware_stack};
use crate::events::catalogue::{IfNoneMatch, Rendered};
use crate::events::kept::{self, KeptRoute};
use crate::state::AppState;

/// The middleware stack around one kept answer.
type KeptService = <MiddlewareStack as Layer<Respond>>::Service;

/// The application: axum's router, and the kept answers before it.
#[derive(Clone)]
pub struct App {
    router: Router,
    state: AppState,
    /// The middleware stack of each [`KeptRoute`], naming it as axum would.
    stacks: Arc<[MiddlewareStack; 3]>,
}

impl App {
    /// `router` (the whole application, its middleware included), with the kept answers of
    /// `state`'s cache served before it.
    pub fn new(router: Router, state: &AppState) -> Self {
        let prefix = &state.config.api_prefix;
        let stacks = KeptRoute::ALL
            .map(|route| middleware_stack(state, Some(Arc::from(route.path(prefix)))));
        Self {
            router,
            state: state.clone(),
            stacks: Arc::new(stacks),
        }
    }
}

impl Service<Request> for App {
    type Response = Response;
    type Error = Infallible;
    type Future =
        Either<<KeptService as Service<Request>>::Future, <Router as Service<Request>>::Future>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Neither the router nor a stack ever waits to be ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if req.method() == Method::GET
            && let Some((route, answer)) =
                kept::find(&self.state, req.uri().path(), req.uri().query())
        {
            // The stack around this answer: a few reference counts, no allocation.
            let mut service = self.stacks[route.index()].service(Respond(answer));
            return Either::Left(service.call(req));
        }
        Either::Right(self.router.call(req))
    }
}

/// Answers a kept answer, as its handler does: 304 when `If-None-Match` names its tag.
#[derive(Clone)]
pub struct Respond(Rendered);

impl Service<Request> for Respond {
    type Response = Response;
    type Error = Infallible;
    type Future = Ready<Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        ready(Ok(self.0.respond(&IfNoneMatch::of(req.headers()))))
    }
}
