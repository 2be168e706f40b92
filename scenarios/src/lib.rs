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
    (
        "scenarios/hub.yaml",
        include_str!("../default/scenarios/hub.yaml"),
    ),
    (
        "scenarios/canaries.yaml",
        include_str!("../default/scenarios/canaries.yaml"),
    ),
    (
        "scenarios/surface.yaml",
        include_str!("../default/scenarios/surface.yaml"),
    ),
    (
        "drills/reference.yaml",
        include_str!("../default/drills/reference.yaml"),
    ),
    (
        "calibration/configs.yaml",
        include_str!("../default/calibration/configs.yaml"),
    ),
    // The canonical configs are the reference system's own templates, so the wall checks
    // exactly what the system deploys, from one checked-in copy.
    (
        "canonical/reference/hub.yaml.tmpl",
        include_str!("../../reference/templates/hub.yaml.tmpl"),
    ),
    (
        "canonical/reference/model-fallback.yaml.tmpl",
        include_str!("../../reference/templates/model-fallback.yaml.tmpl"),
    ),
    (
        "canonical/reference/model-primary.yaml.tmpl",
        include_str!("../../reference/templates/model-primary.yaml.tmpl"),
    ),
    (
        "canonical/reference/router.yaml.tmpl",
        include_str!("../../reference/templates/router.yaml.tmpl"),
    ),
    (
        "canonical/reference/watchdog.yaml.tmpl",
        include_str!("../../reference/templates/watchdog.yaml.tmpl"),
    ),
];
