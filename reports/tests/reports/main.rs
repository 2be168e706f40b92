//! Reporter tests against fixed run summaries (see [`fixtures`]).

mod dir;
mod fixtures;
mod json;
mod junit;
mod markdown;
mod terminal;
