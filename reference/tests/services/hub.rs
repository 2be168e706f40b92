use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::Path;
use std::time::Duration;

use auditwall_reference::hub::{self, HubConfig, HubFault};
use auditwall_reference::{Error, ErrorKind};
use serde_json::{json, Map, Value};
use tempfile::TempDir;

use crate::common::{self, client, get_json, post_json, Running};

type Hub = Running<Result<Infallible, Error>>;

/// A hub keeping its state in a fresh directory, which is removed when the test ends.
async fn start(fault: HubFault) -> (TempDir, Hub) {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = start_with(fault, &dir.path().join("hub-state.json")).await;
    (dir, hub)
}

async fn start_with(fault: HubFault, state_file: &Path) -> Hub {
    let config = HubConfig {
        fault,
        state_file: state_file.to_path_buf(),
    };
    common::spawn(|listener| hub::serve(config, listener)).await
}

async fn state(hub: &Hub) -> Map<String, Value> {
    let (status, body) = get_json(&client(), &hub.url("/state")).await;
    assert_eq!(status, 200);
    body.as_object().cloned().expect("state is a JSON object")
}

async fn events(hub: &Hub) -> Vec<Value> {
    let (status, body) = get_json(&client(), &hub.url("/events")).await;
    assert_eq!(status, 200);
    body["events"].as_array().cloned().unwrap_or_default()
}

/// The keys whose values differ between two snapshots, with their new values.
fn delta(before: &Map<String, Value>, after: &Map<String, Value>) -> BTreeMap<String, Value> {
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "the set of keys must not change"
    );
    after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

async fn goodnight(hub: &Hub) -> (u16, Value) {
    post_json(&client(), &hub.url("/automations/goodnight"), &json!({})).await
}

async fn act(hub: &Hub, body: Value) -> (u16, Value) {
    post_json(&client(), &hub.url("/actions"), &body).await
}

#[tokio::test]
async fn initial_state_is_pinned() {
    let (_dir, hub) = start(HubFault::None).await;
    assert_eq!(
        Value::Object(state(&hub).await),
        json!({
            "door.back.locked": false,
            "door.front.locked": false,
            "light.bedroom.brightness": 40,
            "light.bedroom.on": true,
            "light.kitchen.brightness": 100,
            "light.kitchen.on": true,
            "light.living.brightness": 70,
            "light.living.on": true,
            "thermostat.main.current": 20.5,
            "thermostat.main.target": 21.0,
        })
    );
    assert_eq!(
        get_json(&client(), &hub.url("/health")).await,
        (200, json!({ "status": "ok" }))
    );
    assert_eq!(events(&hub).await, Vec::<Value>::new());
}

#[tokio::test]
async fn goodnight_locks_every_door_and_turns_every_light_off_and_nothing_else() {
    let (_dir, hub) = start(HubFault::None).await;
    let before = state(&hub).await;
    assert_eq!(
        goodnight(&hub).await,
        (202, json!({ "success": true, "automation": "goodnight" }))
    );
    let after = state(&hub).await;
    assert_eq!(
        delta(&before, &after),
        BTreeMap::from([
            ("door.back.locked".to_owned(), json!(true)),
            ("door.front.locked".to_owned(), json!(true)),
            ("light.bedroom.on".to_owned(), json!(false)),
            ("light.kitchen.on".to_owned(), json!(false)),
            ("light.living.on".to_owned(), json!(false)),
        ])
    );

    let events = events(&hub).await;
    let summary: Vec<Value> = events
        .iter()
        .map(|e| json!([e["seq"], e["entity"], e["change"], e["cause"]]))
        .collect();
    let change = |attribute: &str, from: bool, to: bool| json!({ "attribute": attribute, "from": from, "to": to });
    assert_eq!(
        summary,
        vec![
            json!([
                1,
                "door.back",
                change("locked", false, true),
                "automation.goodnight"
            ]),
            json!([
                2,
                "door.front",
                change("locked", false, true),
                "automation.goodnight"
            ]),
            json!([
                3,
                "light.bedroom",
                change("on", true, false),
                "automation.goodnight"
            ]),
            json!([
                4,
                "light.kitchen",
                change("on", true, false),
                "automation.goodnight"
            ]),
            json!([
                5,
                "light.living",
                change("on", true, false),
                "automation.goodnight"
            ]),
        ]
    );
    assert!(events
        .iter()
        .all(|e| e["time_ms"].as_u64().is_some_and(|t| t > 0)));

    // Nothing left to do: a second run reports success and changes and logs nothing.
    assert_eq!(goodnight(&hub).await.0, 202);
    assert_eq!(state(&hub).await, after);
    assert_eq!(self::events(&hub).await.len(), 5);
}

