//! The file probe against real files in a temporary directory.

use std::fs::{File, FileTimes};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

use auditwall_probes::{Observations, ProbeError, Prober};
use auditwall_spec::{FileProbe, Probe, Value};

async fn probe(path: &std::path::Path) -> Result<Observations, ProbeError> {
    let probe = Probe::File(FileProbe {
        path: path.to_string_lossy().into_owned(),
    });
    Prober::new()
        .expect("prober")
        .run(&probe, Duration::from_secs(10))
        .await
}

#[tokio::test]
async fn a_regular_file_is_fully_measured() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, "hello\n").expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    File::options()
        .write(true)
        .open(&path)
        .expect("open")
        .set_times(FileTimes::new().set_modified(hour_ago))
        .expect("touch");

    let obs = probe(&path).await.expect("probe runs");
    assert_eq!(obs.get("exists"), Some(&Value::Bool(true)));
    assert_eq!(obs.get("mode"), Some(&Value::Text("0640".into())));
    assert_eq!(obs.get("size"), Some(&Value::Bytes(6)));
    assert_eq!(
        obs.get("sha256"),
        Some(&Value::Text(
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03".into()
        ))
    );
    let Some(Value::Duration(age)) = obs.get("age") else {
        panic!("no age: {obs:?}")
    };
    assert!(
        *age >= Duration::from_secs(3600),
        "age {age:?} is younger than the mtime set"
    );
}

#[tokio::test]
async fn a_missing_file_only_does_not_exist() {
    let dir = tempfile::tempdir().expect("tempdir");
    let obs = probe(&dir.path().join("absent")).await.expect("probe runs");
    let mut want = Observations::new();
    want.set("exists", Value::Bool(false));
    assert_eq!(obs, want);
}

#[tokio::test]
async fn a_directory_exists_but_has_no_hash() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1750)).expect("chmod");
    let obs = probe(dir.path()).await.expect("probe runs");
    assert_eq!(obs.get("exists"), Some(&Value::Bool(true)));
    assert_eq!(obs.get("mode"), Some(&Value::Text("1750".into())));
    assert_eq!(obs.get("sha256"), None);
}

#[tokio::test]
async fn a_future_mtime_is_age_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("from-the-future");
    let file = File::create(&path).expect("create");
    let tomorrow = SystemTime::now() + Duration::from_secs(86_400);
    file.set_times(FileTimes::new().set_modified(tomorrow))
        .expect("touch");
    let obs = probe(&path).await.expect("probe runs");
    assert_eq!(obs.get("age"), Some(&Value::Duration(Duration::ZERO)));
    assert_eq!(
        obs.get("sha256"),
        Some(&Value::Text(
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into()
        ))
    );
}
