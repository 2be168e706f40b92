//! `auditwall calibrate` run as a user runs it: on a wall directory with real deployed files
//! (write, backups, unmanaged files, extras, waivers, the ledger, bad input) and on the running
//! reference system (the config-drift fault caught with its exact diff and repaired).

mod common;

use std::path::{Path, PathBuf};

use common::{auditwall, read_json, write_wall, Output};

struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    /// A wall whose calibration manages `deployed/` from `canonical/` and one template.
    fn new(waivers: &str) -> Lab {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = format!(
            "calibration:\n  - id: lab.configs\n    severity: P1\n    files:\n      - {{ template: templates/app.conf.tmpl, deployed: deployed/app.conf, mode: \"0600\" }}\n      - {{ source: canonical/motd, deployed: deployed/motd, managed: false }}\n    dirs:\n      - {{ canonical: canonical/conf.d, deployed: deployed/conf.d, include: [\"*.conf\"] }}\n{waivers}"
        );
        write_wall(
            dir.path(),
            "wall",
            &[
                (
                    "wall.yaml",
                    "name: lab\ncalibration:\n  roots: [deployed]\n",
                ),
                ("profiles/base.yaml", "app:\n  port: 8080\n"),
                ("calibration/configs.yaml", &spec),
                (
                    "templates/app.conf.tmpl",
                    "port = ${app.port}\nlog = info\n",
                ),
                ("canonical/motd", "welcome\n"),
                ("canonical/conf.d/a.conf", "a = 1\n"),
                ("canonical/conf.d/b.conf", "b = 2\n"),
            ],
        );
        Lab { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn put(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    fn calibrate(&self, args: &[&str]) -> Output {
        let mut all = vec![
            "calibrate",
            "wall",
            "--color",
            "never",
            "--report-dir",
            "report",
        ];
        all.extend_from_slice(args);
        auditwall(self.dir.path(), &all, &[])
    }
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o7777
}

#[test]
fn write_then_check_is_clean_keeps_backups_and_leaves_unmanaged_and_extra_files() {
    let lab = Lab::new("");
    // Deployed state that drifted every way at once.
    lab.put("deployed/app.conf", "port = 9090\nlog = info\n");
    lab.put("deployed/motd", "hello from someone else\n");
    lab.put("deployed/conf.d/a.conf", "a = 1\n");
    lab.put("deployed/conf.d/stray.conf", "left over\n");

    let check = lab.calibrate(&["--check"]);
    check.assert_code(1);
    for line in [
        "-port = 8080",
        "+port = 9090",
        "deployed/conf.d/b.conf: missing (canonical: ",
        "wall/canonical/conf.d/b.conf)",
        "deployed/conf.d/stray.conf: unmanaged file in managed directory",
        "deployed/motd: content differs from canonical",
    ] {
        assert!(
            check.stdout.contains(line),
            "no `{line}` in:\n{}",
            check.stdout
        );
    }
    let report = read_json(&lab.path("report/report.json"));
    let kinds: Vec<(String, String)> = report["checks"][0]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            let subject = f["subject"].as_str().unwrap_or_default();
            let name = subject.rsplit("deployed/").next().unwrap_or_default();
            (
                name.to_string(),
                f["kind"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let expected = [
        ("app.conf", "differs"),
        ("app.conf", "mode_differs"),
        ("conf.d/b.conf", "missing"),
        ("conf.d/stray.conf", "extra"),
        ("motd", "differs"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(kinds, expected);

    let write = lab.calibrate(&["--write"]);
    write.assert_code(1);
    assert!(
        write
            .stdout
            .contains("deployed/app.conf: replaced (previous content saved to "),
        "{}",
        write.stdout
    );
    assert!(
        write.stdout.contains("deployed/conf.d/b.conf: created"),
        "{}",
        write.stdout
    );
    assert!(
        write
            .stdout
            .contains("deployed/motd: not managed by auditwall; left as is"),
        "{}",
        write.stdout
    );
    assert_eq!(lab.read("deployed/app.conf"), "port = 8080\nlog = info\n");
    assert_eq!(mode(&lab.path("deployed/app.conf")), 0o600);
    assert_eq!(lab.read("deployed/conf.d/b.conf"), "b = 2\n");
    assert_eq!(lab.read("deployed/motd"), "hello from someone else\n");
    assert_eq!(
        lab.read("deployed/conf.d/stray.conf"),
        "left over\n",
        "extras are never deleted"
    );
    // The replaced content is kept, mirrored under the backup directory.
    let backups = lab.path(".auditwall/calibration/backups");
    let stamp = std::fs::read_dir(&backups)
        .expect("backups")
        .next()
        .expect("one run")
        .expect("entry");
    let backup = stamp.path().join(
        lab.path("deployed/app.conf")
            .strip_prefix("/")
            .expect("absolute"),
    );
    assert_eq!(
        std::fs::read_to_string(&backup).expect("backup"),
        "port = 9090\nlog = info\n"
    );

    // What remains are the two things --write must not fix on its own.
    let report = read_json(&lab.path("report/report.json"));
    let left: Vec<&str> = report["checks"][0]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["kind"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(left, vec!["extra", "differs"]);

    std::fs::remove_file(lab.path("deployed/conf.d/stray.conf")).expect("rm");
    let adopt = lab.calibrate(&["--write", "--adopt-unmanaged"]);
    adopt.assert_code(0);
    assert_eq!(lab.read("deployed/motd"), "welcome\n");
    lab.calibrate(&["--check"]).assert_code(0);

    // Every run left a ledger entry: the drift, then the repairs, then clean.
    let ledger = read_json(&lab.path(".auditwall/calibration/ledger.json"));
    let counts: Vec<usize> = ledger["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["findings"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(counts, vec![5, 2, 0, 0]);
    assert_eq!(ledger["entries"][0]["checked"], 4);
    assert!(ledger["entries"][0]["wall_digest"]
        .as_str()
        .is_some_and(|d| d.len() == 64));
}

/// Deploys exactly what the canonical side says, except a changed `motd`.
fn deploy_with_changed_motd(lab: &Lab) {
    use std::os::unix::fs::PermissionsExt;
    lab.put("deployed/app.conf", "port = 8080\nlog = info\n");
    std::fs::set_permissions(
        lab.path("deployed/app.conf"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod");
    lab.put("deployed/motd", "changed\n");
    lab.put("deployed/conf.d/a.conf", "a = 1\n");
    lab.put("deployed/conf.d/b.conf", "b = 2\n");
}

#[test]
fn a_waived_drift_passes_as_waived_and_an_expired_waiver_fails() {
    let waived = Lab::new(
        "    waivers:\n      - { path: \"**/motd\", kind: differs, reason: banner tool owns it, expires: 9999-12-31 }\n",
    );
    deploy_with_changed_motd(&waived);
    let out = waived.calibrate(&[]);
    out.assert_code(0);
    let line = "waived  ";
    assert!(out.stdout.contains(line), "{}", out.stdout);
    assert!(
        out.stdout.contains(
            "deployed/motd: waived until 9999-12-31 (banner tool owns it): content differs from canonical"
        ),
        "{}",
        out.stdout
    );

    let expired = Lab::new(
        "    waivers:\n      - { path: \"**/motd\", reason: banner tool owns it, expires: 2000-01-01 }\n",
    );
    deploy_with_changed_motd(&expired);
    let out = expired.calibrate(&[]);
    out.assert_code(1);
    assert!(
        out.stdout.contains(
            "deployed/motd: waiver expired on 2000-01-01 (banner tool owns it): content differs from canonical"
        ),
        "{}",
        out.stdout
    );
}

#[test]
fn bad_calibration_input_is_a_located_error_with_exit_2() {
    let lab = Lab::new("    waivers:\n      - { path: \"**/motd\", kind: drifted, reason: x, expires: 2026-02-30 }\n");
    let out = lab.calibrate(&[]);
    out.assert_code(2);
    assert!(out.stderr.contains("calibration/configs.yaml:10:34: bad waiver `kind` in check `lab.configs`: unknown finding kind \"drifted\""), "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "calibration/configs.yaml:10:63: bad waiver `expires` in check `lab.configs`: invalid date: \"2026-02-30\": no such calendar date"
        ),
        "{}",
        out.stderr
    );

    let lab = Lab::new("");
    lab.put("wall/templates/app.conf.tmpl", "port = ${app.prot}\n");
    let out = lab.calibrate(&["--write"]);
    out.assert_code(2);
    assert!(out.stderr.contains("templates/app.conf.tmpl:1:8: unknown profile key `app.prot` (did you mean `app.port`?)"), "{}", out.stderr);
    assert!(
        !lab.path("deployed").exists(),
        "nothing may be written when the wall is wrong"
    );

    let lab = Lab::new("");
    lab.put("wall/calibration/configs.yaml", "calibration:\n  - id: escape\n    files:\n      - { source: canonical/motd, deployed: /etc/motd }\n");
    let out = lab.calibrate(&["--write"]);
    out.assert_code(3);
    assert!(
        out.stdout.contains(
            "/etc/motd: resolves to /etc/motd, outside the allowed roots; not read or written"
        ),
        "{}",
        out.stdout
    );
}

#[test]
fn the_reference_systems_config_drift_is_shown_as_its_exact_diff_and_repaired_by_write() {
    let work = tempfile::tempdir().expect("tempdir");
    let env = vec![(
        "AUDITWALL_REFERENCE_DIR".to_string(),
        work.path().join("reference").display().to_string(),
    )];
    let run = |args: &[&str]| auditwall(work.path(), args, &env);
    // Stops the system whatever happens below.
    struct Down<'a>(&'a dyn Fn(&[&str]) -> Output);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            (self.0)(&["down"]);
        }
    }
    run(&["up"]).assert_code(0);
    let _down = Down(&run);

    let calibrated = run(&["calibrate", "--color", "never"]);
    calibrated.assert_code(0);
    assert!(
        calibrated
            .stdout
            .contains("PASS    calibration::reference.configs"),
        "{}",
        calibrated.stdout
    );

    run(&["fault", "config-drift"]).assert_code(0);
    let drifted = run(&["calibrate", "--check", "--color", "never"]);
    drifted.assert_code(1);
    let config = work.path().join("reference/config/router.yaml");
    let diff = format!(
        "        --- canonical/reference/router.yaml.tmpl (canonical)\n        +++ {} (deployed)\n        @@ -3,7 +3,7 @@\n         fallback_urls:\n           - name: model-primary\n",
        config.display()
    );
    assert!(drifted.stdout.contains(&diff), "{}", drifted.stdout);
    assert!(
        drifted
            .stdout
            .contains("        -    timeout_ms: 5000\n        +    timeout_ms: 50\n"),
        "{}",
        drifted.stdout
    );

    let repaired = run(&["calibrate", "--write", "--color", "never"]);
    repaired.assert_code(0);
    let saved = repaired
        .stdout
        .split("previous content saved to ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no backup named in:\n{}", repaired.stdout));
    let backup = std::fs::read_to_string(work.path().join(saved)).expect("backup kept");
    assert!(backup.contains("timeout_ms: 50\n"), "{backup}");
    let now = std::fs::read_to_string(&config).expect("config");
    assert!(
        now.contains("timeout_ms: 5000\n") && !now.contains("timeout_ms: 50\n"),
        "{now}"
    );
    run(&["calibrate", "--check"]).assert_code(0);
}
