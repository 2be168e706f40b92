//! Reading a wall: its files (from a directory or embedded in the binary), the host profile,
//! secrets, and the environment. This is the only place the harness touches spec files on disk;
//! everything it reads is handed to the pure `auditwall_spec` crate.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use auditwall_spec::{
    build_wall, decode_source, parse_profile_layer, parse_root, parse_secrets, CanonicalSource,
    Profile, Resolver, SourceFile, Wall, WallFiles, MAX_SOURCE_BYTES,
};
use globset::{GlobBuilder, GlobSetBuilder};
use sha2::{Digest, Sha256};

use crate::error::Error;

/// Where a wall's files come from.
#[derive(Debug, Clone)]
pub enum WallSource {
    /// A directory containing `wall.yaml`.
    Dir(PathBuf),
    /// Files compiled into the binary, as (relative path, contents).
    Embedded {
        name: &'static str,
        files: &'static [(&'static str, &'static str)],
    },
}

impl WallSource {
    /// How reports name this source.
    pub fn describe(&self) -> String {
        match self {
            WallSource::Dir(dir) => dir.display().to_string(),
            WallSource::Embedded { name, .. } => format!("<embedded:{name}>"),
        }
    }

    /// Paths relative to the wall root, `/`-separated, sorted.
    fn list(&self) -> Result<Vec<String>, Error> {
        match self {
            WallSource::Dir(dir) => {
                let mut out = Vec::new();
                walk(dir, dir, 0, &mut out)?;
                out.sort();
                Ok(out)
            }
            WallSource::Embedded { files, .. } => {
                let mut out: Vec<String> = files.iter().map(|(p, _)| p.to_string()).collect();
                out.sort();
                Ok(out)
            }
        }
    }

    /// Reads one file, enforcing the size cap *before* reading and decoding UTF-8.
    fn read(&self, rel: &str) -> Result<Option<SourceFile>, Error> {
        match self {
            WallSource::Dir(dir) => {
                let path = dir.join(rel);
                let display = path.display().to_string();
                let bytes = match read_capped(&path) {
                    Ok(b) => b,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(Error::spec(format!("{display}: cannot read: {e}"))),
                };
                Ok(Some(decode_source(&display, &bytes)?))
            }
            WallSource::Embedded { name, files } => {
                Ok(files
                    .iter()
                    .find(|(p, _)| *p == rel)
                    .map(|(p, text)| SourceFile {
                        path: format!("<embedded:{name}>/{p}"),
                        text: text.to_string(),
                    }))
            }
        }
    }
}

/// The wall's own files as calibration reads them; remembers each text read so the wall
/// digest covers canonical templates too.
struct SourceFiles<'a> {
    source: &'a WallSource,
    read: RefCell<Vec<(String, String)>>,
}

impl WallFiles for SourceFiles<'_> {
    fn text(&self, path: &str) -> Result<Option<SourceFile>, String> {
        let src = self.source.read(path).map_err(|e| e.to_string())?;
        if let Some(src) = &src {
            self.read
                .borrow_mut()
                .push((src.path.clone(), src.text.clone()));
        }
        Ok(src)
    }

    fn plain(&self, path: &str) -> Result<Option<CanonicalSource>, String> {
        match self.source {
            WallSource::Dir(dir) => {
                let full = absolute(&dir.join(path));
                match std::fs::metadata(&full) {
                    Ok(meta) if meta.is_file() => Ok(Some(CanonicalSource::File {
                        name: path.to_string(),
                        path: full.display().to_string(),
                    })),
                    Ok(_) => Err(format!("{} is not a regular file", full.display())),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(format!("{}: {e}", full.display())),
                }
            }
            WallSource::Embedded { files, .. } => {
                Ok(files
                    .iter()
                    .find(|(p, _)| *p == path)
                    .map(|(_, text)| CanonicalSource::Text {
                        name: path.to_string(),
                        text: text.to_string(),
                    }))
            }
        }
    }

    fn list(&self, dir: &str) -> Result<Option<Vec<String>>, String> {
        match self.source {
            WallSource::Dir(root) => {
                let full = root.join(dir);
                match std::fs::metadata(&full) {
                    Ok(meta) if meta.is_dir() => {}
                    Ok(_) => return Err(format!("{} is not a directory", full.display())),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(format!("{}: {e}", full.display())),
                }
                let mut out = Vec::new();
                walk(&full, &full, 0, &mut out).map_err(|e| e.to_string())?;
                out.sort();
                Ok(Some(out))
            }
            WallSource::Embedded { files, .. } => {
                let prefix = format!("{dir}/");
                let mut out: Vec<String> = files
                    .iter()
                    .filter_map(|(p, _)| p.strip_prefix(&prefix).map(str::to_string))
                    .collect();
                out.sort();
                Ok((!out.is_empty()).then_some(out))
            }
        }
    }
}

