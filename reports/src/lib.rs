//! Consumers of the engine's results and events. Reporters never run checks.
//!
//! Owns: every rendering of a run — the live [`Terminal`] view of the event stream, JUnit XML
//! ([`write_junit`]), the JSON report ([`write_json`], schema in `docs/report.schema.json`),
//! the Markdown summary ([`render_markdown`]) and the report directory ([`write_all`]).
//! Must not touch: running checks, reading the environment, or deciding exit codes: the
//! verdicts arrive decided, and the binary maps them to an exit code in one place.

mod dir;
pub mod error;
mod format;
mod json;
mod junit;
mod markdown;
mod terminal;

pub use dir::{write_all, ReportPaths};
pub use error::ReportError;
pub use format::overall_state;
pub use json::{
    write_json, JsonCheck, JsonCounts, JsonFinding, JsonJudgement, JsonObservation, JsonOrigin,
    JsonProfile, JsonProof, JsonReport, JsonResourcePeak, JsonTimeline, JsonTimelineEvent,
    JsonUnaffected, SCHEMA_VERSION,
};
pub use junit::write_junit;
pub use markdown::{coverage_sentence, render_markdown};
pub use terminal::{TermStyle, Terminal};
