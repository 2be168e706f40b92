//! The reference system services.
