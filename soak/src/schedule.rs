//! The text of the scheduler entries `auditwall soak install` writes or prints: a systemd
//! service and timer, a launchd agent, a crontab line. Each runs, every interval,
//!
//! ```text
//! <binary> soak tick <wall_dir>      (in <wall_dir>)
//! ```
//!
//! Owns: that text and the escaping each format needs (systemd specifiers and quoting, XML,
//! shell and cron's `%`). Must not touch: the file system or the service managers: the CLI
//! decides where the text goes and whether to load it.
//!
//! Paths must be absolute (no scheduler runs in the operator's shell) and free of control
//! characters. Intervals are whole seconds, at least one minute; cron can only repeat evenly
//! every N minutes with N dividing 60, every N hours with N dividing 24, or daily.

use std::path::Path;
use std::time::Duration;

use auditwall_spec::render_duration;

use crate::error::{Kind, Result, SoakError};

/// The systemd unit name (`auditwall-soak.service`, `auditwall-soak.timer`).
pub const SYSTEMD_UNIT: &str = "auditwall-soak";
/// The launchd job label (`~/Library/LaunchAgents/dev.auditwall.soak.plist`).
pub const LAUNCHD_LABEL: &str = "dev.auditwall.soak";

/// A oneshot service and the timer that starts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemdUnits {
    /// `auditwall-soak.service`
    pub service: String,
    /// `auditwall-soak.timer`
    pub timer: String,
}

struct Checked<'a> {
    binary: &'a str,
    wall: &'a str,
    seconds: u64,
}

fn checked<'a>(binary: &'a Path, wall_dir: &'a Path, interval: Duration) -> Result<Checked<'a>> {
    let text = |path: &'a Path, what: &str| -> Result<&'a str> {
        let s = path.to_str().ok_or_else(|| {
            SoakError::new(
                Kind::Schedule,
                format_args!("the {what} path {} is not UTF-8", path.display()),
            )
        })?;
        if !path.is_absolute() {
            return Err(SoakError::new(
                Kind::Schedule,
                format_args!("the {what} path `{s}` is relative; schedulers need an absolute path"),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(SoakError::new(
                Kind::Schedule,
                format_args!("the {what} path {s:?} contains a control character"),
            ));
        }
        Ok(s)
    };
    if interval < Duration::from_secs(60) || interval.subsec_nanos() != 0 {
        return Err(SoakError::new(
            Kind::Schedule,
            format_args!(
                "interval {} is not a whole number of seconds of at least 1m",
                render_duration(interval)
            ),
        ));
    }
    Ok(Checked {
        binary: text(binary, "auditwall binary")?,
        wall: text(wall_dir, "wall directory")?,
        seconds: interval.as_secs(),
    })
}

/// The systemd units (user or system) for a tick every `interval`: the first tick a minute
/// after the timer starts, then `interval` after each tick began.
pub fn systemd_units(binary: &Path, wall_dir: &Path, interval: Duration) -> Result<SystemdUnits> {
    let c = checked(binary, wall_dir, interval)?;
    let every = render_duration(interval);
    let service = format!(
        "[Unit]\n\
         Description=auditwall soak tick of the wall in {wall}\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         WorkingDirectory={wall}\n\
         ExecStart={exe} soak tick {wall_arg}\n",
        wall = systemd_specifiers(c.wall),
        exe = systemd_quote(c.binary),
        wall_arg = systemd_quote(c.wall),
    );
    let timer = format!(
        "[Unit]\n\
         Description=auditwall soak tick every {every}\n\
         \n\
         [Timer]\n\
         OnActiveSec=1min\n\
         OnUnitActiveSec={seconds}s\n\
         AccuracySec=1s\n\
         Unit={SYSTEMD_UNIT}.service\n\
         \n\
         [Install]\n\
         WantedBy=timers.target\n",
        seconds = c.seconds,
    );
    Ok(SystemdUnits { service, timer })
}

/// `%` starts a specifier in every systemd value.
fn systemd_specifiers(s: &str) -> String {
    s.replace('%', "%%")
}

/// One word of an `ExecStart=` line: double-quoted, with `\`, `"`, `%` and `$` escaped.
fn systemd_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A launchd agent property list: a tick at load and every `interval` after.
pub fn launchd_plist(binary: &Path, wall_dir: &Path, interval: Duration) -> Result<String> {
    let c = checked(binary, wall_dir, interval)?;
    Ok(format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>{LAUNCHD_LABEL}</string>
	<key>ProgramArguments</key>
	<array>
		<string>{exe}</string>
		<string>soak</string>
		<string>tick</string>
		<string>{wall}</string>
	</array>
	<key>WorkingDirectory</key>
	<string>{wall}</string>
	<key>StartInterval</key>
	<integer>{seconds}</integer>
	<key>RunAtLoad</key>
	<true/>
</dict>
</plist>
"#,
        exe = xml_escape(c.binary),
        wall = xml_escape(c.wall),
        seconds = c.seconds,
    ))
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// One crontab line (without the newline) for a tick every `interval`.
pub fn crontab_line(binary: &Path, wall_dir: &Path, interval: Duration) -> Result<String> {
    let c = checked(binary, wall_dir, interval)?;
    let (minutes, hours) = (c.seconds / 60, c.seconds / 3600);
    let when = if c.seconds % 60 == 0 && minutes < 60 && 60 % minutes == 0 {
        if minutes == 1 {
            "* * * * *".to_owned()
        } else {
            format!("*/{minutes} * * * *")
        }
    } else if c.seconds % 3600 == 0 && hours < 24 && 24 % hours == 0 {
        if hours == 1 {
            "0 * * * *".to_owned()
        } else {
            format!("0 */{hours} * * *")
        }
    } else if c.seconds == 86_400 {
        "0 0 * * *".to_owned()
    } else {
        return Err(SoakError::new(
            Kind::Schedule,
            format_args!(
                "cron cannot repeat every {} evenly; use N minutes with N dividing 60, N hours with N dividing 24, or 1d",
                render_duration(interval)
            ),
        ));
    };
    Ok(format!(
        "{when} cd {wall} && {exe} soak tick {wall}",
        wall = cron_quote(c.wall),
        exe = cron_quote(c.binary),
    ))
}

/// A single-quoted shell word, with cron's `%` (a newline to cron) escaped.
fn cron_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''").replace('%', r"\%"))
}