#[tokio::test]
async fn goodnight_no_lock_reports_success_but_leaves_the_front_door_unlocked() {
    let (_dir, hub) = start(HubFault::None).await;
    let (status, body) = post_json(
        &client(),
        &hub.url("/admin/fault"),
        &json!({ "mode": "goodnight_no_lock" }),
    )
    .await;
    assert_eq!(
        (status, body),
        (200, json!({ "mode": "goodnight_no_lock" }))
    );
    let before = state(&hub).await;
    assert_eq!(
        goodnight(&hub).await,
        (202, json!({ "success": true, "automation": "goodnight" }))
    );
    let changed = delta(&before, &state(&hub).await);
    assert_eq!(
        changed,
        BTreeMap::from([
            ("door.back.locked".to_owned(), json!(true)),
            ("light.bedroom.on".to_owned(), json!(false)),
            ("light.kitchen.on".to_owned(), json!(false)),
            ("light.living.on".to_owned(), json!(false)),
        ])
    );
    assert_eq!(state(&hub).await["door.front.locked"], json!(false));
}

async fn reset(hub: &Hub) -> (u16, Value) {
    post_json(&client(), &hub.url("/admin/reset"), &json!({})).await
}

async fn set_fault(hub: &Hub, mode: &str) {
    let answer = post_json(
        &client(),
        &hub.url("/admin/fault"),
        &json!({ "mode": mode }),
    )
    .await;
    assert_eq!(answer, (200, json!({ "mode": mode })));
}

#[tokio::test]
async fn seam_each_action_is_right_alone_but_lock_then_goodnight_unlocks_the_door() {
    let (_dir, hub) = start(HubFault::None).await;
    set_fault(&hub, "seam").await;
    let default = state(&hub).await;

    // `lock` alone: right.
    assert_eq!(
        act(&hub, json!({ "entity": "door.front", "action": "lock" })).await,
        (
            200,
            json!({ "success": true, "entity": "door.front", "state": { "door.front.locked": true } })
        )
    );
    assert_eq!(
        delta(&default, &state(&hub).await),
        BTreeMap::from([("door.front.locked".to_owned(), json!(true))])
    );

    // goodnight alone, from the default home: right.
    assert_eq!(reset(&hub).await.0, 200);
    assert_eq!(
        goodnight(&hub).await,
        (202, json!({ "success": true, "automation": "goodnight" }))
    );
    assert_eq!(
        delta(&default, &state(&hub).await),
        BTreeMap::from([
            ("door.back.locked".to_owned(), json!(true)),
            ("door.front.locked".to_owned(), json!(true)),
            ("light.bedroom.on".to_owned(), json!(false)),
            ("light.kitchen.on".to_owned(), json!(false)),
            ("light.living.on".to_owned(), json!(false)),
        ])
    );

    // lock, then goodnight: the front door ends up unlocked, and goodnight still says success.
    assert_eq!(reset(&hub).await.0, 200);
    act(&hub, json!({ "entity": "door.front", "action": "lock" })).await;
    assert_eq!(
        goodnight(&hub).await,
        (202, json!({ "success": true, "automation": "goodnight" }))
    );
    let after = state(&hub).await;
    assert_eq!(after["door.front.locked"], json!(false));
    assert_eq!(after["door.back.locked"], json!(true));

    // `none` clears it: the same sequence is right again.
    set_fault(&hub, "none").await;
    assert_eq!(reset(&hub).await.0, 200);
    act(&hub, json!({ "entity": "door.front", "action": "lock" })).await;
    goodnight(&hub).await;
    assert_eq!(state(&hub).await["door.front.locked"], json!(true));
}

