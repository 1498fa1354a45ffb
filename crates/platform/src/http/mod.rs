//! Serving HTTP: the listener and its connection limits ([`server`]), the
//! request stack every service wraps its router in ([`stack`]), health and
//! metrics endpoints ([`health`]), error bodies ([`problem`]), JSON request
//! bodies ([`json`]), who the client is ([`client_ip`]), the event loops'
//! coarse timers ([`coarse_timer`]), and the circuit breaker for calls to
//! another service ([`breaker`]).

pub mod breaker;
pub mod client_ip;
pub mod coarse_timer;
pub mod health;
pub mod json;
pub mod problem;
pub mod server;
pub mod stack;
