//! The seam between the model server and the model that writes the answers.
//!
//! Owns: the [`Backend`] trait, its input and output types, [`BackendKind`] (the `backend:`
//! config key), the built-in arithmetic backend, and choosing and loading a backend. The
//! `mlx` backend lives in `backend/mlx.rs`, the only file that may name `mlx-rs`.
//! Must not touch: HTTP, the cold load, latency or the fault modes. Those belong to the
//! model server, so every backend is slowed, hung and broken in exactly the same way.
//!
//! The trait is synchronous: a local model is CPU/GPU-bound work, and the server runs
//! [`Backend::complete`] on tokio's blocking pool (`spawn_blocking`), where it cannot
//! stall the health endpoint a wall is probing at the same time.

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

// Paths are spelled out because this module is declared by `model`, not by the crate root.
#[path = "backend/builtin.rs"]
pub mod builtin;
#[cfg(all(feature = "mlx", target_os = "macos", target_arch = "aarch64"))]
#[path = "backend/mlx.rs"]
mod mlx;

pub use builtin::{arith, Builtin, NOT_ARITHMETIC};

// The dependency is only declared for Apple Silicon, so on any other target the feature would
// otherwise fail with unresolved-crate errors that do not say what to do.
#[cfg(all(
    feature = "mlx",
    not(all(target_os = "macos", target_arch = "aarch64"))
))]
compile_error!("the `mlx` feature needs macOS on Apple Silicon (mlx-rs downloads MLX and links macOS frameworks); build without it on this platform");

/// One message of a chat request, as the OpenAI API sends it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

/// What a backend answered: the text of the assistant's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub content: String,
}

/// A model that answers a chat.
///
/// Called on a blocking thread, possibly from several at once; a backend that can only run
/// one generation at a time serializes internally.
pub trait Backend: Send + Sync + 'static {
    /// Answers the conversation `messages`. The server only calls it with at least one
    /// message whose role is `user`.
    fn complete(&self, messages: &[ChatMessage]) -> Result<Completion, BackendError>;
}

/// The `backend:` key of a model server's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// [`Builtin`], the arithmetic model; needs no files.
    #[default]
    Builtin,
    /// A local model run with MLX; needs `model_path` and a build with `--features mlx`
    /// on Apple Silicon.
    Mlx,
}

/// Builds the backend a config asks for, loading the model if it has one. Slow for a real
/// model (it reads the weights), so callers in async code run it on the blocking pool.
pub fn load(
    kind: BackendKind,
    model_path: Option<&Path>,
) -> Result<Arc<dyn Backend>, BackendError> {
    match (kind, model_path) {
        (BackendKind::Builtin, None) => Ok(Arc::new(Builtin)),
        (BackendKind::Builtin, Some(_)) => Err(BackendError::new(
            BackendErrorKind::Config,
            "`model_path` is only used by backend \"mlx\"; remove it or set `backend: mlx`",
        )),
        (BackendKind::Mlx, path) => load_mlx(path),
    }
}

#[cfg(all(feature = "mlx", target_os = "macos", target_arch = "aarch64"))]
use mlx::load as load_mlx;

/// Said before anything else about an `mlx` config, since no other fix helps without it.
#[cfg(not(all(feature = "mlx", target_os = "macos", target_arch = "aarch64")))]
fn load_mlx(_: Option<&Path>) -> Result<Arc<dyn Backend>, BackendError> {
    Err(BackendError::new(
        BackendErrorKind::Unavailable,
        "backend \"mlx\" needs auditwall built with --features mlx on macOS/Apple Silicon",
    ))
}

/// A backend could not be built or could not answer.
#[derive(Debug, thiserror::Error)]
#[error("{context}")]
pub struct BackendError {
    kind: BackendErrorKind,
    context: String,
}

/// What went wrong in a backend, for callers that map it to a status or an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendErrorKind {
    /// The backend settings do not fit together (`model_path` without `mlx`, or the reverse).
    Config,
    /// The backend is not compiled into this build.
    Unavailable,
    /// The model's files are missing, unreadable or of a shape the backend cannot run.
    Load,
    /// The conversation cannot be answered as given (no user message, too long).
    Request,
    /// The model failed while generating.
    Inference,
}

impl BackendError {
    pub fn new(kind: BackendErrorKind, context: impl Into<String>) -> Self {
        BackendError {
            kind,
            context: context.into(),
        }
    }

    pub fn kind(&self) -> BackendErrorKind {
        self.kind
    }
}
