//! Compares one canonical source with one deployed file: content (text diff, binary hash or
//! large-file hash) and permission bits.
//!
//! Owns: reading within the size cap, binary detection, hashing and rendering bounded diffs.
//! Must not touch: anything outside the one resolved deployed path it is given (the caller has
//! already checked the roots), and it never writes.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};
use similar::{ChangeTag, TextDiff};

use crate::finding::FindingKind;
use crate::model::Limits;

/// The canonical side: rendered text borrowed from the caller, or a file to read.
#[derive(Debug, Clone)]
pub(crate) enum Canonical<'a> {
    Text { name: &'a str, text: &'a str },
    File(PathBuf),
}

impl Canonical<'_> {
    pub(crate) fn label(&self) -> String {
        match self {
            Canonical::Text { name, .. } => (*name).to_string(),
            Canonical::File(path) => path.display().to_string(),
        }
    }
}

/// The bytes binary detection looks at for NUL, as git and diff do.
const BINARY_SNIFF_BYTES: usize = 8 * 1024;

enum Content {
    Bytes(Vec<u8>),
    /// Over the size cap: only its length is known, and it is hashed from disk.
    Large(u64),
}

/// Everything wrong with one deployed file, in a fixed order (content, then mode).
pub(crate) fn compare(
    canonical: &Canonical<'_>,
    shown: &Path,
    real: &Path,
    mode: Option<u32>,
    limits: &Limits,
) -> Vec<FindingKind> {
    let canonical_content = match load_canonical(canonical, limits) {
        Ok(content) => content,
        Err(finding) => return vec![finding],
    };
    let meta = match fs::symlink_metadata(real) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return vec![FindingKind::Missing {
                canonical: canonical.label(),
            }]
        }
        Err(e) => return vec![unreadable(shown, &e.to_string())],
    };
    if let Some(problem) = not_regular(real, &meta) {
        return vec![unreadable(shown, &problem)];
    }
    let mut findings = Vec::new();
    let content = if meta.len() > limits.max_file_bytes {
        Ok(Content::Large(meta.len()))
    } else {
        read_capped(real, limits.max_file_bytes)
    };
    match content {
        Ok(deployed) => {
            if let Some(finding) = compare_content(
                canonical,
                &canonical_content,
                shown,
                real,
                &deployed,
                limits,
            ) {
                findings.push(finding);
            }
        }
        Err(e) => return vec![unreadable(shown, &e.to_string())],
    }
    if let Some(expected) = mode {
        let actual = meta.permissions().mode() & 0o7777;
        if actual != expected {
            findings.push(FindingKind::ModeDiffers { expected, actual });
        }
    }
    findings
}

fn unreadable(file: &Path, error: &str) -> FindingKind {
    FindingKind::Unreadable {
        file: file.to_path_buf(),
        error: error.to_string(),
    }
}

/// Why a path that exists is not a regular file we may open; a FIFO would block a read forever.
pub(crate) fn not_regular(path: &Path, meta: &fs::Metadata) -> Option<String> {
    let kind = meta.file_type();
    if kind.is_file() {
        return None;
    }
    if kind.is_symlink() {
        return Some(match fs::read_link(path) {
            Ok(target) => format!("dangling symlink to {}", target.display()),
            Err(_) => "dangling symlink".to_string(),
        });
    }
    let what = if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    };
    Some(format!("is {what}, not a regular file"))
}

fn load_canonical(canonical: &Canonical<'_>, limits: &Limits) -> Result<Content, FindingKind> {
    match canonical {
        Canonical::Text { text, .. } => {
            let len = text.len() as u64;
            Ok(if len > limits.max_file_bytes {
                Content::Large(len)
            } else {
                Content::Bytes(text.as_bytes().to_vec())
            })
        }
        Canonical::File(path) => {
            let meta = match fs::metadata(path) {
                Ok(meta) => meta,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(FindingKind::CanonicalMissing {
                        canonical: path.to_path_buf(),
                    })
                }
                Err(e) => return Err(unreadable(path, &e.to_string())),
            };
            if let Some(problem) = not_regular(path, &meta) {
                return Err(unreadable(path, &problem));
            }
            if meta.len() > limits.max_file_bytes {
                return Ok(Content::Large(meta.len()));
            }
            read_capped(path, limits.max_file_bytes).map_err(|e| unreadable(path, &e.to_string()))
        }
    }
}

/// Reads at most `cap` bytes; a file that grew past the cap since its `stat` is treated as large.
fn read_capped(path: &Path, cap: u64) -> io::Result<Content> {
    let mut bytes = Vec::new();
    File::open(path)?
        .take(cap.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Ok(Content::Large(bytes.len() as u64));
    }
    Ok(Content::Bytes(bytes))
}

