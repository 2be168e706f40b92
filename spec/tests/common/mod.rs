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
    build_wall(&root_src, &root_cfg, &specs, &profile, &lookups).map_err(render)
}
