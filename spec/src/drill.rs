//! Drills as written (`drills:` in a spec file) turned into the model, and the wall-wide
//! checks that need every check and service: referenced checks exist and are probes, the
//! fault acts on a declared service that can do it, and every target is on loopback unless
//! the wall allows more.
//!
//! Owns: the drill spec shape and its validation. Must not touch: running anything (the
//! harness injects faults and measures).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_saphyr::Spanned;

use crate::error::{did_you_mean, SpecError, SpecErrorKind};
use crate::interp::Interpolator;
use crate::load::{convert_with, Converted, Converter, RawHeader};
use crate::model::{
    Action, Check, CheckKind, Drill, DrillSettings, Expectation, Origin, Probe, ServiceSpec,
    Settings, Suite,
};
use crate::raw::{RawAction, RawDrill, RawExpectation, Text};
use crate::source::SourceFile;
use crate::yaml::span_origin;

/// Polling resolution when a drill names none.
pub const DEFAULT_POLL: Duration = Duration::from_millis(50);
/// A drill's whole-run cap when it names no `timeout`.
pub const DEFAULT_DRILL_TIMEOUT: Duration = Duration::from_secs(60);

/// A name a drill refers to, checked once the whole wall is known.
#[derive(Debug, Clone)]
pub(crate) struct Ref {
    pub name: String,
    pub at: Origin,
    pub what: RefKind,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum RefKind {
    /// A probe check (`steady`, `detect`, `recover`, `unaffected`, `after`).
    Check,
    /// A service the action needs to stop/start (commands or the control API).
    ServiceStopStart,
    /// A service whose pid is needed (kill, pause, resume, watch).
    ServicePid,
    /// The control API (proxy, mode).
    Control,
}

pub(crate) fn convert_drill(
    src: &SourceFile,
    index: usize,
    spanned: &Spanned<RawDrill>,
    settings: &Settings,
    interp: &mut Interpolator,
    refs: &mut Vec<Ref>,
) -> Result<Converted, Vec<SpecError>> {
    let raw = &spanned.value;
    let no_retries = None;
    let header = RawHeader {
        id: &raw.id,
        description: &raw.description,
        severity: &raw.severity,
        tags: &raw.tags,
        needs: &raw.needs,
        timeout: &raw.timeout,
        retries: &no_retries,
        disruptive: Some(true),
        canary: &raw.canary,
    };
    let origin = span_origin(&src.path, spanned);
    // A drill measures one recovery; repeating it on failure would hide the measurement.
    let settings = Settings {
        retries: 0,
        timeout: DEFAULT_DRILL_TIMEOUT,
        ..settings.clone()
    };
    let mut local = Vec::new();
    let converted = convert_with(
        src,
        index,
        &origin,
        &header,
        &settings,
        interp,
        Suite::Drills,
        |c| {
            let poll = match &raw.poll {
                None => Some(DEFAULT_POLL),
                Some(t) => c.duration("poll", &raw.poll).and_then(|d| {
                    if d > Duration::from_secs(1) {
                        let ctx = c.ctx.clone();
                        c.invalid(
                            &span_origin(c.file, t),
                            format!("`poll`{ctx} must be at most 1s: a coarser poll cannot measure a recovery"),
                        );
                        None
                    } else {
                        Some(d)
                    }
                }),
            };
            let mut check_ref = |c: &mut Converter, t: &Text| {
                local.push(Ref {
                    name: t.value.clone(),
                    at: span_origin(c.file, t),
                    what: RefKind::Check,
                });
                t.value.clone()
            };
            let steady = raw.steady.iter().map(|t| check_ref(c, t)).collect();
            let unaffected = raw.unaffected.iter().map(|t| check_ref(c, t)).collect();
            let mut expectation =
                |c: &mut Converter, field: &str, e: &Option<Spanned<RawExpectation>>| {
                    let e = e.as_ref()?;
                    let check = check_ref(c, &e.value.check);
                    // Budgets may come from the profile (`${budgets.failover}`).
                    let text = c.text(&e.value.within);
                    let mut within_text = e.value.within.clone();
                    within_text.value = text;
                    let within = c.duration(field, &Some(within_text))?;
                    Some(Expectation {
                        check,
                        served_by: c.opt_text(&e.value.served_by),
                        within,
                        origin: span_origin(c.file, e),
                    })
                };
            let detect = expectation(c, "within", &raw.detect);
            let recover = expectation(c, "within", &raw.recover);
            let after = expectation(c, "within", &raw.after);
            // A fault map never yields `undo` (rejected as misplaced).
            let fault = match action(c, &raw.fault, false, &mut local) {
                Some(Act(a)) => Some(a),
                _ => None,
            };
            let restore = match (&raw.restore, raw.self_healing.unwrap_or(false)) {
                (Some(r), _) => match action(c, r, true, &mut local) {
                    Some(Undo) => match fault.as_ref().map(Action::undo) {
                        Some(Some(undo)) => Some(Some(undo)),
                        Some(None) => {
                            let ctx = c.ctx.clone();
                            c.invalid(
                                &span_origin(c.file, r),
                                format!("`undo: true`{ctx}: this fault has no obvious undo; name the restore action"),
                            );
                            None
                        }
                        None => None,
                    },
                    Some(Act(a)) => Some(Some(a)),
                    None => None,
                },
                (None, true) => Some(None),
                (None, false) => {
                    let ctx = c.ctx.clone();
                    c.errors.push(
                        SpecError::at(
                            SpecErrorKind::MissingKey,
                            &origin,
                            format!("drill{ctx} has no `restore`"),
                        )
                        .with_key("restore")
                        .with_hint(Some(
                            "add `restore: { undo: true }` (or an action), or declare `self_healing: true` if the system repairs this fault itself"
                                .to_string(),
                        )),
                    );
                    None
                }
            };
            if raw.detect.is_none() && raw.recover.is_none() && raw.after.is_none() {
                let ctx = c.ctx.clone();
                c.errors.push(
                    SpecError::at(
                        SpecErrorKind::Invalid,
                        &origin,
                        format!("drill{ctx} measures nothing"),
                    )
                    .with_hint(Some(
                        "give at least one of `detect`, `recover`, `after`".to_string(),
                    )),
                );
            }
            let mut watch: Vec<String> = Vec::new();
            for t in &raw.watch {
                local.push(Ref {
                    name: t.value.clone(),
                    at: span_origin(c.file, t),
                    what: RefKind::ServicePid,
                });
                watch.push(t.value.clone());
            }
            let fault = fault?;
            if let Some(s) = fault.service() {
                if !watch.iter().any(|w| w == s)
                    && matches!(fault, Action::Kill(_) | Action::Pause(_))
                {
                    watch.insert(0, s.to_string());
                }
            }
            Some(CheckKind::Drill(Box::new(Drill {
                poll: poll?,
                steady,
                fault,
                detect,
                recover,
                unaffected,
                restore: restore?,
                after,
                watch,
            })))
        },
    );
    refs.extend(local);
    converted
}

enum Restore {
    Undo,
    Act(Action),
}
use Restore::{Act, Undo};

/// Converts an action map with exactly one key. `restore` allows `undo: true` and `start` /
/// `resume`; faults allow neither.
fn action(
    c: &mut Converter,
    spanned: &Spanned<RawAction>,
    restore: bool,
    refs: &mut Vec<Ref>,
) -> Option<Restore> {
    let raw = &spanned.value;
    let at = span_origin(c.file, spanned);
    let mut present: Vec<(&str, Option<Restore>)> = Vec::new();
    let mut service = |c: &mut Converter, t: &Text, what: RefKind| {
        refs.push(Ref {
            name: t.value.clone(),
            at: span_origin(c.file, t),
            what,
        });
        t.value.clone()
    };
    if let Some(u) = &raw.undo {
        present.push(("undo", u.value.then_some(Undo)));
    }
    if let Some(t) = &raw.stop {
        present.push((
            "stop",
            Some(Act(Action::Stop(service(c, t, RefKind::ServiceStopStart)))),
        ));
    }
    if let Some(t) = &raw.start {
        present.push((
            "start",
            Some(Act(Action::Start(service(c, t, RefKind::ServiceStopStart)))),
        ));
    }
    if let Some(t) = &raw.kill {
        present.push((
            "kill",
            Some(Act(Action::Kill(service(c, t, RefKind::ServicePid)))),
        ));
    }
    if let Some(t) = &raw.pause {
        present.push((
            "pause",
            Some(Act(Action::Pause(service(c, t, RefKind::ServicePid)))),
        ));
    }
    if let Some(t) = &raw.resume {
        present.push((
            "resume",
            Some(Act(Action::Resume(service(c, t, RefKind::ServicePid)))),
        ));
    }
    if let Some(t) = &raw.proxy {
        refs.push(Ref {
            name: String::new(),
            at: span_origin(c.file, t),
            what: RefKind::Control,
        });
        present.push(("proxy", Some(Act(Action::Proxy(c.text(t))))));
    }
    if let Some(t) = &raw.mode {
        refs.push(Ref {
            name: String::new(),
            at: span_origin(c.file, t),
            what: RefKind::Control,
        });
        present.push(("mode", Some(Act(Action::Mode(c.text(t))))));
    }
    if let Some(r) = &raw.replace {
        let file = c.text(&r.value.file);
        present.push((
            "replace",
            Some(Act(Action::Replace {
                file,
                with: r.value.with.value.clone(),
            })),
        ));
    }
    if let Some(cmd) = &raw.command {
        let run: Vec<String> = cmd.value.run.iter().map(|t| c.text(t)).collect();
        let undo: Option<Vec<String>> = cmd
            .value
            .undo
            .as_ref()
            .map(|u| u.iter().map(|t| c.text(t)).collect());
        if run.is_empty() || undo.as_ref().is_some_and(Vec::is_empty) {
            let ctx = c.ctx.clone();
            c.invalid(
                &span_origin(c.file, cmd),
                format!("`command`{ctx} needs a program to run"),
            );
        }
        present.push(("command", Some(Act(Action::Command { run, undo }))));
    }
    let ctx = c.ctx.clone();
    let what = if restore { "`restore`" } else { "`fault`" };
    let allowed = if restore {
        "`undo: true`, `start`, `stop`, `resume`, `proxy`, `mode`, `command`"
    } else {
        "`stop`, `kill`, `pause`, `proxy`, `mode`, `replace`, `command`"
    };
    match present.as_slice() {
        [(key, one)] => {
            let misplaced = if restore {
                matches!(*key, "kill" | "pause" | "replace")
            } else {
                matches!(*key, "undo" | "start" | "resume")
            };
            if misplaced {
                c.errors.push(
                    SpecError::at(
                        SpecErrorKind::Invalid,
                        &at,
                        format!("`{key}` cannot be a {what}{ctx}"),
                    )
                    .with_hint(Some(format!("use one of {allowed}"))),
                );
                return None;
            }
            if *key == "undo" && one.is_none() {
                c.invalid(
                    &at,
                    format!("`undo: false`{ctx} restores nothing; name the restore action"),
                );
            }
            match one {
                Some(Undo) => Some(Undo),
                Some(Act(a)) => Some(Act(a.clone())),
                None => None,
            }
        }
        keys => {
            let message = if keys.is_empty() {
                format!("empty {what}{ctx}")
            } else {
                let names: Vec<String> = keys.iter().map(|(k, _)| format!("`{k}`")).collect();
                format!("more than one action in {what}{ctx}: {}", names.join(", "))
            };
            c.errors.push(
                SpecError::at(SpecErrorKind::Invalid, &at, message)
                    .with_hint(Some(format!("use exactly one of {allowed}"))),
            );
            None
        }
    }
}

/// Wall-wide drill validation: every name resolves, every service can do what is asked of
/// it, and every target is on loopback unless allowed.
pub(crate) fn validate_drills(
    checks: &[Check],
    refs: &[Ref],
    services: &BTreeMap<String, (ServiceSpec, Origin)>,
    settings: &DrillSettings,
    root_path: &str,
) -> Vec<SpecError> {
    let mut errors = Vec::new();
    let probes: BTreeMap<&str, &Check> = checks
        .iter()
        .filter(|c| c.probe().is_some())
        .map(|c| (c.id.as_str(), c))
        .collect();
    let allowed = |host: &str| is_loopback(host) || settings.allow_hosts.iter().any(|h| h == host);
    let mut push = |at: &Origin, message: String, hint: Option<String>| {
        errors.push(SpecError::at(SpecErrorKind::UnknownReference, at, message).with_hint(hint));
    };
    let mut control_checked = false;
    for r in refs {
        match r.what {
            RefKind::Check => match probes.get(r.name.as_str()) {
                Some(check) => {
                    if let Some(host) = check.probe().and_then(probe_host) {
                        if !allowed(&host) {
                            push(
                                &r.at,
                                format!("drill step `{}` targets {host}, which is not loopback", r.name),
                                Some(format!("drills act only on loopback unless `drills.allow_hosts` in {root_path} lists the host")),
                            );
                        }
                    }
                }
                None => {
                    let known = checks.iter().find(|c| c.id == r.name);
                    let message = match known {
                        Some(c) => format!("drill step `{}` is a {} check; drill steps are probe checks", r.name, c.kind_name()),
                        None => format!("drill step `{}` is not a check of this wall", r.name),
                    };
                    push(&r.at, message, did_you_mean(&r.name, probes.keys().copied()));
                }
            },
            RefKind::ServiceStopStart | RefKind::ServicePid => match services.get(&r.name) {
                None => push(
                    &r.at,
                    format!("unknown service `{}`: drills act only on services declared under `services:` in {root_path}", r.name),
                    did_you_mean(&r.name, services.keys().map(String::as_str)),
                ),
                Some((spec, _)) => {
                    if r.what == RefKind::ServicePid && spec.pid_file.is_none() {
                        push(&r.at, format!("service `{}` has no `pid_file`, so it cannot be signalled or sampled", r.name), None);
                    }
                    if r.what == RefKind::ServiceStopStart
                        && (spec.stop.is_none() || spec.start.is_none())
                        && settings.control.is_none()
                    {
                        push(
                            &r.at,
                            format!("service `{}` has no `stop`/`start` commands and the wall has no `drills.control`", r.name),
                            None,
                        );
                    }
                }
            },
            RefKind::Control => match &settings.control {
                None => push(
                    &r.at,
                    format!("this action needs the system's control API: set `drills.control` in {root_path}"),
                    None,
                ),
                Some(url) if !control_checked => {
                    control_checked = true;
                    let host = url_host(url);
                    if !allowed(&host) {
                        push(
                            &r.at,
                            format!("`drills.control` targets {host}, which is not loopback"),
                            Some(format!("drills act only on loopback unless `drills.allow_hosts` in {root_path} lists the host")),
                        );
                    }
                }
                Some(_) => {}
            },
        }
    }
    errors
}

fn probe_host(probe: &Probe) -> Option<String> {
    match probe {
        Probe::Http(h) => Some(url_host(&h.url)),
        Probe::Model(m) => Some(url_host(&m.url)),
        Probe::Tcp(t) => Some(address_host(&t.address)),
        Probe::Port(p) => Some(address_host(&p.address)),
        Probe::Process(_) | Probe::File(_) | Probe::Command(_) => None,
    }
}

fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    address_host(authority)
}

fn address_host(address: &str) -> String {
    if let Some(rest) = address.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("").to_string();
    }
    address
        .rsplit_once(':')
        .map_or(address, |(h, _)| h)
        .to_string()
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}
