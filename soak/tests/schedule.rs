//! The scheduler entries of `soak install`: the exact text, and proof that the quoting holds
//! for a hostile wall path (the crontab command is run by a real shell, the plist is parsed
//! by a real XML parser).

use std::path::{Path, PathBuf};
use std::time::Duration;

use auditwall_soak::{crontab_line, launchd_plist, systemd_units, Kind};

const HOUR: Duration = Duration::from_secs(3600);

#[test]
fn systemd_units_are_pinned() {
    let units = systemd_units(
        Path::new("/usr/local/bin/auditwall"),
        Path::new("/home/op/lab wall"),
        HOUR,
    )
    .expect("units");
    assert_eq!(
        units.service,
        "[Unit]\n\
         Description=auditwall soak tick of the wall in /home/op/lab wall\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         WorkingDirectory=/home/op/lab wall\n\
         ExecStart=\"/usr/local/bin/auditwall\" soak tick \"/home/op/lab wall\"\n"
    );
    assert_eq!(
        units.timer,
        "[Unit]\n\
         Description=auditwall soak tick every 1h\n\
         \n\
         [Timer]\n\
         OnActiveSec=1min\n\
         OnUnitActiveSec=3600s\n\
         AccuracySec=1s\n\
         Unit=auditwall-soak.service\n\
         \n\
         [Install]\n\
         WantedBy=timers.target\n"
    );
}

#[test]
fn systemd_escapes_specifiers_quotes_and_variables() {
    let units = systemd_units(
        Path::new("/opt/a\"w/auditwall"),
        Path::new("/srv/100%$HOME\\x"),
        Duration::from_secs(900),
    )
    .expect("units");
    assert!(units
        .service
        .contains("WorkingDirectory=/srv/100%%$HOME\\x\n"));
    assert!(units
        .service
        .contains("ExecStart=\"/opt/a\\\"w/auditwall\" soak tick \"/srv/100%%$$HOME\\\\x\"\n"));
    assert!(units.timer.contains("OnUnitActiveSec=900s\n"));
}

#[test]
fn the_launchd_plist_is_pinned() {
    let plist = launchd_plist(
        Path::new("/opt/homebrew/bin/auditwall"),
        Path::new("/Users/op/lab"),
        Duration::from_secs(1800),
    )
    .expect("plist");
    assert_eq!(
        plist,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>dev.auditwall.soak</string>
	<key>ProgramArguments</key>
	<array>
		<string>/opt/homebrew/bin/auditwall</string>
		<string>soak</string>
		<string>tick</string>
		<string>/Users/op/lab</string>
	</array>
	<key>WorkingDirectory</key>
	<string>/Users/op/lab</string>
	<key>StartInterval</key>
	<integer>1800</integer>
	<key>RunAtLoad</key>
	<true/>
</dict>
</plist>
"#
    );
}

#[test]
fn plist_strings_read_back_as_the_paths() {
    let wall = "/Users/op/R&D <lab> \"x\" 'y'";
    let plist = launchd_plist(Path::new("/bin/aw&"), Path::new(wall), HOUR).expect("plist");
    let doc = roxmltree::Document::parse_with_options(
        &plist,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .expect("well-formed XML");
    let strings: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("string"))
        .filter_map(|n| n.text())
        .collect();
    assert_eq!(
        strings,
        ["dev.auditwall.soak", "/bin/aw&", "soak", "tick", wall, wall]
    );
}

