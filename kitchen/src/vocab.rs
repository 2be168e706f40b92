//! The action vocabulary: which entities the hub has (discovered from its `GET /state`),
//! which actions each kind of entity supports, and the ranges their values must lie in.
//!
//! Owns: reading the flat state's keys (`<kind>.<name>.<attribute>`) into entities, and the
//! hub's contract per kind (its spec surface). Must not touch: HTTP, or what actions do
//! (that is the model's).
//!
//! Keys of a kind the exerciser does not know (say `sensor.porch.lux`) are not acted on,
//! but they stay in the state that L4 compares, so a change to them is still caught.

use serde_json::Value;

use crate::{Error, ErrorKind, State};

/// Brightness levels the hub accepts for `set_brightness`.
pub const BRIGHTNESS: (i64, i64) = (0, 100);
/// Targets the hub accepts for `set_target` (its `THERMOSTAT_RANGE`).
pub const THERMOSTAT: (f64, f64) = (5.0, 35.0);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Light,
    Door,
    Thermostat,
}

impl Kind {
    fn parse(prefix: &str) -> Option<Kind> {
        match prefix {
            "light" => Some(Kind::Light),
            "door" => Some(Kind::Door),
            "thermostat" => Some(Kind::Thermostat),
            _ => None,
        }
    }

    /// Every attribute an entity of this kind has in `GET /state`, with the JSON type it
    /// must have.
    fn attributes(self) -> &'static [(&'static str, JsonType)] {
        match self {
            Kind::Light => &[("on", JsonType::Bool), ("brightness", JsonType::Level)],
            Kind::Door => &[("locked", JsonType::Bool)],
            Kind::Thermostat => &[("target", JsonType::Number), ("current", JsonType::Number)],
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum JsonType {
    Bool,
    /// An integer from 0 to 100.
    Level,
    Number,
}

impl JsonType {
    fn accepts(self, value: &Value) -> bool {
        match self {
            JsonType::Bool => value.is_boolean(),
            JsonType::Level => value
                .as_i64()
                .is_some_and(|v| (BRIGHTNESS.0..=BRIGHTNESS.1).contains(&v)),
            JsonType::Number => value.is_number(),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            JsonType::Bool => "true or false",
            JsonType::Level => "an integer from 0 to 100",
            JsonType::Number => "a number",
        }
    }
}

/// One entity the exerciser can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    /// `light.kitchen`, `door.front`, ...
    pub id: String,
    pub kind: Kind,
}

/// The entities of one hub, sorted by id (so a seed picks the same ones every time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocabulary {
    entities: Vec<Entity>,
}

impl Vocabulary {
    /// The entities in a `GET /state` map. Every entity of a known kind must have all of its
    /// attributes, with the right types, or the model could not predict it.
    pub fn discover(state: &State) -> Result<Vocabulary, Error> {
        let entities: Vec<Entity> = state
            .keys()
            .filter_map(|key| {
                let (id, _) = key.rsplit_once('.')?;
                let kind = Kind::parse(id.split_once('.')?.0)?;
                Some((id.to_owned(), kind))
            })
            .collect::<std::collections::BTreeMap<_, _>>()
            .into_iter()
            .map(|(id, kind)| Entity { id, kind })
            .collect();
        for entity in &entities {
            for (attribute, ty) in entity.kind.attributes() {
                let key = format!("{}.{attribute}", entity.id);
                match state.get(&key) {
                    Some(value) if ty.accepts(value) => {}
                    Some(value) => {
                        return Err(Error::new(
                            ErrorKind::Surface,
                            format!("GET /state: {key} is {value}, expected {}", ty.describe()),
                        ))
                    }
                    None => {
                        return Err(Error::new(
                            ErrorKind::Surface,
                            format!(
                                "GET /state: {} has no {key} (a {:?} needs {})",
                                entity.id,
                                entity.kind,
                                entity
                                    .kind
                                    .attributes()
                                    .iter()
                                    .map(|(a, _)| *a)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ))
                    }
                }
            }
        }
        if entities.is_empty() {
            return Err(Error::new(
                ErrorKind::Surface,
                "GET /state names no light, door or thermostat to exercise",
            ));
        }
        Ok(Vocabulary { entities })
    }

    /// Never empty.
    pub fn entities(&self) -> &[Entity] {
        &self.entities
    }

    pub fn kind_of(&self, id: &str) -> Option<Kind> {
        self.entities.iter().find(|e| e.id == id).map(|e| e.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state(value: Value) -> State {
        serde_json::from_value(value).expect("a flat map")
    }

    fn hub_default() -> State {
        state(json!({
            "door.back.locked": false,
            "door.front.locked": false,
            "light.bedroom.brightness": 40,
            "light.bedroom.on": true,
            "light.kitchen.brightness": 100,
            "light.kitchen.on": true,
            "thermostat.main.current": 20.5,
            "thermostat.main.target": 21.0,
            "sensor.porch.lux": 3,
        }))
    }

    #[test]
    fn discovers_every_entity_of_a_known_kind_sorted_and_skips_the_rest() {
        let vocab = Vocabulary::discover(&hub_default()).expect("valid");
        let found: Vec<(&str, Kind)> = vocab
            .entities()
            .iter()
            .map(|e| (e.id.as_str(), e.kind))
            .collect();
        assert_eq!(
            found,
            [
                ("door.back", Kind::Door),
                ("door.front", Kind::Door),
                ("light.bedroom", Kind::Light),
                ("light.kitchen", Kind::Light),
                ("thermostat.main", Kind::Thermostat),
            ]
        );
        assert_eq!(vocab.kind_of("door.front"), Some(Kind::Door));
        assert_eq!(vocab.kind_of("sensor.porch"), None);
    }

    #[test]
    fn a_state_the_model_cannot_predict_is_a_clear_error() {
        let mut missing = hub_default();
        missing.remove("light.kitchen.brightness");
        let mut wrong = hub_default();
        wrong.insert("door.front.locked".into(), json!("yes"));
        let mut bright = hub_default();
        bright.insert("light.kitchen.brightness".into(), json!(101));
        let cases = [
            (
                missing,
                "hub surface not understood: GET /state: light.kitchen has no light.kitchen.brightness (a Light needs on, brightness)",
            ),
            (
                wrong,
                "hub surface not understood: GET /state: door.front.locked is \"yes\", expected true or false",
            ),
            (
                bright,
                "hub surface not understood: GET /state: light.kitchen.brightness is 101, expected an integer from 0 to 100",
            ),
            (
                state(json!({ "sensor.porch.lux": 3 })),
                "hub surface not understood: GET /state names no light, door or thermostat to exercise",
            ),
        ];
        for (input, message) in cases {
            let error = Vocabulary::discover(&input).expect_err(message);
            assert_eq!(error.kind, ErrorKind::Surface);
            assert_eq!(error.to_string(), message);
        }
    }
}