#[tokio::test]
async fn reset_restores_the_default_home_logs_it_and_saves_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("hub-state.json");
    let hub = start_with(HubFault::None, &file).await;
    let default = state(&hub).await;

    // Nothing to undo: success, and nothing logged or written.
    assert_eq!(
        reset(&hub).await,
        (
            200,
            json!({ "success": true, "state": Value::Object(default.clone()) })
        )
    );
    assert_eq!(events(&hub).await, Vec::<Value>::new());
    assert!(
        !file.exists(),
        "a reset that changes nothing writes nothing"
    );

    act(&hub, json!({ "entity": "door.front", "action": "lock" })).await;
    act(
        &hub,
        json!({ "entity": "thermostat.main", "action": "set_target", "value": 5 }),
    )
    .await;
    // Not subject to the fault modes: it is the harness's lever, and the mode stays.
    set_fault(&hub, "success_false").await;
    assert_eq!(
        reset(&hub).await,
        (
            200,
            json!({ "success": true, "state": Value::Object(default.clone()) })
        )
    );
    assert_eq!(state(&hub).await, default);
    assert_eq!(
        get_json(&client(), &hub.url("/admin/fault")).await,
        (200, json!({ "mode": "success_false" }))
    );
    let logged: Vec<Value> = events(&hub)
        .await
        .iter()
        .map(|e| json!([e["seq"], e["entity"], e["change"], e["cause"]]))
        .collect();
    assert_eq!(
        logged[2..],
        [
            json!([3, "door.front", { "attribute": "locked", "from": true, "to": false }, "admin.reset"]),
            json!([4, "thermostat.main", { "attribute": "target", "from": 5.0, "to": 21.0 }, "admin.reset"]),
        ]
    );
    assert_eq!(read_file(&file)["entities"], default_file()["entities"]);
}

#[tokio::test]
async fn success_false_answers_with_the_usual_status_and_changes_nothing() {
    let (_dir, hub) = start(HubFault::SuccessFalse).await;
    let before = state(&hub).await;
    assert_eq!(
        goodnight(&hub).await,
        (
            202,
            json!({ "success": false, "automation": "goodnight", "error": "hub is busy (fault: success_false)" })
        )
    );
    assert_eq!(
        act(&hub, json!({ "entity": "door.front", "action": "lock" })).await,
        (
            200,
            json!({ "success": false, "error": "hub is busy (fault: success_false)" })
        )
    );
    assert_eq!(state(&hub).await, before);
    assert_eq!(events(&hub).await, Vec::<Value>::new());
}

