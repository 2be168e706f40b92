use std::collections::BTreeMap;
use std::convert::Infallible;

use auditwall_reference::hub::{self, HubConfig, HubFault};
use auditwall_reference::Error;
use serde_json::{json, Map, Value};

use crate::common::{self, client, get_json, post_json, Running};

type Hub = Running<Result<Infallible, Error>>;

async fn start(fault: HubFault) -> Hub {
    common::spawn(|listener| hub::serve(HubConfig { fault }, listener)).await
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
    let hub = start(HubFault::None).await;
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
    let hub = start(HubFault::None).await;
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
    let hub = start(HubFault::None).await;
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

#[tokio::test]
async fn success_false_answers_with_the_usual_status_and_changes_nothing() {
    let hub = start(HubFault::SuccessFalse).await;
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
async fn actions_change_one_entity_and_answer_with_its_state() {
    let hub = start(HubFault::None).await;
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
    let hub = start(HubFault::None).await;
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
            json!({ "error": "unknown fault mode \"crash\"; expected one of: none, goodnight_no_lock, success_false" })
        )
    );
    assert_eq!(state(&hub).await, before);
}
