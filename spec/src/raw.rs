//! The YAML shapes exactly as written, before validation.
//!
//! Owns: serde structs mirroring `wall.yaml` and spec files, with [`Spanned`] wherever a later
//! check needs a location. Must not touch: validation or defaults (the loader converts these
//! into the model). No untagged enums or `flatten`: both lose locations.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

pub(crate) type Text = Spanned<String>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoot {
    pub name: Text,
    pub description: Option<String>,
    pub include: Option<Vec<Text>>,
    pub settings: Option<RawSettings>,
    pub prerequisites: Option<RawPrerequisites>,
    pub secrets: Option<RawSecrets>,
    pub calibration: Option<RawCalibrationSettings>,
    pub services: Option<BTreeMap<String, Spanned<RawService>>>,
    pub drills: Option<RawDrillSettings>,
    pub observers: Option<BTreeMap<String, Spanned<RawObserver>>>,
}

/// Where a scenario reads state from: exactly one key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawObserver {
    pub state: Option<Text>,
    pub events: Option<Text>,
}

/// A service drills may act on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawService {
    pub pid_file: Option<Text>,
    pub start: Option<Vec<Text>>,
    pub stop: Option<Vec<Text>>,
}

/// `drills:` in `wall.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDrillSettings {
    pub control: Option<Text>,
    #[serde(default)]
    pub allow_hosts: Vec<Text>,
}