#[test]
fn crontab_lines_are_pinned() {
    let line = |secs: u64| {
        crontab_line(
            Path::new("/usr/bin/auditwall"),
            Path::new("/srv/wall"),
            Duration::from_secs(secs),
        )
    };
    let cmd = "cd '/srv/wall' && '/usr/bin/auditwall' soak tick '/srv/wall'";
    assert_eq!(line(60).expect("1m"), format!("* * * * * {cmd}"));
    assert_eq!(line(900).expect("15m"), format!("*/15 * * * * {cmd}"));
    assert_eq!(line(3600).expect("1h"), format!("0 * * * * {cmd}"));
    assert_eq!(line(6 * 3600).expect("6h"), format!("0 */6 * * * {cmd}"));
    assert_eq!(line(86_400).expect("1d"), format!("0 0 * * * {cmd}"));
    for secs in [420, 90, 5 * 3600, 2 * 86_400] {
        let err = line(secs).expect_err("uneven");
        assert_eq!(err.kind(), Kind::Schedule);
        assert!(
            err.to_string().contains("cron cannot repeat every"),
            "{err}"
        );
    }
    assert_eq!(
        line(420).expect_err("7m").to_string(),
        "cannot write the schedule: cron cannot repeat every 7m evenly; use N minutes with N dividing 60, N hours with N dividing 24, or 1d"
    );
}

/// The command part of a crontab line as cron hands it to `sh -c`: after the five time
/// fields, with `\%` turned back into `%`.
fn cron_command(line: &str) -> String {
    let command = line
        .splitn(6, ' ')
        .nth(5)
        .expect("a command after five fields");
    command.replace("\\%", "%")
}

#[test]
fn the_crontab_command_survives_a_real_shell_with_a_hostile_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wall = dir.path().join("it's 100% $HOME `x` wall");
    std::fs::create_dir(&wall).expect("wall dir");
    // A stand-in for the auditwall binary that records where and with what it ran.
    let record = dir.path().join("record");
    let binary = dir.path().join("aw bin");
    std::fs::write(
        &binary,
        format!(
            "#!/bin/sh\npwd > '{0}'\nfor a in \"$@\"; do printf '%s\\n' \"$a\" >> '{0}'; done\n",
            record.display()
        ),
    )
    .expect("script");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    let line = crontab_line(&binary, &wall, HOUR).expect("line");
    assert!(
        !line.replace("\\%", "").contains('%'),
        "an unescaped % in {line}"
    );
    let status = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(cron_command(&line))
        .env_clear()
        .status()
        .expect("sh");
    assert!(status.success(), "{line}");
    let recorded = std::fs::read_to_string(&record).expect("the stand-in ran");
    let wall_text = wall.to_str().expect("UTF-8");
    assert_eq!(
        recorded.lines().collect::<Vec<_>>(),
        [wall_text, "soak", "tick", wall_text]
    );
}

#[test]
fn paths_and_intervals_schedulers_cannot_use_are_refused() {
    let abs = Path::new("/usr/bin/auditwall");
    let refused = |binary: &Path, wall: &Path, interval: Duration| {
        let err = systemd_units(binary, wall, interval).expect_err("refused");
        assert_eq!(err.kind(), Kind::Schedule);
        err.to_string()
    };
    assert_eq!(
        refused(abs, Path::new("lab"), HOUR),
        "cannot write the schedule: the wall directory path `lab` is relative; schedulers need an absolute path"
    );
    assert_eq!(
        refused(Path::new("auditwall"), Path::new("/lab"), HOUR),
        "cannot write the schedule: the auditwall binary path `auditwall` is relative; schedulers need an absolute path"
    );
    assert_eq!(
        refused(abs, Path::new("/lab\nExecStart=/bin/evil"), HOUR),
        "cannot write the schedule: the wall directory path \"/lab\\nExecStart=/bin/evil\" contains a control character"
    );
    assert_eq!(
        refused(abs, Path::new("/lab"), Duration::from_secs(30)),
        "cannot write the schedule: interval 30s is not a whole number of seconds of at least 1m"
    );
    assert_eq!(
        refused(abs, Path::new("/lab"), Duration::from_millis(90_500)),
        "cannot write the schedule: interval 1m30s is not a whole number of seconds of at least 1m"
    );
    use std::os::unix::ffi::OsStrExt;
    let latin1 = PathBuf::from(std::ffi::OsStr::from_bytes(b"/lab/caf\xe9"));
    assert!(refused(abs, &latin1, HOUR).ends_with("is not UTF-8"));
    assert!(launchd_plist(abs, Path::new("lab"), HOUR).is_err());
    assert!(crontab_line(abs, Path::new("lab"), HOUR).is_err());
}
