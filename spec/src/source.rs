//! Turning caller-read bytes into checked source text.
//!
//! Owns: the size cap, UTF-8 validation (naming the first bad byte) and BOM stripping.
//! Must not touch: the file system; the caller reads the bytes (and should stop reading at
//! `MAX_SOURCE_BYTES + 1` so a huge file is never held in memory).

use crate::error::{SpecError, SpecErrorKind};

/// The largest spec, profile or secrets file accepted (1 MiB); YAML parsers do not cap input.
pub const MAX_SOURCE_BYTES: usize = 1024 * 1024;

/// One file's text, with the path used in every error about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: String,
    pub text: String,
}

/// Checks size (<= [`MAX_SOURCE_BYTES`]) and UTF-8 (naming the byte offset of the first bad
/// byte); strips a UTF-8 BOM.
pub fn decode_source(path: &str, bytes: &[u8]) -> Result<SourceFile, SpecError> {
    if bytes.len() > MAX_SOURCE_BYTES {
        return Err(SpecError::whole_file(
            SpecErrorKind::TooLarge,
            path,
            format!("file is too large (more than {MAX_SOURCE_BYTES} bytes, the limit)"),
        ));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(SourceFile {
            path: path.to_string(),
            text: text.to_string(),
        }),
        Err(e) => {
            let offset = e.valid_up_to();
            // The valid prefix is UTF-8 by definition, so line/column can be counted on it.
            let prefix = std::str::from_utf8(&bytes[..offset]).unwrap_or_default();
            let line = prefix.matches('\n').count() + 1;
            let column = prefix.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            Err(SpecError {
                kind: SpecErrorKind::InvalidUtf8,
                file: path.to_string(),
                line: u32::try_from(line).unwrap_or(u32::MAX),
                column: u32::try_from(column).unwrap_or(u32::MAX),
                key: None,
                message: format!("invalid UTF-8 at byte offset {offset}"),
                hint: None,
            })
        }
    }
}
