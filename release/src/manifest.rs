//! `MANIFEST`: the sha256 of every file in a bundle, in the format `sha256sum -c` reads.
//!
//! Owns: which entries a bundle may hold, the exact bytes of `MANIFEST`, and reading it back.
//! Must not touch: signatures (see `sign` and `verify`) or the files it describes.
//!
//! A bundle is flat: regular files only. Symlinks (which would let a bundle point outside
//! itself), subdirectories and special files are refused with the offending name, and so are
//! names that `sha256sum` would escape (a backslash or a control character such as a newline),
//! because an escaped line is no longer the plain `<hex>  <name>` this format promises.

use std::ffi::OsStr;
use std::path::Path;

use crate::error::{Kind, ReleaseError, Result};
use crate::files::{sha256_file, write_new};
use crate::{MANIFEST_FILE, SIGNATURE_FILE};

/// One line of `MANIFEST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// The file's name inside the bundle.
    pub name: String,
    /// Its sha256, 64 lowercase hex digits.
    pub sha256: String,
}

/// The parsed or freshly written `MANIFEST`: entries sorted by name, each name once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    entries: Vec<ManifestEntry>,
}

impl Manifest {
    pub fn entries(&self) -> &[ManifestEntry] {
        &self.entries
    }

    /// The exact bytes of `MANIFEST`: `<sha256 hex>  <name>\n` per file.
    pub fn to_text(&self) -> String {
        self.entries
            .iter()
            .map(|e| format!("{}  {}\n", e.sha256, e.name))
            .collect()
    }

    /// Reads the text back, refusing anything [`Manifest::to_text`] would not have written, so
    /// a manifest has exactly one spelling. `path` is only for the message.
    pub(crate) fn parse(bytes: &[u8], path: &Path) -> Result<Manifest> {
        let bad = |detail: String| ReleaseError::new(Kind::ManifestMalformed, detail).at(path);
        let text = std::str::from_utf8(bytes).map_err(|e| {
            bad(format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.valid_up_to()
            ))
        })?;
        let Some(body) = text.strip_suffix('\n') else {
            return Err(bad(
                "empty, or the last line does not end with a newline".into()
            ));
        };
        let mut entries: Vec<ManifestEntry> = Vec::new();
        for (i, line) in body.split('\n').enumerate() {
            let n = i + 1;
            let (digest, name) = match line.split_once("  ") {
                Some(pair) => pair,
                None => {
                    return Err(bad(format!(
                        "line {n}: expected `<sha256 hex>  <name>`, found {line:?}"
                    )))
                }
            };
            if digest.len() != 64
                || !digest
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            {
                return Err(bad(format!(
                    "line {n}: {digest:?} is not 64 lowercase hex digits"
                )));
            }
            check_name(name).map_err(|why| bad(format!("line {n}: {name:?} {why}")))?;
            if name == MANIFEST_FILE || name == SIGNATURE_FILE {
                return Err(bad(format!(
                    "line {n}: lists {name}, which describes itself"
                )));
            }
            if let Some(prev) = entries.last() {
                if prev.name.as_str() >= name {
                    return Err(bad(format!(
                        "line {n}: {name:?} is out of order or repeated (names are sorted, each once)"
                    )));
                }
            }
            entries.push(ManifestEntry {
                name: name.to_string(),
                sha256: digest.to_string(),
            });
        }
        Ok(Manifest { entries })
    }
}

/// Writes `dir/MANIFEST` for every regular file in `dir` (except `MANIFEST` and
/// `MANIFEST.sig`), sorted by name, and returns it.
///
/// Refuses, writing nothing: a missing directory, a bundle that already has a `MANIFEST` or
/// `MANIFEST.sig` (regenerating one would bless whatever changed since), an empty bundle, and
/// any symlink, subdirectory, special file or unusable name.
pub fn write_manifest(dir: &Path) -> Result<Manifest> {
    check_dir(dir)?;
    for existing in [MANIFEST_FILE, SIGNATURE_FILE] {
        let path = dir.join(existing);
        if path.symlink_metadata().is_ok() {
            return Err(ReleaseError::new(
                Kind::AlreadyExists,
                "the bundle already has a manifest or signature; write a fresh bundle instead",
            )
            .at(&path));
        }
    }
    let names = bundle_files(dir)?;
    if names.is_empty() {
        return Err(ReleaseError::new(Kind::EmptyBundle, "no files to put in a manifest").at(dir));
    }
    let mut entries = Vec::with_capacity(names.len());
    for name in names {
        let sha256 = sha256_file(&dir.join(&name))?;
        entries.push(ManifestEntry { name, sha256 });
    }
    let manifest = Manifest { entries };
    write_new(
        &dir.join(MANIFEST_FILE),
        manifest.to_text().as_bytes(),
        0o644,
    )?;
    Ok(manifest)
}

pub(crate) fn check_dir(dir: &Path) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(ReleaseError::new(Kind::NotADirectory, "not a directory").at(dir)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(ReleaseError::new(Kind::NotADirectory, "no such directory").at(dir))
        }
        Err(e) => Err(ReleaseError::io(dir, "cannot read", &e)),
    }
}

