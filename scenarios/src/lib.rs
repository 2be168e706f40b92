//! Spec data compiled into auditwall: the default wall's files as (relative path, contents).
//!
//! Owns data only. The harness reads these exactly as it reads a wall directory, so the
//! embedded wall is validated by the same code as every user's wall.

/// The wall `auditwall verify` runs when no wall directory is given.
pub const DEFAULT_WALL: &[(&str, &str)] = &[
    ("wall.yaml", include_str!("../default/wall.yaml")),
    (
        "profiles/base.yaml",
        include_str!("../default/profiles/base.yaml"),
    ),
    (
        "probes/services.yaml",
        include_str!("../default/probes/services.yaml"),
    ),
];
