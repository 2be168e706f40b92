//! Runs the whole loading pipeline on in-memory files, the way the harness will on disk.

use std::collections::BTreeMap;

use auditwall_spec::*;

pub const WALL_DIR: &str = "walls/x";

pub const ROOT: &str = "name: example\n";

#[derive(Default)]
pub struct Input<'a> {
    /// `wall.yaml`; `ROOT` when `None`.
    pub root: Option<&'a str>,
    /// (path relative to the wall dir, bytes)
    pub specs: Vec<(&'a str, &'a [u8])>,
    /// (layer name, text); the file is `profiles/<name>.yaml`.
    pub profiles: Vec<(&'a str, &'a str)>,
    pub env: Vec<(&'a str, &'a str)>,
    pub secrets: Vec<(&'a str, &'a str)>,
    /// Other wall files (canonical sources), as (path relative to the wall dir, text).
    pub files: Vec<(&'a str, &'a str)>,
}

/// The wall's files held in memory, the way an embedded wall serves them.
pub struct Files(pub BTreeMap<String, String>);

impl WallFiles for Files {
    fn text(&self, path: &str) -> Result<Option<SourceFile>, String> {
        match self.0.get(path) {
            None => Ok(None),
            Some(text) => decode_source(&format!("{WALL_DIR}/{path}"), text.as_bytes())
                .map(Some)
                .map_err(|e| e.to_string()),
        }
    }

    fn plain(&self, path: &str) -> Result<Option<CanonicalSource>, String> {
        Ok(self.0.get(path).map(|text| CanonicalSource::Text {
            name: path.to_string(),
            text: text.clone(),
        }))
    }

    fn list(&self, dir: &str) -> Result<Option<Vec<String>>, String> {
        let prefix = format!("{dir}/");
        let listed: Vec<String> = self
            .0
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix).map(str::to_string))
            .collect();
        Ok((!listed.is_empty()).then_some(listed))
    }
}

pub struct Lookups {
    pub env: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
}

impl Resolver for Lookups {
    fn env(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
    fn secret(&self, name: &str) -> Option<String> {
        self.secrets.get(name).cloned()
    }
}

fn owned(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Loads the wall; on failure, every error rendered as the user sees it.
pub fn load(input: &Input) -> Result<Wall, Vec<String>> {
    let render = |errors: Vec<SpecError>| errors.iter().map(|e| e.to_string()).collect::<Vec<_>>();
    let root_src = decode_source(
        &format!("{WALL_DIR}/wall.yaml"),
        input.root.unwrap_or(ROOT).as_bytes(),
    )
    .map_err(|e| render(vec![e]))?;
    let root_cfg = parse_root(&root_src).map_err(|e| render(vec![e]))?;
    let mut errors = Vec::new();
    let mut layers = Vec::new();
    for (name, text) in &input.profiles {
        let src = decode_source(&format!("{WALL_DIR}/profiles/{name}.yaml"), text.as_bytes());
        match src.and_then(|s| parse_profile_layer(name, &s)) {
            Ok(layer) => layers.push(layer),
            Err(e) => errors.push(e),
        }
    }
    let mut specs = Vec::new();
    for (path, bytes) in &input.specs {
        match decode_source(&format!("{WALL_DIR}/{path}"), bytes) {
            Ok(src) => specs.push(src),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(render(errors));
    }
    let profile = Profile::merge(layers);
    let lookups = Lookups {
        env: owned(&input.env),
        secrets: owned(&input.secrets),
    };
    let files = Files(owned(&input.files));
    build_wall(&root_src, &root_cfg, &specs, &profile, &lookups, &files).map_err(render)
}