fn compare_content(
    canonical: &Canonical<'_>,
    canonical_content: &Content,
    shown: &Path,
    real: &Path,
    deployed: &Content,
    limits: &Limits,
) -> Option<FindingKind> {
    match (canonical_content, deployed) {
        (Content::Bytes(old), Content::Bytes(new)) => {
            if old == new {
                return None;
            }
            match (std::str::from_utf8(old), std::str::from_utf8(new)) {
                (Ok(old_text), Ok(new_text)) if !has_nul(old) && !has_nul(new) => {
                    let (diff, truncated) =
                        render_diff(&canonical.label(), shown, old_text, new_text, limits);
                    Some(FindingKind::Differs { diff, truncated })
                }
                _ => Some(FindingKind::BinaryDiffers {
                    canonical_sha256: hex(&Sha256::digest(old)),
                    deployed_sha256: hex(&Sha256::digest(new)),
                }),
            }
        }
        _ => {
            let canonical_hash = match (canonical, canonical_content) {
                (_, Content::Bytes(bytes)) => Ok(hex(&Sha256::digest(bytes))),
                (Canonical::Text { text, .. }, Content::Large(_)) => {
                    Ok(hex(&Sha256::digest(text.as_bytes())))
                }
                (Canonical::File(path), Content::Large(_)) => {
                    hash_file(path).map_err(|e| unreadable(path, &e.to_string()))
                }
            };
            let canonical_sha256 = match canonical_hash {
                Ok(hash) => hash,
                Err(finding) => return Some(finding),
            };
            let deployed_sha256 = match deployed {
                Content::Bytes(bytes) => hex(&Sha256::digest(bytes)),
                Content::Large(_) => match hash_file(real) {
                    Ok(hash) => hash,
                    Err(e) => return Some(unreadable(shown, &e.to_string())),
                },
            };
            if canonical_sha256 == deployed_sha256 {
                return None;
            }
            Some(FindingKind::TooLarge {
                bytes: size(canonical_content).max(size(deployed)),
                limit: limits.max_file_bytes,
                canonical_sha256,
                deployed_sha256,
            })
        }
    }
}

fn size(content: &Content) -> u64 {
    match content {
        Content::Bytes(bytes) => bytes.len() as u64,
        Content::Large(len) => *len,
    }
}

fn has_nul(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(BINARY_SNIFF_BYTES)].contains(&0)
}

fn hash_file(path: &Path) -> io::Result<String> {
    let mut hasher = Sha256::new();
    io::copy(&mut File::open(path)?, &mut hasher)?;
    Ok(hex(&hasher.finalize()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// A unified diff, canonical against deployed, bounded in time and size. The flag is set when
/// either bound was hit, and the text then ends with a line saying which.
fn render_diff(
    canonical: &str,
    deployed: &Path,
    old: &str,
    new: &str,
    limits: &Limits,
) -> (String, bool) {
    // The deadline covers tokenising and hashing the lines too, which on a 5 MB pair is a
    // noticeable share of the cap.
    let deadline = Instant::now() + limits.diff_timeout;
    let diff = TextDiff::configure()
        .deadline(deadline)
        .diff_lines(old, new);
    // similar does not say whether it gave up; past the deadline its result is a valid but
    // possibly coarser diff, which the reader must be told about.
    let timed_out = Instant::now() >= deadline;
    let mut out = format!(
        "--- {canonical} (canonical)\n+++ {} (deployed)\n",
        deployed.display()
    );
    let mut cut = false;
    let mut line = String::new();
    // Rendered line by line, not hunk by hunk: after a timeout one hunk can hold the whole
    // file, and rendering it only to throw most of it away would blow the time cap.
    'hunks: for hunk in diff
        .unified_diff()
        .context_radius(limits.context_lines)
        .iter_hunks()
    {
        let header = format!("{}\n", hunk.header());
        if out.len() + header.len() > limits.max_diff_bytes {
            cut = true;
            break;
        }
        out.push_str(&header);
        for change in hunk.iter_changes() {
            line.clear();
            line.push(match change.tag() {
                ChangeTag::Equal => ' ',
                ChangeTag::Delete => '-',
                ChangeTag::Insert => '+',
            });
            line.push_str(change.value());
            if change.missing_newline() {
                line.push_str("\n\\ No newline at end of file\n");
            }
            if out.len() + line.len() > limits.max_diff_bytes {
                cut = true;
                break 'hunks;
            }
            out.push_str(&line);
        }
    }
    if timed_out {
        out.push_str(&format!(
            "[auditwall: the diff hit its {} ms time cap; it is correct but may not be minimal]\n",
            limits.diff_timeout.as_millis()
        ));
    }
    if cut {
        out.push_str(&format!(
            "[auditwall: diff cut at {} bytes; the rest is not shown]\n",
            limits.max_diff_bytes
        ));
    }
    (out, timed_out || cut)
}
