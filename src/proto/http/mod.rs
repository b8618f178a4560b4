//! HTTP/1.x requests: method, host, URI, user agent, CONNECT targets.
//!
//! Placeholder of the dissector contract (see `proto::app` and
//! `proto::dispatch`): the record is filled in by this protocol's
//! dissector.

use serde::Serialize;

/// What a flow's http traffic showed (the `http` object of the events).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HttpRecord {}