#[tokio::test]
async fn lost_writes_answer_success_with_the_claimed_state_and_change_nothing() {
    let (_dir, hub) = start(HubFault::LostWrites).await;
    let before = state(&hub).await;
    assert_eq!(
        act(&hub, json!({ "entity": "door.front", "action": "lock" })).await,
        (
            200,
            json!({ "success": true, "entity": "door.front", "state": { "door.front.locked": true } })
        )
    );
    assert_eq!(
        goodnight(&hub).await,
        (202, json!({ "success": true, "automation": "goodnight" }))
    );
    assert_eq!(state(&hub).await, before);
    assert_eq!(events(&hub).await, Vec::<Value>::new());
    // A refused action is still refused: only the writes are lost.
    let (status, _) = act(&hub, json!({ "entity": "door.front", "action": "toggle" })).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn crosstalk_moves_the_thermostat_reading_on_every_command_even_a_refused_one() {
    let (_dir, hub) = start(HubFault::Crosstalk).await;
    let before = state(&hub).await;
    let (status, _) = act(
        &hub,
        json!({ "entity": "light.garage", "action": "turn_on" }),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        delta(&before, &state(&hub).await),
        BTreeMap::from([("thermostat.main.current".to_string(), json!(21.0))])
    );
    let (status, _) = act(&hub, json!({ "entity": "door.front", "action": "lock" })).await;
    assert_eq!(status, 200);
    assert_eq!(
        delta(&before, &state(&hub).await),
        BTreeMap::from([
            ("door.front.locked".to_string(), json!(true)),
            ("thermostat.main.current".to_string(), json!(21.5)),
        ])
    );
    // A command to the thermostat itself cannot undo it: no action sets the reading.
    act(
        &hub,
        json!({ "entity": "thermostat.main", "action": "set_target", "value": 21 }),
    )
    .await;
    assert_eq!(state(&hub).await["thermostat.main.current"], json!(22.0));
    // The reading wraps from the top of the range to the bottom.
    for _ in 0..27 {
        goodnight(&hub).await;
    }
    assert_eq!(state(&hub).await["thermostat.main.current"], json!(5.0));
    let causes: Vec<Value> = events(&hub)
        .await
        .iter()
        .map(|e| e["cause"].clone())
        .collect();
    assert_eq!(
        causes.iter().filter(|c| *c == "crosstalk").count(),
        30,
        "{causes:?}"
    );
}

#[tokio::test]
async fn actions_change_one_entity_and_answer_with_its_state() {
    let (_dir, hub) = start(HubFault::None).await;
    assert_eq!(
        act(
            &hub,
            json!({ "entity": "light.kitchen", "action": "turn_off" })
        )
        .await,
        (
            200,
            json!({ "success": true, "entity": "light.kitchen", "state": {
                "light.kitchen.brightness": 100, "light.kitchen.on": false,
            }})
        )
    );
    assert_eq!(
        act(
            &hub,
            json!({ "entity": "light.living", "action": "set_brightness", "value": 0 })
        )
        .await
        .1["state"],
        json!({ "light.living.brightness": 0, "light.living.on": false })
    );
    assert_eq!(
        act(
            &hub,
            json!({ "entity": "light.living", "action": "turn_on" })
        )
        .await
        .1["state"],
        json!({ "light.living.brightness": 100, "light.living.on": true })
    );
    assert_eq!(
        act(
            &hub,
            json!({ "entity": "thermostat.main", "action": "set_target", "value": 18.5 })
        )
        .await
        .1["state"],
        json!({ "thermostat.main.current": 20.5, "thermostat.main.target": 18.5 })
    );
    assert_eq!(
        act(&hub, json!({ "entity": "door.back", "action": "lock" }))
            .await
            .1["state"],
        json!({ "door.back.locked": true })
    );
    let logged: Vec<Value> = events(&hub)
        .await
        .iter()
        .map(|e| json!([e["entity"], e["change"]["attribute"], e["cause"]]))
        .collect();
    assert_eq!(
        logged,
        vec![
            json!(["light.kitchen", "on", "action"]),
            json!(["light.living", "on", "action"]),
            json!(["light.living", "brightness", "action"]),
            json!(["light.living", "on", "action"]),
            json!(["light.living", "brightness", "action"]),
            json!(["thermostat.main", "target", "action"]),
            json!(["door.back", "locked", "action"]),
        ]
    );
}

#[tokio::test]
async fn bad_actions_get_clear_errors_and_change_nothing() {
    let (_dir, hub) = start(HubFault::None).await;
    let before = state(&hub).await;
    let cases = [
        (
            json!({ "entity": "light.garage", "action": "turn_off" }),
            404,
            "unknown entity \"light.garage\"",
        ),
        (
            json!({ "entity": "light.kitchen", "action": "lock" }),
            400,
            "light.kitchen does not support action \"lock\"; supported: turn_on, turn_off, toggle, set_brightness",
        ),
        (
            json!({ "entity": "light.kitchen", "action": "set_brightness", "value": 101 }),
            400,
            "action \"set_brightness\" needs \"value\": an integer from 0 to 100",
        ),
        (
            json!({ "entity": "thermostat.main", "action": "set_target" }),
            400,
            "action \"set_target\" needs \"value\": a number from 5 to 35",
        ),
        (
            json!({ "entity": "door.front", "action": "lock", "force": true }),
            400,
            "request body must be JSON like {\"entity\": \"light.kitchen\", \"action\": \"turn_off\"}: unknown field `force`, expected one of `entity`, `action`, `value` at line 1 column 46",
        ),
    ];
    for (request, status, message) in cases {
        assert_eq!(
            act(&hub, request.clone()).await,
            (status, json!({ "error": message })),
            "{request}"
        );
    }
    assert_eq!(
        post_json(
            &client(),
            &hub.url("/admin/fault"),
            &json!({ "mode": "crash" })
        )
        .await,
        (
            400,
            json!({ "error": "unknown fault mode \"crash\"; expected one of: none, goodnight_no_lock, success_false, seam, lost_writes, crosstalk" })
        )
    );
    assert_eq!(state(&hub).await, before);
}

/// The state file of a hub in its default state, as the hub writes it.
fn default_file() -> Value {
    json!({
        "format": 1,
        "entities": {
            "door.back": { "door": { "locked": false } },
            "door.front": { "door": { "locked": false } },
            "light.bedroom": { "light": { "on": true, "brightness": 40 } },
            "light.kitchen": { "light": { "on": true, "brightness": 100 } },
            "light.living": { "light": { "on": true, "brightness": 70 } },
            "thermostat.main": { "thermostat": { "target": 21.0, "current": 20.5 } },
        },
        "events": { "next_seq": 1, "recent": [] },
    })
}

fn read_file(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("the state file exists");
    serde_json::from_str(&text).expect("the state file is JSON")
}

#[tokio::test]
async fn state_and_events_survive_a_restart_through_the_state_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("hub-state.json");
    let hub = start_with(HubFault::None, &file).await;
    assert!(!file.exists(), "nothing is written before the first change");
    assert_eq!(
        act(&hub, json!({ "entity": "door.front", "action": "lock" }))
            .await
            .0,
        200
    );
    // The answer came after the write: the file already holds the change.
    let mut expected = default_file();
    expected["entities"]["door.front"] = json!({ "door": { "locked": true } });
    let saved = read_file(&file);
    assert_eq!(saved["entities"], expected["entities"]);
    assert_eq!(saved["events"]["next_seq"], 2);
    assert_eq!(
        saved["events"]["recent"][0]["change"],
        json!({ "attribute": "locked", "from": false, "to": true })
    );
    assert_eq!(goodnight(&hub).await.0, 202);
    let (status, _) = post_json(
        &client(),
        &hub.url("/admin/fault"),
        &json!({ "mode": "goodnight_no_lock" }),
    )
    .await;
    assert_eq!(status, 200);
    let before = (state(&hub).await, events(&hub).await);
    assert_eq!(before.1.len(), 5, "lock + four changes by goodnight");
    hub.stop().await;

    let hub = start_with(HubFault::None, &file).await;
    assert_eq!((state(&hub).await, events(&hub).await), before);
    assert_eq!(
        get_json(&client(), &hub.url("/admin/fault")).await,
        (200, json!({ "mode": "none" })),
        "a restart clears the fault mode, as it does for every service"
    );
    // Numbering carries on where it stopped.
    act(&hub, json!({ "entity": "door.back", "action": "unlock" })).await;
    let events = events(&hub).await;
    assert_eq!(events.last().map(|e| e["seq"].clone()), Some(json!(6)));
}

