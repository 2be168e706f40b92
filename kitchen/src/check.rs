//! The two checks every step gets: L3 (the answer is well-formed and says what the contract
//! says) and L4 (the hub's whole state equals the model's: the expected changes are present
//! *and* nothing else changed).
//!
//! Owns: judging one answer or one state against the model, and the expected-vs-observed
//! diff. Pure. Must not touch: HTTP, the model's semantics.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::Expected;
use crate::State;

/// The scenario layer a check belongs to (DESIGN.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layer {
    L3,
    L4,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::L3 => "L3",
            Layer::L4 => "L4",
        })
    }
}

/// One key whose value is not what the model says (`None`: the key is missing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Difference {
    pub key: String,
    pub expected: Option<Value>,
    pub observed: Option<Value>,
}

/// A step the hub got wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Violation {
    pub layer: Layer,
    /// The index of the step in its sequence (0-based).
    pub step: usize,
    pub message: String,
    /// Expected vs observed, for state (L4) or for the entity state an action echoed (L3).
    pub diff: Vec<Difference>,
}

/// Answers longer than this are cut in messages; the point is to recognise them.
const EXCERPT: usize = 200;

/// L3: the answer to step `step` against what the model expected.
pub fn l3(step: usize, expected: &Expected, status: u16, body: &[u8]) -> Result<(), Violation> {
    let fail = |message: String, diff: Vec<Difference>| Violation {
        layer: Layer::L3,
        step,
        message,
        diff,
    };
    let text = String::from_utf8_lossy(body);
    let excerpt: String = text.chars().take(EXCERPT).collect();
    let want = match expected {
        Expected::Action { .. } => 200,
        Expected::Automation => 202,
        Expected::Rejected { status } => *status,
    };
    if status != want {
        return Err(fail(
            format!("answered {status}, expected {want}: {excerpt}"),
            Vec::new(),
        ));
    }
    let Ok(Value::Object(answer)) = serde_json::from_slice::<Value>(body) else {
        return Err(fail(
            format!("answer is not a JSON object: {excerpt}"),
            Vec::new(),
        ));
    };
    if let Expected::Rejected { .. } = expected {
        return match answer.get("error") {
            Some(Value::String(_)) => Ok(()),
            _ => Err(fail(
                format!("refusal has no `error` text: {excerpt}"),
                Vec::new(),
            )),
        };
    }
    if answer.get("success") != Some(&Value::Bool(true)) {
        return Err(fail(
            format!("`success` is not true: {excerpt}"),
            Vec::new(),
        ));
    }
    let Expected::Action { entity, state } = expected else {
        return Ok(());
    };
    if answer.get("entity").and_then(Value::as_str) != Some(entity) {
        return Err(fail(
            format!("`entity` is not \"{entity}\": {excerpt}"),
            Vec::new(),
        ));
    }
    let echoed: State = match answer.get("state") {
        Some(Value::Object(map)) => map.clone().into_iter().collect(),
        _ => {
            return Err(fail(
                format!("`state` is not an object: {excerpt}"),
                Vec::new(),
            ))
        }
    };
    let diff = diff(state, &echoed);
    if diff.is_empty() {
        Ok(())
    } else {
        Err(fail(
            format!("the state echoed for {entity} differs from the model"),
            diff,
        ))
    }
}

/// L4: the hub's whole state after step `step` against the model's.
pub fn l4(step: usize, expected: &State, observed: &State) -> Result<(), Violation> {
    let diff = diff(expected, observed);
    if diff.is_empty() {
        return Ok(());
    }
    Err(Violation {
        layer: Layer::L4,
        step,
        message: format!(
            "state differs from the model at {}",
            diff.iter()
                .map(|d| d.key.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        diff,
    })
}

/// Every key whose value differs, is missing, or is unexpected, in key order.
pub fn diff(expected: &State, observed: &State) -> Vec<Difference> {
    let mut keys: Vec<&String> = expected.keys().chain(observed.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let (e, o) = (expected.get(key), observed.get(key));
            let equal = match (e, o) {
                (Some(e), Some(o)) => same(e, o),
                _ => false,
            };
            (!equal).then(|| Difference {
                key: key.clone(),
                expected: e.cloned(),
                observed: o.cloned(),
            })
        })
        .collect()
}

/// JSON equality where numbers compare by value: `21` and `21.0` are the same target.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> State {
        serde_json::from_value(value).expect("flat map")
    }

    fn lock_front() -> Expected {
        Expected::Action {
            entity: "door.front".into(),
            state: map(json!({ "door.front.locked": true })),
        }
    }

    fn l3_message(expected: &Expected, status: u16, body: Value) -> Option<String> {
        l3(3, expected, status, body.to_string().as_bytes())
            .err()
            .map(|v| {
                assert_eq!((v.layer, v.step), (Layer::L3, 3));
                v.message
            })
    }

    #[test]
    fn l3_passes_the_contract_answers() {
        let ok = json!({ "success": true, "entity": "door.front", "state": { "door.front.locked": true } });
        assert_eq!(l3_message(&lock_front(), 200, ok), None);
        assert_eq!(
            l3_message(
                &Expected::Automation,
                202,
                json!({ "success": true, "automation": "goodnight" })
            ),
            None
        );
        assert_eq!(
            l3_message(
                &Expected::Rejected { status: 404 },
                404,
                json!({ "error": "unknown entity" })
            ),
            None
        );
    }

    #[test]
    fn l3_names_what_is_wrong_with_an_answer() {
        let cases = [
            (
                lock_front(),
                200,
                json!({ "success": false, "error": "hub is busy" }),
                r#"`success` is not true: {"error":"hub is busy","success":false}"#,
            ),
            (
                lock_front(),
                400,
                json!({ "error": "no" }),
                r#"answered 400, expected 200: {"error":"no"}"#,
            ),
            (
                lock_front(),
                200,
                json!({ "success": true, "entity": "door.back", "state": {} }),
                r#"`entity` is not "door.front": {"entity":"door.back","state":{},"success":true}"#,
            ),
            (
                lock_front(),
                200,
                json!({ "success": true, "entity": "door.front", "state": { "door.front.locked": false } }),
                "the state echoed for door.front differs from the model",
            ),
            (
                Expected::Rejected { status: 400 },
                400,
                json!({ "message": "bad" }),
                r#"refusal has no `error` text: {"message":"bad"}"#,
            ),
            (
                Expected::Automation,
                202,
                json!([1]),
                "answer is not a JSON object: [1]",
            ),
        ];
        for (expected, status, body, message) in cases {
            assert_eq!(
                l3_message(&expected, status, body).as_deref(),
                Some(message)
            );
        }
    }

    #[test]
    fn l4_reports_expected_changes_missing_and_unexpected_changes_and_keys() {
        let expected =
            map(json!({ "door.front.locked": true, "light.a.on": false, "t.x.target": 21 }));
        let observed = map(
            json!({ "door.front.locked": false, "light.a.on": false, "t.x.target": 21.0, "new.key": 1 }),
        );
        let violation = l4(0, &expected, &observed).expect_err("differs");
        assert_eq!(
            violation.message,
            "state differs from the model at door.front.locked, new.key"
        );
        assert_eq!(
            violation.diff,
            [
                Difference {
                    key: "door.front.locked".into(),
                    expected: Some(json!(true)),
                    observed: Some(json!(false)),
                },
                Difference {
                    key: "new.key".into(),
                    expected: None,
                    observed: Some(json!(1)),
                },
            ]
        );
        assert_eq!(l4(0, &expected, &expected), Ok(()));
    }
}
