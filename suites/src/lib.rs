//! Shared trial plumbing for the suite test targets.