/// `calibration:` in `wall.yaml`: where calibration may look and write, and its limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCalibrationSettings {
    #[serde(default)]
    pub roots: Vec<Text>,
    pub backups: Option<Text>,
    pub ledger: Option<Text>,
    pub max_file_size: Option<Text>,
    pub diff_timeout: Option<Text>,
    pub max_diff_size: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSettings {
    pub timeout: Option<Text>,
    pub retries: Option<Spanned<u32>>,
    pub deadline: Option<Text>,
    pub jobs: Option<Spanned<usize>>,
    pub allow_disruptive: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPrerequisites {
    #[serde(default)]
    pub commands: Vec<Text>,
    #[serde(default)]
    pub ports_free: Vec<Text>,
    #[serde(default)]
    pub ports_used: Vec<Text>,
    #[serde(default)]
    pub files: Vec<Text>,
    pub min_memory: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSecrets {
    pub file: Text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSpecFile {
    /// `None` for an empty `probes:` (a file being written), which has no checks.
    pub probes: Option<Vec<Spanned<RawCheck>>>,
    pub calibration: Option<Vec<Spanned<RawCalibration>>>,
    pub drills: Option<Vec<Spanned<RawDrill>>>,
    pub scenarios: Option<Vec<Spanned<RawScenario>>>,
    pub surface: Option<Spanned<RawSurface>>,
    pub canaries: Option<Vec<Spanned<RawCanaryFixture>>>,
}

/// A tiered canary fixture: a known-bad (or known-good) condition and the verdict a check must
/// get under it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCanaryFixture {
    pub id: Text,
    pub tier: Text,
    pub description: Option<Text>,
    pub target: Text,
    pub fault: Text,
    pub expect: Text,
}

/// A Kitchen Loop scenario: one claim verified in four layers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScenario {
    pub id: Text,
    pub description: Option<Text>,
    pub severity: Option<RawSeverity>,
    #[serde(default)]
    pub tags: Vec<Text>,
    #[serde(default)]
    pub needs: Vec<Text>,
    pub timeout: Option<Text>,
    pub cell: Option<BTreeMap<String, Text>>,
    #[serde(default)]
    pub setup: Vec<Spanned<RawHttp>>,
    pub compile: Option<Spanned<RawCompile>>,
    #[serde(default)]
    pub execute: Vec<Text>,
    pub act: Option<Spanned<RawAct>>,
    pub delta: Option<Spanned<RawDelta>>,
    pub canary: Option<Spanned<RawCanary>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCompile {
    #[serde(default)]
    pub entities: Vec<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAct {
    pub http: Spanned<RawHttp>,
    #[serde(default)]
    pub expect: Vec<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDelta {
    #[serde(default)]
    pub observers: Vec<Text>,
    pub tribunal: Option<Text>,
    pub expect: Option<BTreeMap<String, Spanned<serde_json::Value>>>,
    pub conserve: Option<bool>,
    pub within: Option<Text>,
    pub others: Option<Text>,
}

/// The spec surface: what the system claims to support.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSurface {
    pub dimensions: Spanned<Dimensions>,
    #[serde(default)]
    pub rules: Vec<Spanned<RawRule>>,
    #[serde(default)]
    pub blocked: Vec<Spanned<RawBlocked>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub when: BTreeMap<String, Vec<Text>>,
    pub require: BTreeMap<String, Vec<Text>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBlocked {
    pub cell: BTreeMap<String, Text>,
    pub reason: Text,
    pub ticket: Option<Text>,
}

/// A drill: steady state, fault, measured recovery, restore, steady again.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDrill {
    pub id: Text,
    pub description: Option<Text>,
    pub severity: Option<RawSeverity>,
    #[serde(default)]
    pub tags: Vec<Text>,
    #[serde(default)]
    pub needs: Vec<Text>,
    pub timeout: Option<Text>,
    pub poll: Option<Text>,
    #[serde(default)]
    pub steady: Vec<Text>,
    pub fault: Spanned<RawAction>,
    pub detect: Option<Spanned<RawExpectation>>,
    pub recover: Option<Spanned<RawExpectation>>,
    #[serde(default)]
    pub unaffected: Vec<Text>,
    pub restore: Option<Spanned<RawAction>>,
    pub self_healing: Option<bool>,
    pub after: Option<Spanned<RawExpectation>>,
    #[serde(default)]
    pub watch: Vec<Text>,
    pub canary: Option<Spanned<RawCanary>>,
}

/// A fault or a restore action: exactly one key (`undo: true` only in a restore).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAction {
    pub undo: Option<Spanned<bool>>,
    pub stop: Option<Text>,
    pub start: Option<Text>,
    pub kill: Option<Text>,
    pub pause: Option<Text>,
    pub resume: Option<Text>,
    pub proxy: Option<Text>,
    pub mode: Option<Text>,
    pub replace: Option<Spanned<RawReplace>>,
    pub command: Option<Spanned<RawCommandAction>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawReplace {
    pub file: Text,
    pub with: Text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCommandAction {
    pub run: Vec<Text>,
    pub undo: Option<Vec<Text>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExpectation {
    pub check: Text,
    pub served_by: Option<Text>,
    pub within: Text,
}

/// A calibration check: canonical sources and the deployed files that must match them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCalibration {
    pub id: Text,
    pub description: Option<Text>,
    pub severity: Option<RawSeverity>,
    #[serde(default)]
    pub tags: Vec<Text>,
    #[serde(default)]
    pub needs: Vec<Text>,
    pub timeout: Option<Text>,
    #[serde(default)]
    pub files: Vec<Spanned<RawCalFile>>,
    #[serde(default)]
    pub dirs: Vec<Spanned<RawCalDir>>,
    #[serde(default)]
    pub waivers: Vec<Spanned<RawWaiver>>,
    pub canary: Option<Spanned<RawCanary>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCalFile {
    pub template: Option<Text>,
    pub source: Option<Text>,
    pub deployed: Text,
    pub mode: Option<Text>,
    pub managed: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCalDir {
    pub canonical: Text,
    pub deployed: Text,
    #[serde(default)]
    pub include: Vec<Text>,
    #[serde(default)]
    pub exclude: Vec<Text>,
    pub mode: Option<Text>,
    pub managed: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWaiver {
    pub path: Text,
    pub kind: Option<Text>,
    pub reason: Text,
    pub expires: Text,
}

#[derive(Debug, Deserialize)]
pub(crate) enum RawSeverity {
    P0,
    P1,
    P2,
    P3,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCheck {
    pub id: Text,
    pub description: Option<Text>,
    pub severity: Option<RawSeverity>,
    #[serde(default)]
    pub tags: Vec<Text>,
    #[serde(default)]
    pub needs: Vec<Text>,
    pub timeout: Option<Text>,
    pub retries: Option<Spanned<u32>>,
    pub disruptive: Option<bool>,
    pub http: Option<Spanned<RawHttp>>,
    pub tcp: Option<Spanned<RawTcp>>,
    pub process: Option<Spanned<RawProcess>>,
    pub port: Option<Spanned<RawPort>>,
    pub file: Option<Spanned<RawFile>>,
    pub command: Option<Spanned<RawCommand>>,
    pub model: Option<Spanned<RawModel>>,
    #[serde(default)]
    pub expect: Vec<Text>,
    pub canary: Option<Spanned<RawCanary>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCanary {
    pub fault: Text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttp {
    pub method: Option<Text>,
    pub url: Text,
    #[serde(default)]
    pub headers: BTreeMap<String, Text>,
    pub json: Option<Spanned<serde_json::Value>>,
    pub body: Option<Text>,
    pub timeout: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTcp {
    pub address: Text,
    pub timeout: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProcess {
    pub pid_file: Option<Text>,
    pub name: Option<Text>,
    pub exe: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPort {
    pub address: Text,
    pub owner: Option<Text>,
    pub owner_pid_file: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    pub path: Text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCommand {
    pub run: Vec<Text>,
    #[serde(default)]
    pub env: BTreeMap<String, Text>,
    pub cwd: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawModel {
    pub url: Text,
    pub model: Option<Text>,
    pub served_by_header: Option<Text>,
    pub repeat: Option<Spanned<u32>>,
    pub prompts: Spanned<Vec<Spanned<RawPrompt>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPrompt {
    pub ask: Text,
    pub expect: Spanned<RawAnswer>,
}

/// Exactly one key is allowed; the loader says so when there are more or none.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAnswer {
    pub exact: Option<Text>,
    pub contains: Option<Text>,
    pub regex: Option<Text>,
    pub number: Option<Spanned<RawNumber>>,
    pub json_shape: Option<Spanned<Vec<Text>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNumber {
    pub value: f64,
    pub tolerance: Option<Spanned<f64>>,
}

/// Just enough of a spec file to say which check an error sits in.
#[derive(Debug, Deserialize)]
pub(crate) struct SkeletonSpec {
    pub probes: Option<Vec<Spanned<SkeletonCheck>>>,
    pub calibration: Option<Vec<Spanned<SkeletonCheck>>>,
    pub drills: Option<Vec<Spanned<SkeletonCheck>>>,
    pub scenarios: Option<Vec<Spanned<SkeletonCheck>>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SkeletonCheck {
    pub id: Option<serde_json::Value>,
}

/// Just enough of `wall.yaml` to say which section an error sits in.
#[derive(Debug, Deserialize)]
pub(crate) struct SkeletonRoot {
    pub settings: Option<Spanned<serde::de::IgnoredAny>>,
    pub prerequisites: Option<Spanned<serde::de::IgnoredAny>>,
    pub secrets: Option<Spanned<serde::de::IgnoredAny>>,
    pub calibration: Option<Spanned<serde::de::IgnoredAny>>,
    pub services: Option<Spanned<serde::de::IgnoredAny>>,
    pub drills: Option<Spanned<serde::de::IgnoredAny>>,
    pub observers: Option<Spanned<serde::de::IgnoredAny>>,
}

/// `dimensions:` in the order written (the order the coverage matrix shows them in).
#[derive(Debug)]
pub(crate) struct Dimensions(pub Vec<(Text, Vec<Text>)>);

impl<'de> Deserialize<'de> for Dimensions {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Dimensions;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping of dimension names to lists of values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Dimensions, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<Text>()? {
                    let values: Vec<Text> = map.next_value()?;
                    out.push((key, values));
                }
                Ok(Dimensions(out))
            }
        }
        d.deserialize_map(Visitor)
    }
}
