//! `doctor::check` against the real host: PATH lookups, ports held by a real listener, files,
//! and memory.

mod support;

use std::net::TcpListener;

use auditwall_harness::doctor::{check, Finding};
use auditwall_spec::Prerequisites;
use support::{load_dir, write};

fn finding(ok: bool, subject: &str, detail: &str) -> Finding {
    Finding {
        ok,
        subject: subject.to_string(),
        detail: detail.to_string(),
    }
}

#[test]
fn commands_are_found_on_path_or_reported_missing() {
    let findings = check(&Prerequisites {
        commands: vec![
            "sh".into(),
            "auditwall-no-such-command-x9".into(),
            "/bin/sh".into(),
            "/nonexistent/tool".into(),
        ],
        ..Prerequisites::default()
    });
    assert_eq!(findings.len(), 4);
    assert!(findings[0].ok);
    assert_eq!(findings[0].subject, "command sh");
    assert!(findings[0].detail.ends_with("/sh"), "{:?}", findings[0]);
    assert!(std::path::Path::new(&findings[0].detail).is_file());
    assert_eq!(
        findings[1],
        finding(
            false,
            "command auditwall-no-such-command-x9",
            "not found on PATH"
        )
    );
    assert_eq!(findings[2], finding(true, "command /bin/sh", "/bin/sh"));
    assert_eq!(
        findings[3],
        finding(false, "command /nonexistent/tool", "not found on PATH")
    );
}

#[test]
fn a_file_that_is_not_executable_is_not_a_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = dir.path().join("script");
    std::fs::write(&plain, "#!/bin/sh\n").expect("write");
    let shown = plain.display().to_string();
    let findings = check(&Prerequisites {
        commands: vec![shown.clone()],
        ..Prerequisites::default()
    });
    assert_eq!(
        findings,
        [finding(
            false,
            &format!("command {shown}"),
            "not found on PATH"
        )]
    );
}

#[test]
fn ports_are_free_or_used_as_a_real_listener_says() {
    let held = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let held_addr = held.local_addr().expect("addr").to_string();
    let free_addr = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        l.local_addr().expect("addr").to_string()
    };
    let findings = check(&Prerequisites {
        ports_free: vec![free_addr.clone(), held_addr.clone()],
        ports_used: vec![held_addr.clone(), free_addr.clone()],
        ..Prerequisites::default()
    });
    assert_eq!(findings.len(), 4);
    assert_eq!(
        findings[0],
        finding(true, &format!("port {free_addr} free"), "free")
    );
    assert_eq!(
        findings[1],
        finding(false, &format!("port {held_addr} free"), "in use")
    );
    assert_eq!(
        findings[2],
        finding(
            true,
            &format!("port {held_addr} listening"),
            "accepting connections"
        )
    );
    assert!(!findings[3].ok);
    assert_eq!(findings[3].subject, format!("port {free_addr} listening"));
    assert!(
        findings[3]
            .detail
            .starts_with("not accepting connections: "),
        "{:?}",
        findings[3]
    );
    drop(held);
}

#[test]
fn a_bad_address_is_a_finding_not_a_panic() {
    let findings = check(&Prerequisites {
        ports_free: vec!["not-an-address".into()],
        ports_used: vec!["127.0.0.1:99999".into()],
        ..Prerequisites::default()
    });
    assert_eq!(findings.len(), 2);
    for f in &findings {
        assert!(!f.ok, "{f:?}");
        assert!(f.detail.starts_with("bad address: "), "{f:?}");
    }
}

#[test]
fn files_and_directories_exist_or_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("present.txt");
    std::fs::write(&file, "x").expect("write");
    let missing = dir.path().join("absent.txt");
    let [file, dir_s, missing] = [&file, dir.path(), &missing].map(|p| p.display().to_string());
    let findings = check(&Prerequisites {
        files: vec![file.clone(), dir_s.clone(), missing.clone()],
        ..Prerequisites::default()
    });
    assert_eq!(
        findings[0],
        finding(true, &format!("file {file}"), "exists")
    );
    assert_eq!(
        findings[1],
        finding(true, &format!("file {dir_s}"), "exists (directory)")
    );
    assert!(!findings[2].ok);
    assert_eq!(findings[2].subject, format!("file {missing}"));
    assert!(
        findings[2].detail.contains("No such file or directory"),
        "{:?}",
        findings[2]
    );
}

#[test]
fn memory_is_compared_with_what_is_available() {
    let findings = check(&Prerequisites {
        min_memory: Some(1024 * 1024),
        ..Prerequisites::default()
    });
    assert_eq!(findings.len(), 1);
    assert!(findings[0].ok, "{:?}", findings[0]);
    assert_eq!(findings[0].subject, "memory >= 1MiB");
    assert!(
        findings[0].detail.ends_with("MiB available"),
        "{:?}",
        findings[0]
    );
}

#[test]
fn a_wall_that_asks_for_more_memory_than_exists_is_not_ok() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "wall.yaml",
        "name: hungry\nprerequisites:\n  commands: [sh]\n  min_memory: 1000TiB\n",
    );
    let findings = check(&load_dir(dir.path()).wall.prerequisites);
    let subjects: Vec<&str> = findings.iter().map(|f| f.subject.as_str()).collect();
    assert_eq!(subjects, ["command sh", "memory >= 1048576000MiB"]);
    assert!(findings[0].ok);
    assert!(!findings[1].ok);
    assert!(
        findings[1].detail.starts_with("only ") && findings[1].detail.ends_with("MiB available"),
        "{:?}",
        findings[1]
    );
}

#[test]
fn nothing_declared_means_nothing_to_report() {
    assert!(check(&Prerequisites::default()).is_empty());
}
