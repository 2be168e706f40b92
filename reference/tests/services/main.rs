//! Integration tests of the reference services: each runs in-process on 127.0.0.1:0 and is
//! exercised over real HTTP. One test binary, so the shared helpers are compiled once.

mod common;
mod hub;
mod model;
mod router;
mod templates;
mod watchdog;
