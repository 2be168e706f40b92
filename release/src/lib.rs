//! Release bundles that anyone can verify offline.