#[tokio::test]
async fn a_fresh_state_file_location_starts_from_the_defaults() {
    let (dir, hub) = start(HubFault::None).await;
    let (_other_dir, other) = start(HubFault::None).await;
    act(&other, json!({ "entity": "door.front", "action": "lock" })).await;
    let initial = state(&hub).await;
    assert_eq!(initial["door.front.locked"], false);
    assert_eq!(initial["light.kitchen.on"], true);
    // A change and back again leaves the defaults on disk, in the pinned layout.
    act(&hub, json!({ "entity": "door.front", "action": "lock" })).await;
    act(&hub, json!({ "entity": "door.front", "action": "unlock" })).await;
    let saved = read_file(&dir.path().join("hub-state.json"));
    assert_eq!(saved["format"], 1);
    assert_eq!(saved["entities"], default_file()["entities"]);
}

#[tokio::test]
async fn a_state_file_the_hub_cannot_understand_stops_it_from_starting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("hub-state.json");
    let shown = file.display().to_string();
    let with = |pointer: &str, value: Value| {
        let mut doc = default_file();
        *doc.pointer_mut(pointer)
            .expect("pointer into the default file") = value;
        doc.to_string()
    };
    let without = |entity: &str| {
        let mut doc = default_file();
        doc["entities"]
            .as_object_mut()
            .expect("entities")
            .remove(entity);
        doc.to_string()
    };
    let mut unknown = default_file();
    unknown["entities"]["light.garage"] = json!({ "light": { "on": true, "brightness": 1 } });
    let event = json!({ "seq": 3, "time_ms": 1, "entity": "door.front", "cause": "action",
                        "change": { "attribute": "locked", "from": false, "to": true } });
    let cases = [
        (
            "{\"format\": 1, \"entit".to_owned(),
            "is not a hub state: EOF while parsing a string at line 1 column 20",
        ),
        (
            String::new(),
            "is not a hub state: EOF while parsing a value at line 1 column 0",
        ),
        (
            with("/format", json!(2)),
            "has format 2, this hub reads format 1",
        ),
        (unknown.to_string(), "names unknown entity \"light.garage\""),
        (
            without("thermostat.main"),
            "has no entity \"thermostat.main\"",
        ),
        (
            with(
                "/entities/door.front",
                json!({ "light": { "on": true, "brightness": 5 } }),
            ),
            "says \"door.front\" is a light, but it is a door",
        ),
        (
            with("/entities/light.kitchen/light/brightness", json!(150)),
            "\"light.kitchen\": brightness 150 is above 100",
        ),
        (
            with("/entities/thermostat.main/thermostat/target", json!(80.0)),
            "\"thermostat.main\": target 80 is outside 5 to 35",
        ),
        (
            with("/events", json!({ "next_seq": 2, "recent": [event] })),
            "event log: event numbered 3 where 1 belongs (next_seq is 2)",
        ),
        (
            with("/events/next_seq", json!(0)),
            "event log: next_seq is 0; events are numbered from 1",
        ),
    ];
    for (text, problem) in cases {
        std::fs::write(&file, &text).expect("write the state file");
        let config = HubConfig {
            fault: HubFault::None,
            state_file: file.clone(),
        };
        let listener = common::listener().await;
        let error = tokio::time::timeout(Duration::from_secs(10), hub::serve(config, listener))
            .await
            .expect("a hub with a bad state file returns at once")
            .expect_err(problem);
        assert_eq!(error.kind(), ErrorKind::State, "{problem}");
        assert_eq!(
            error.to_string(),
            format!("cannot load state: hub state file {shown} {problem}; fix or remove it (the hub never resets its state on its own)")
        );
        assert_eq!(
            std::fs::read_to_string(&file).expect("still there"),
            text,
            "the file is left as it was"
        );
    }
}

#[tokio::test]
async fn a_change_that_cannot_be_saved_is_not_made() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("missing-dir").join("hub-state.json");
    let hub = start_with(HubFault::None, &file).await;
    let before = state(&hub).await;
    let (status, body) = act(&hub, json!({ "entity": "door.front", "action": "lock" })).await;
    assert_eq!(status, 500);
    let message = body["error"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(&format!("state not saved to {} (", file.display()))
            && message.ends_with("); nothing was changed"),
        "{message}"
    );
    let (status, _) = goodnight(&hub).await;
    assert_eq!(status, 500);
    assert_eq!(state(&hub).await, before);
    assert_eq!(events(&hub).await, Vec::<Value>::new());
}
