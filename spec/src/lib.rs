//! The spec model of auditwall: what a wall *says*, validated, with source locations.
//!
//! Owns: the validated model types ([`model`]), measured observations and the condition
//! language that judges them ([`observe`], [`condition`]), YAML parsing with spans,
//! validation, profile merging and `${...}` interpolation.
//! Must not touch: the file system, the network, processes, clocks or an async runtime.
//! Callers hand in file contents and environment lookups; this crate only computes.
//!
//! Loading a wall, in order: [`decode_source`] each file, [`parse_root`], [`parse_profile_layer`]
//! for `profiles/base.yaml` and each overlay, [`Profile::merge`], optionally
//! [`RootConfig::secrets_file`] + [`parse_secrets`] to feed the [`Resolver`], then [`build_wall`].

mod calibration;
pub mod condition;
mod drill;
mod error;
mod interp;
mod load;
pub mod model;
pub mod observe;
mod profile;
mod raw;
mod root;
mod scenario;
mod source;
mod surface;
mod units;
mod yaml;
pub use yaml::parse_document;

pub use calibration::{WallFiles, TEMPLATE_SUFFIX};
pub use condition::{parse_condition, render_value, Condition};
pub use drill::{DEFAULT_DRILL_TIMEOUT, DEFAULT_POLL};
pub use error::{SpecError, SpecErrorKind};
pub use interp::Resolver;
pub use load::build_wall;
pub use model::*;
pub use observe::{Observations, Value};
pub use profile::{parse_profile_layer, Profile, ProfileLayer};
pub use root::{parse_root, parse_secrets, RootConfig, DEFAULT_INCLUDE, MAX_RETRIES};
pub use scenario::{DEFAULT_WINDOW, MAX_CELLS};
pub use source::{decode_source, SourceFile, MAX_SOURCE_BYTES};
pub use surface::{covers, glob_match, Cell};
pub use units::{parse_duration, parse_size, render_duration, render_size};
