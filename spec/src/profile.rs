//! Host profiles: `profiles/base.yaml` plus overlays, deep-merged into one [`Profile`].
//!
//! Owns: the profile layer shape, merging (mappings merge key by key; anything else, lists
//! included, replaces), dotted lookups, and a canonical serialization for digests.
//! Must not touch: which overlays apply (the caller picks and orders them) or interpolation.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use serde_saphyr::Spanned;

use crate::error::{SpecError, SpecErrorKind};
use crate::source::SourceFile;
use crate::yaml;

/// One parsed profile file. `name` is what [`Profile::entries`] reports as the setter.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileLayer {
    pub name: String,
    tree: BTreeMap<String, Node>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// A scalar or a list, already rendered (lists as compact JSON).
    Leaf(String),
    Map(BTreeMap<String, Node>),
}

/// The merged profile. Leaves remember which layer set them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    tree: BTreeMap<String, Merged>,
}

#[derive(Debug, Clone, PartialEq)]
enum Merged {
    Leaf { value: String, layer: String },
    Map(BTreeMap<String, Merged>),
}

/// Parses one profile layer: a mapping of scalars, lists and nested mappings (may be empty).
pub fn parse_profile_layer(name: &str, src: &SourceFile) -> Result<ProfileLayer, SpecError> {
    let tree: Option<LayerTree> = yaml::parse(src, &[], &|_, _| String::new())?;
    Ok(ProfileLayer {
        name: name.to_string(),
        tree: match tree {
            Some(t) => checked_keys(&src.path, t.0)?,
            None => BTreeMap::new(),
        },
    })
}

/// Keys are path segments of `${a.b}`, so a `.` in one would make lookups ambiguous.
fn checked_keys(
    file: &str,
    raw: Vec<(Spanned<String>, RawNode)>,
) -> Result<BTreeMap<String, Node>, SpecError> {
    let mut out = BTreeMap::new();
    for (key, node) in raw {
        let ok = !key.value.is_empty()
            && key
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok {
            return Err(SpecError::at(
                SpecErrorKind::Invalid,
                &yaml::span_origin(file, &key),
                format!(
                    "bad profile key `{}`: keys may only contain letters, digits, `_` and `-`",
                    key.value
                ),
            )
            .with_key(key.value));
        }
        let node = match node {
            RawNode::Leaf(v) => Node::Leaf(v),
            RawNode::Map(m) => Node::Map(checked_keys(file, m)?),
        };
        out.insert(key.value, node);
    }
    Ok(out)
}

impl Profile {
    pub fn merge(layers: Vec<ProfileLayer>) -> Profile {
        let mut tree = BTreeMap::new();
        for layer in layers {
            merge_into(&mut tree, layer.tree, &layer.name);
        }
        Profile { tree }
    }

    /// A leaf by dotted key (`endpoints.router`), rendered as a string; `None` for mappings.
    pub fn get(&self, dotted: &str) -> Option<String> {
        let mut parts = dotted.split('.');
        let mut node = self.tree.get(parts.next()?)?;
        for part in parts {
            match node {
                Merged::Map(m) => node = m.get(part)?,
                Merged::Leaf { .. } => return None,
            }
        }
        match node {
            Merged::Leaf { value, .. } => Some(value.clone()),
            Merged::Map(_) => None,
        }
    }

    /// Every leaf as (dotted key, rendered value, layer name that set it), sorted by key.
    pub fn entries(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        collect(&self.tree, "", &mut out);
        out
    }

    /// Stable canonical serialization for digests: one `key = "json string"` line per leaf.
    pub fn canonical(&self) -> String {
        self.entries()
            .into_iter()
            .map(|(key, value, _)| format!("{key} = {}\n", serde_json::Value::String(value)))
            .collect()
    }
}

fn merge_into(into: &mut BTreeMap<String, Merged>, layer: BTreeMap<String, Node>, name: &str) {
    for (key, node) in layer {
        match (into.get_mut(&key), node) {
            (Some(Merged::Map(existing)), Node::Map(m)) => merge_into(existing, m, name),
            (_, node) => {
                into.insert(key, to_merged(node, name));
            }
        }
    }
}

fn to_merged(node: Node, layer: &str) -> Merged {
    match node {
        Node::Leaf(value) => Merged::Leaf {
            value,
            layer: layer.to_string(),
        },
        Node::Map(m) => Merged::Map(
            m.into_iter()
                .map(|(k, v)| (k, to_merged(v, layer)))
                .collect(),
        ),
    }
}

fn collect(tree: &BTreeMap<String, Merged>, prefix: &str, out: &mut Vec<(String, String, String)>) {
    for (key, node) in tree {
        let dotted = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match node {
            Merged::Leaf { value, layer } => out.push((dotted, value.clone(), layer.clone())),
            Merged::Map(m) => collect(m, &dotted, out),
        }
    }
}

/// The top level of a layer: must be a mapping.
struct LayerTree(Vec<(Spanned<String>, RawNode)>);

/// A profile node as parsed, keys still unchecked (and located, for the error).
enum RawNode {
    Leaf(String),
    Map(Vec<(Spanned<String>, RawNode)>),
}

impl<'de> Deserialize<'de> for LayerTree {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(MapVisitor).map(LayerTree)
    }
}

struct MapVisitor;

impl<'de> Visitor<'de> for MapVisitor {
    type Value = Vec<(Spanned<String>, RawNode)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        // Bounded by the parser budget (max nodes).
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let node = map.next_value::<NodeSeed>()?;
            out.push((key, node.0));
        }
        Ok(out)
    }
}

struct NodeSeed(RawNode);

impl<'de> Deserialize<'de> for NodeSeed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor).map(NodeSeed)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = RawNode;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, number, boolean, list or mapping")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawNode, E> {
        Ok(RawNode::Leaf(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawNode, E> {
        Ok(RawNode::Leaf(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawNode, E> {
        Ok(RawNode::Leaf(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawNode, E> {
        Ok(RawNode::Leaf(v.to_string()))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawNode, E> {
        Ok(RawNode::Leaf(v.to_string()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<RawNode, E> {
        // An empty value is almost always a forgotten value; make the author say "".
        Err(E::custom(
            "empty profile value; write \"\" if an empty string is meant",
        ))
    }

    fn visit_none<E: de::Error>(self) -> Result<RawNode, E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawNode, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<serde_json::Value>()? {
            items.push(item);
        }
        Ok(RawNode::Leaf(serde_json::Value::Array(items).to_string()))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawNode, A::Error> {
        MapVisitor.visit_map(map).map(RawNode::Map)
    }
}
