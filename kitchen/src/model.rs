//! Steps (what the synthetic user does) and the model of expected state: given the state
//! before a step, what the hub must answer and what its whole state must be afterwards.
//!
//! Owns: the semantics of every action and of the goodnight automation, as the hub's
//! contract states them, and the text form of a step (`lock door.front`,
//! `set_brightness light.kitchen 40`, `goodnight`) used in findings. Pure: no I/O, no
//! clock. Must not touch: HTTP or the checks themselves.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde_json::{json, Value};

use crate::vocab::{Kind, Vocabulary, BRIGHTNESS, THERMOSTAT};
use crate::{Error, ErrorKind, State};

/// An action on one entity. A value is optional so that "missing value" can be exercised.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    TurnOn,
    TurnOff,
    Toggle,
    SetBrightness(Option<i64>),
    Lock,
    Unlock,
    SetTarget(Option<f64>),
}

const ACTION_NAMES: [&str; 7] = [
    "turn_on",
    "turn_off",
    "toggle",
    "set_brightness",
    "lock",
    "unlock",
    "set_target",
];

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::TurnOn => "turn_on",
            Action::TurnOff => "turn_off",
            Action::Toggle => "toggle",
            Action::SetBrightness(_) => "set_brightness",
            Action::Lock => "lock",
            Action::Unlock => "unlock",
            Action::SetTarget(_) => "set_target",
        }
    }

    /// The kind of entity that supports this action.
    pub fn kind(&self) -> Kind {
        match self {
            Action::TurnOn | Action::TurnOff | Action::Toggle | Action::SetBrightness(_) => {
                Kind::Light
            }
            Action::Lock | Action::Unlock => Kind::Door,
            Action::SetTarget(_) => Kind::Thermostat,
        }
    }

    fn value(&self) -> Option<Value> {
        match self {
            Action::SetBrightness(Some(v)) => Some(json!(v)),
            Action::SetTarget(Some(t)) => Some(json!(t)),
            _ => None,
        }
    }
}

/// One thing the synthetic user does.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `POST /actions {"entity", "action", "value"?}`
    Act { entity: String, action: Action },
    /// `POST /automations/goodnight`
    Goodnight,
}

impl Step {
    pub fn act(entity: &str, action: Action) -> Step {
        Step::Act {
            entity: entity.to_owned(),
            action,
        }
    }

    /// The request path and JSON body that perform this step.
    pub fn request(&self) -> (&'static str, Value) {
        match self {
            Step::Act { entity, action } => {
                let mut body = json!({ "entity": entity, "action": action.name() });
                if let (Some(value), Some(map)) = (action.value(), body.as_object_mut()) {
                    map.insert("value".to_owned(), value);
                }
                ("/actions", body)
            }
            Step::Goodnight => ("/automations/goodnight", json!({})),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Goodnight => f.write_str("goodnight"),
            Step::Act { entity, action } => {
                write!(f, "{} {entity}", action.name())?;
                match action {
                    Action::SetBrightness(Some(v)) => write!(f, " {v}"),
                    Action::SetTarget(Some(t)) => write!(f, " {t}"),
                    _ => Ok(()),
                }
            }
        }
    }
}

impl FromStr for Step {
    type Err = Error;

    /// The text form written in findings: `goodnight`, `<action> <entity>` or
    /// `<action> <entity> <value>` (a value only for `set_brightness` and `set_target`).
    fn from_str(text: &str) -> Result<Step, Error> {
        let bad = |why: String| Error::new(ErrorKind::Usage, format!("step `{text}`: {why}"));
        let words: Vec<&str> = text.split_whitespace().collect();
        let (name, entity, value) = match words.as_slice() {
            ["goodnight"] => return Ok(Step::Goodnight),
            [name, entity] => (*name, *entity, None),
            [name, entity, value] => (*name, *entity, Some(*value)),
            _ => {
                return Err(bad(
                    "expected `goodnight` or `<action> <entity> [value]`".to_owned()
                ))
            }
        };
        let takes_value = matches!(name, "set_brightness" | "set_target");
        if value.is_some() && !takes_value {
            return Err(bad(format!("`{name}` takes no value")));
        }
        let action = match name {
            "turn_on" => Action::TurnOn,
            "turn_off" => Action::TurnOff,
            "toggle" => Action::Toggle,
            "lock" => Action::Lock,
            "unlock" => Action::Unlock,
            "set_brightness" => Action::SetBrightness(
                value
                    .map(|v| {
                        v.parse::<i64>()
                            .map_err(|_| bad(format!("`{v}` is not an integer")))
                    })
                    .transpose()?,
            ),
            "set_target" => Action::SetTarget(
                value
                    .map(|v| {
                        v.parse::<f64>()
                            .ok()
                            .filter(|t| t.is_finite())
                            .ok_or_else(|| bad(format!("`{v}` is not a number")))
                    })
                    .transpose()?,
            ),
            other => {
                return Err(bad(format!(
                    "unknown action `{other}` (known: goodnight, {})",
                    ACTION_NAMES.join(", ")
                )))
            }
        };
        Ok(Step::act(entity, action))
    }
}