/// The names of the files a manifest describes, sorted: every entry of `dir` except
/// `MANIFEST` and `MANIFEST.sig`, each of which must be a regular file with a usable name.
pub(crate) fn bundle_files(dir: &Path) -> Result<Vec<String>> {
    let listing = std::fs::read_dir(dir).map_err(|e| ReleaseError::io(dir, "cannot list", &e))?;
    let mut names = Vec::new();
    for entry in listing {
        let entry = entry.map_err(|e| ReleaseError::io(dir, "cannot list", &e))?;
        let path = entry.path();
        let name = utf8_name(&entry.file_name(), &path)?;
        if name == MANIFEST_FILE || name == SIGNATURE_FILE {
            continue;
        }
        check_regular(&path)?;
        names.push(name);
    }
    names.sort();
    Ok(names)
}

/// Refuses anything but a regular file, without following a symlink.
pub(crate) fn check_regular(path: &Path) -> Result<()> {
    let meta = path
        .symlink_metadata()
        .map_err(|e| ReleaseError::io(path, "cannot read", &e))?;
    let file_type = meta.file_type();
    let why = if file_type.is_file() {
        return Ok(());
    } else if file_type.is_symlink() {
        "symlinks are not allowed in a bundle"
    } else if file_type.is_dir() {
        "subdirectories are not allowed in a bundle (a bundle is flat)"
    } else {
        "only regular files are allowed in a bundle"
    };
    Err(ReleaseError::new(Kind::UnsupportedEntry, why).at(path))
}

fn utf8_name(name: &OsStr, path: &Path) -> Result<String> {
    let Some(name) = name.to_str() else {
        return Err(ReleaseError::new(Kind::UnsupportedEntry, "the name is not UTF-8").at(path));
    };
    check_name(name).map_err(|why| {
        ReleaseError::new(Kind::UnsupportedEntry, format!("the name {name:?} {why}")).at(path)
    })?;
    Ok(name.to_string())
}

/// Why a name cannot be a manifest line, if it cannot.
fn check_name(name: &str) -> std::result::Result<(), &'static str> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        Err("is not a plain file name")
    } else if name.contains('\\') || name.chars().any(char::is_control) {
        Err("contains a backslash or control character, which sha256sum would escape")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "88a79bd33b420934fe38bd76bdfbf95f7121e5435178b88b030e9f7eb10fe102";

    fn refusal(text: &str) -> String {
        Manifest::parse(text.as_bytes(), Path::new("MANIFEST"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn parse_reads_back_exactly_what_to_text_writes() {
        let text = format!("{D}  a.json\n{D}  b b.md\n");
        let manifest = Manifest::parse(text.as_bytes(), Path::new("MANIFEST")).unwrap();
        assert_eq!(manifest.entries()[1].name, "b b.md");
        assert_eq!(manifest.to_text(), text);
    }

    #[test]
    fn every_other_spelling_is_refused_with_its_line() {
        let upper = D.to_uppercase();
        let cases = [
            (String::new(), "malformed MANIFEST: MANIFEST: empty, or the last line does not end with a newline"),
            (format!("{D}  a"), "malformed MANIFEST: MANIFEST: empty, or the last line does not end with a newline"),
            (format!("{D} *a\n"), "malformed MANIFEST: MANIFEST: line 1: expected `<sha256 hex>  <name>`, found \"88a79bd33b420934fe38bd76bdfbf95f7121e5435178b88b030e9f7eb10fe102 *a\""),
            (format!("{upper}  a\n"), "malformed MANIFEST: MANIFEST: line 1: \"88A79BD33B420934FE38BD76BDFBF95F7121E5435178B88B030E9F7EB10FE102\" is not 64 lowercase hex digits"),
            (format!("{D}  b\n{D}  a\n"), "malformed MANIFEST: MANIFEST: line 2: \"a\" is out of order or repeated (names are sorted, each once)"),
            (format!("{D}  a\n{D}  a\n"), "malformed MANIFEST: MANIFEST: line 2: \"a\" is out of order or repeated (names are sorted, each once)"),
            (format!("{D}  MANIFEST.sig\n"), "malformed MANIFEST: MANIFEST: line 1: lists MANIFEST.sig, which describes itself"),
            (format!("{D}  sub/a\n"), "malformed MANIFEST: MANIFEST: line 1: \"sub/a\" is not a plain file name"),
            (format!("{D}  a\n\n"), "malformed MANIFEST: MANIFEST: line 2: expected `<sha256 hex>  <name>`, found \"\""),
        ];
        for (text, message) in cases {
            assert_eq!(refusal(&text), message, "{text:?}");
        }
        assert_eq!(
            Manifest::parse(b"\xff\n", Path::new("MANIFEST"))
                .unwrap_err()
                .to_string(),
            "malformed MANIFEST: MANIFEST: not UTF-8 text (invalid byte at offset 0)"
        );
    }
}