/// `path` made absolute against the working directory (without touching symlinks).
pub(crate) fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Bounded directory walk: spec trees are small, and a symlink loop must not hang a run.
fn walk(root: &Path, dir: &Path, depth: usize, out: &mut Vec<String>) -> Result<(), Error> {
    const MAX_DEPTH: usize = 16;
    const MAX_FILES: usize = 100_000;
    if depth > MAX_DEPTH {
        // Never skip silently: a spec file nobody loads is a check nobody runs.
        return Err(Error::spec(format!(
            "{}: nested more than {MAX_DEPTH} directories deep below {} (a symlink loop?)",
            dir.display(),
            root.display()
        )));
    }
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::spec(format!("{}: cannot read directory: {e}", dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::spec(format!("{}: {e}", dir.display())))?;
        let path = entry.path();
        // Follow symlinks: a linked spec file or directory is part of the wall.
        let ty = std::fs::metadata(&path)
            .map_err(|e| Error::spec(format!("{}: {e}", path.display())))?
            .file_type();
        if ty.is_dir() {
            walk(root, &path, depth + 1, out)?;
        } else if ty.is_file() {
            if out.len() >= MAX_FILES {
                return Err(Error::spec(format!(
                    "{}: more than {MAX_FILES} files in the wall",
                    root.display()
                )));
            }
            if let Ok(rel) = path.strip_prefix(root) {
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    Ok(())
}

/// What the caller chose about profiles.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Overlay names applied in order on top of `profiles/base.yaml` (each `profiles/<name>.yaml`).
    pub overlays: Vec<String>,
    /// Layers that exist only at run time, as (name, YAML text), applied after `base` and
    /// before the overlays — e.g. the live ports of a reference system auditwall started.
    pub live_layers: Vec<(String, String)>,
}

/// A loaded, validated wall plus what reports need to know about how it was resolved.
#[derive(Debug, Clone)]
pub struct LoadedWall {
    pub wall: Wall,
    pub profile: Profile,
    /// `base` plus the overlays that were applied, in order.
    pub profile_layers: Vec<String>,
    /// sha256 hex of the canonical resolved profile.
    pub profile_digest: String,
    /// sha256 hex over `wall.yaml`, every spec file, every template read and the resolved
    /// profile: two runs with the same digest checked the same claims.
    pub wall_digest: String,
    pub source: String,
    /// Number of spec files the wall's `include` globs matched.
    pub spec_files: usize,
}

/// Environment and secrets lookups for `${env:..}` and `${secret:..}`.
///
/// Secrets come from `AUDITWALL_SECRET_<NAME>` first, then from the wall's secrets file.
pub struct EnvResolver {
    secrets: BTreeMap<String, String>,
}

impl Resolver for EnvResolver {
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn secret(&self, name: &str) -> Option<String> {
        std::env::var(format!("AUDITWALL_SECRET_{name}"))
            .ok()
            .or_else(|| self.secrets.get(name).cloned())
    }
}

/// Loads and validates a wall. Spec problems come back as one [`Error`] listing every
/// located finding.
pub fn load(source: &WallSource, opts: &LoadOptions) -> Result<LoadedWall, Error> {
    let files = source.list()?;
    let root = source
        .read("wall.yaml")?
        .ok_or_else(|| Error::spec(format!("{}: no wall.yaml found", source.describe())))?;
    let root_cfg = parse_root(&root)?;

    let mut layers = Vec::new();
    let mut layer_names = Vec::new();
    if let Some(base) = source.read("profiles/base.yaml")? {
        layers.push(parse_profile_layer("base", &base)?);
        layer_names.push("base".to_string());
    }
    for (name, text) in &opts.live_layers {
        let src = SourceFile {
            path: format!("<live profile layer {name}>"),
            text: text.clone(),
        };
        layers.push(parse_profile_layer(name, &src)?);
        layer_names.push(name.clone());
    }
    for name in &opts.overlays {
        let rel = format!("profiles/{name}.yaml");
        let src = source.read(&rel)?.ok_or_else(|| {
            let known: Vec<&str> = files
                .iter()
                .filter_map(|f| f.strip_prefix("profiles/")?.strip_suffix(".yaml"))
                .filter(|n| *n != "base")
                .collect();
            Error::spec(format!(
                "{}: profile overlay `{name}` not found (expected {rel}; known overlays: {})",
                source.describe(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ))
        })?;
        layers.push(parse_profile_layer(name, &src)?);
        layer_names.push(name.clone());
    }
    let profile = Profile::merge(layers);

    let mut resolver = EnvResolver {
        secrets: BTreeMap::new(),
    };
    if let Some(path) = root_cfg.secrets_file(&profile, &resolver)? {
        // A relative path belongs to the wall, not to wherever auditwall was started.
        let path = match source {
            WallSource::Dir(dir) if Path::new(&path).is_relative() => {
                dir.join(&path).display().to_string()
            }
            _ => path,
        };
        resolver.secrets = read_secrets(&path)?;
    }

    let mut builder = GlobSetBuilder::new();
    for pattern in &root_cfg.include {
        // `*` stays within one directory, as in a shell: `probes/*.yaml` must not pull in
        // `probes/disabled/`.
        let glob = GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map_err(|e| {
                Error::spec(format!(
                    "{}: bad include pattern `{pattern}`: {e}",
                    root.path
                ))
            })?;
        builder.add(glob);
    }
    let globs = builder
        .build()
        .map_err(|e| Error::spec(format!("{}: bad include patterns: {e}", root.path)))?;
    let mut specs = Vec::new();
    for rel in files.iter().filter(|f| globs.is_match(f.as_str())) {
        if rel == "wall.yaml" || rel.starts_with("profiles/") {
            continue;
        }
        if let Some(src) = source.read(rel)? {
            specs.push(src);
        }
    }
    let spec_files = specs.len();
    let wall_files = SourceFiles {
        source,
        read: RefCell::new(Vec::new()),
    };
    let wall = build_wall(&root, &root_cfg, &specs, &profile, &resolver, &wall_files)
        .map_err(Error::from_spec_errors)?;
    crate::calibrate::validate(&wall).map_err(Error::from_spec_errors)?;
    let profile_digest = hex(&Sha256::digest(profile.canonical().as_bytes()));
    let mut digest = Sha256::new();
    let mut inputs: Vec<(String, String)> = std::iter::once(&root)
        .chain(&specs)
        .map(|src| (src.path.clone(), src.text.clone()))
        .chain(wall_files.read.into_inner())
        .collect();
    inputs.sort();
    for (path, text) in &inputs {
        digest.update(format!("{}\n{path}\n{}\n", path.len(), text.len()));
        digest.update(text.as_bytes());
    }
    digest.update(profile.canonical().as_bytes());
    Ok(LoadedWall {
        wall,
        profile,
        profile_layers: layer_names,
        profile_digest,
        wall_digest: hex(&digest.finalize()),
        source: source.describe(),
        spec_files,
    })
}

/// Reads at most one byte more than the cap, so an oversized (or endless) file is rejected by
/// `decode_source` without being read whole.
fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_SOURCE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn read_secrets(path: &str) -> Result<BTreeMap<String, String>, Error> {
    let bytes = read_capped(Path::new(path))
        .map_err(|e| Error::spec(format!("{path}: cannot read secrets file: {e}")))?;
    let src = decode_source(path, &bytes)?;
    Ok(parse_secrets(&src)?)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Facts for the report header. `started_at` and `planned` are set by the engine.
pub fn run_info(loaded: &LoadedWall, wall_dir: Option<&Path>) -> crate::result::RunInfo {
    let now = std::time::SystemTime::now();
    let stamp = humantime::format_rfc3339_seconds(now)
        .to_string()
        .replace(['-', ':'], "");
    crate::result::RunInfo {
        run_id: format!("{stamp}-{:05}", std::process::id() % 100_000),
        wall: loaded.wall.name.clone(),
        wall_source: loaded.source.clone(),
        git_commit: wall_dir.and_then(git_commit),
        profile_digest: loaded.profile_digest.clone(),
        profile_name: loaded.profile_layers.join("+"),
        host: hostname(),
        started_at: now,
        planned: 0,
    }
}

/// Reads the commit from `.git` directly: no `git` process, no hang, nothing to install.
fn git_commit(dir: &Path) -> Option<String> {
    let start = dir.canonicalize().ok()?;
    let git_dir = start
        .ancestors()
        .take(64)
        .map(|d| d.join(".git"))
        .find(|g| g.is_dir())?;
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let head = head.trim();
    let Some(reference) = head.strip_prefix("ref: ") else {
        return is_sha(head).then(|| head.to_string());
    };
    if let Ok(sha) = std::fs::read_to_string(git_dir.join(reference)) {
        let sha = sha.trim();
        return is_sha(sha).then(|| sha.to_string());
    }
    let packed = std::fs::read_to_string(git_dir.join("packed-refs")).ok()?;
    packed
        .lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(_, name)| *name == reference)
        .map(|(sha, _)| sha.to_string())
        .filter(|sha| is_sha(sha))
}

fn is_sha(s: &str) -> bool {
    s.len() >= 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_string())
}