/// What the hub must answer to a step.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// 200 `{"success": true, "entity": <entity>, "state": <the entity's attributes>}`.
    Action { entity: String, state: State },
    /// 202 `{"success": true, "automation": "goodnight"}`.
    Automation,
    /// Refused with this status (400 bad action or value, 404 unknown entity) and an
    /// `error` text; nothing changes.
    Rejected { status: u16 },
}

/// The expected state of the hub, advanced one step at a time.
#[derive(Debug, Clone)]
pub struct Model {
    kinds: BTreeMap<String, Kind>,
    state: State,
}

impl Model {
    /// A model starting from `state` (a `GET /state` map that `vocab` was discovered from).
    pub fn new(vocab: &Vocabulary, state: State) -> Model {
        Model {
            kinds: vocab
                .entities()
                .iter()
                .map(|e| (e.id.clone(), e.kind))
                .collect(),
            state,
        }
    }

    /// The whole expected state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Advances the model by `step` and says what the hub must answer.
    pub fn apply(&mut self, step: &Step) -> Expected {
        let (entity, action) = match step {
            Step::Goodnight => {
                let ids: Vec<(String, Kind)> =
                    self.kinds.iter().map(|(i, k)| (i.clone(), *k)).collect();
                for (id, kind) in ids {
                    match kind {
                        Kind::Light => self.set(&id, "on", json!(false)),
                        Kind::Door => self.set(&id, "locked", json!(true)),
                        Kind::Thermostat => {}
                    }
                }
                return Expected::Automation;
            }
            Step::Act { entity, action } => (entity, action),
        };
        let Some(kind) = self.kinds.get(entity).copied() else {
            return Expected::Rejected { status: 404 };
        };
        let bad = Expected::Rejected { status: 400 };
        if action.kind() != kind {
            return bad;
        }
        match action {
            Action::TurnOn => {
                // A light switched on at brightness 0 would still be dark: it comes on at 100.
                if self.int(entity, "brightness") == 0 {
                    self.set(entity, "brightness", json!(100));
                }
                self.set(entity, "on", json!(true));
            }
            Action::TurnOff => self.set(entity, "on", json!(false)),
            Action::Toggle => {
                let on = self.flag(entity, "on");
                self.set(entity, "on", json!(!on));
            }
            Action::SetBrightness(level) => {
                let Some(level) = level.filter(|l| (BRIGHTNESS.0..=BRIGHTNESS.1).contains(l))
                else {
                    return bad;
                };
                self.set(entity, "brightness", json!(level));
                self.set(entity, "on", json!(level > 0));
            }
            Action::Lock => self.set(entity, "locked", json!(true)),
            Action::Unlock => self.set(entity, "locked", json!(false)),
            Action::SetTarget(target) => {
                let Some(target) = target.filter(|t| (THERMOSTAT.0..=THERMOSTAT.1).contains(t))
                else {
                    return bad;
                };
                self.set(entity, "target", json!(target));
            }
        }
        Expected::Action {
            entity: entity.clone(),
            state: self.entity_state(entity),
        }
    }

    /// The attributes of one entity, as `POST /actions` echoes them.
    pub fn entity_state(&self, entity: &str) -> State {
        let prefix = format!("{entity}.");
        self.state
            .range(prefix.clone()..)
            .take_while(|(key, _)| key.starts_with(&prefix))
            .filter(|(key, _)| !key[prefix.len()..].contains('.'))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    }

    fn set(&mut self, entity: &str, attribute: &str, value: Value) {
        self.state.insert(format!("{entity}.{attribute}"), value);
    }

    fn flag(&self, entity: &str, attribute: &str) -> bool {
        self.state
            .get(&format!("{entity}.{attribute}"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    fn int(&self, entity: &str, attribute: &str) -> i64 {
        self.state
            .get(&format!("{entity}.{attribute}"))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home() -> Model {
        let state: State = serde_json::from_value(json!({
            "door.back.locked": false,
            "door.front.locked": false,
            "light.kitchen.brightness": 100,
            "light.kitchen.on": true,
            "light.living.brightness": 70,
            "light.living.on": true,
            "thermostat.main.current": 20.5,
            "thermostat.main.target": 21.0,
        }))
        .expect("flat map");
        let vocab = Vocabulary::discover(&state).expect("vocabulary");
        Model::new(&vocab, state)
    }

    fn run(model: &mut Model, steps: &[&str]) -> Vec<Expected> {
        steps
            .iter()
            .map(|s| model.apply(&s.parse().expect("step")))
            .collect()
    }

    fn changed(before: &State, after: &State) -> Vec<(String, Value)> {
        after
            .iter()
            .filter(|(k, v)| before.get(*k) != Some(v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    #[test]
    fn lights_follow_the_hub_contract() {
        let mut model = home();
        let before = model.state().clone();
        let answers = run(
            &mut model,
            &[
                "set_brightness light.kitchen 0",
                "turn_on light.kitchen",
                "toggle light.living",
                "toggle light.living",
                "turn_off light.living",
            ],
        );
        assert_eq!(
            answers[0],
            Expected::Action {
                entity: "light.kitchen".into(),
                state: serde_json::from_value(
                    json!({ "light.kitchen.brightness": 0, "light.kitchen.on": false })
                )
                .expect("map"),
            }
        );
        assert_eq!(
            changed(&before, model.state()),
            [("light.living.on".to_owned(), json!(false))],
            "set_brightness 0 then turn_on is back at 100 and on; toggle twice is nothing"
        );
    }

    #[test]
    fn goodnight_turns_every_light_off_locks_every_door_and_leaves_the_thermostat() {
        let mut model = home();
        let before = model.state().clone();
        assert_eq!(
            run(&mut model, &["unlock door.back", "goodnight"])[1],
            Expected::Automation
        );
        assert_eq!(
            changed(&before, model.state()),
            [
                ("door.back.locked".to_owned(), json!(true)),
                ("door.front.locked".to_owned(), json!(true)),
                ("light.kitchen.on".to_owned(), json!(false)),
                ("light.living.on".to_owned(), json!(false)),
            ]
        );
        let after_one = model.state().clone();
        run(&mut model, &["lock door.front", "goodnight"]);
        assert_eq!(model.state(), &after_one, "goodnight is idempotent");
    }

    #[test]
    fn bad_actions_are_refused_and_change_nothing() {
        let mut model = home();
        let before = model.state().clone();
        let answers = run(
            &mut model,
            &[
                "turn_on light.garage",
                "lock light.kitchen",
                "toggle door.front",
                "set_brightness light.kitchen 101",
                "set_brightness light.kitchen -1",
                "set_brightness light.kitchen",
                "set_target thermostat.main 4.5",
                "set_target thermostat.main 35.5",
                "set_target thermostat.main",
            ],
        );
        let statuses: Vec<u16> = answers
            .iter()
            .map(|a| match a {
                Expected::Rejected { status } => *status,
                other => panic!("accepted: {other:?}"),
            })
            .collect();
        assert_eq!(statuses, [404, 400, 400, 400, 400, 400, 400, 400, 400]);
        assert_eq!(model.state(), &before);

        run(
            &mut model,
            &[
                "set_target thermostat.main 5",
                "set_target thermostat.main 35",
            ],
        );
        assert_eq!(model.state()["thermostat.main.target"], json!(35.0));
        assert_eq!(model.state()["thermostat.main.current"], json!(20.5));
    }

    #[test]
    fn steps_have_a_text_form_that_parses_back_and_a_request() {
        let steps = [
            Step::Goodnight,
            Step::act("door.front", Action::Lock),
            Step::act("light.kitchen", Action::SetBrightness(Some(40))),
            Step::act("light.kitchen", Action::SetBrightness(None)),
            Step::act("thermostat.main", Action::SetTarget(Some(17.5))),
            Step::act("thermostat.main", Action::SetTarget(Some(5.0))),
        ];
        let text: Vec<String> = steps.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "goodnight",
                "lock door.front",
                "set_brightness light.kitchen 40",
                "set_brightness light.kitchen",
                "set_target thermostat.main 17.5",
                "set_target thermostat.main 5",
            ]
        );
        for (step, text) in steps.iter().zip(&text) {
            assert_eq!(&text.parse::<Step>().expect("parses"), step);
        }
        assert_eq!(
            steps[4].request(),
            (
                "/actions",
                json!({ "entity": "thermostat.main", "action": "set_target", "value": 17.5 })
            )
        );
        assert_eq!(
            steps[5].request().1.to_string(),
            r#"{"action":"set_target","entity":"thermostat.main","value":5.0}"#
        );
        assert_eq!(steps[0].request(), ("/automations/goodnight", json!({})));
    }

    #[test]
    fn unreadable_steps_are_clear_errors() {
        let cases = [
            ("", "step ``: expected `goodnight` or `<action> <entity> [value]`"),
            ("fly door.front", "step `fly door.front`: unknown action `fly` (known: goodnight, turn_on, turn_off, toggle, set_brightness, lock, unlock, set_target)"),
            ("lock door.front now", "step `lock door.front now`: `lock` takes no value"),
            ("set_brightness light.a bright", "step `set_brightness light.a bright`: `bright` is not an integer"),
            ("set_target thermostat.main NaN", "step `set_target thermostat.main NaN`: `NaN` is not a number"),
        ];
        for (text, message) in cases {
            let error = text.parse::<Step>().expect_err(text);
            assert_eq!(error.kind, ErrorKind::Usage);
            assert_eq!(error.context, message);
        }
    }
}
