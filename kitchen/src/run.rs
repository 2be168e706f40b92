//! The exercise loop: reset, play a generated sequence with L3 and L4 checks after every
//! step, repeat until the duration is up or a step fails; then replay, shrink and write
//! the finding.
//!
//! Owns: the session with one hub (its default home, learnt from its reset), the loop's
//! bounds (the duration between sequences, the request timeout inside them, the shrink
//! budget), and the summary. Must not touch: the terminal (progress goes to a callback),
//! exit codes, starting or stopping the system.
//!
//! Counting: an *action* is one step whose answer passed L3 and whose state was then read
//! and compared at L4. Replays while shrinking are not counted, and the rate covers only
//! the exploring (not connecting, shrinking or writing the finding).

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::check::{self, Violation};
use crate::finding::{Finding, Origin};
use crate::generate::Generator;
use crate::http::Connection;
use crate::model::{Model, Step};
use crate::shrink::ddmin;
use crate::vocab::Vocabulary;
use crate::{Error, ErrorKind, State};

/// How long one request may take unless the caller says otherwise.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Replays allowed while shrinking. Sequences have at most six steps, for which ddmin needs
/// a few dozen; the budget only matters if that ever changes.
pub const MAX_SHRINK_TESTS: usize = 200;
/// How often the progress callback is called.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct Options {
    /// `http://127.0.0.1:<port>` of the hub.
    pub hub: String,
    /// Stop starting new sequences after this long (the one running finishes).
    pub duration: Duration,
    pub seed: u64,
    /// Where a finding is written.
    pub findings: PathBuf,
    pub request_timeout: Duration,
    pub max_shrink_tests: usize,
}

impl Options {
    pub fn new(hub: &str, duration: Duration, seed: u64, findings: PathBuf) -> Options {
        Options {
            hub: hub.to_owned(),
            duration,
            seed,
            findings,
            request_timeout: REQUEST_TIMEOUT,
            max_shrink_tests: MAX_SHRINK_TESTS,
        }
    }
}

/// Where a run is, for a progress line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub actions: u64,
    pub sequences: u64,
    pub elapsed: Duration,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub seed: u64,
    pub sequences: u64,
    /// Actions verified at L3 and L4 while exploring.
    pub actions: u64,
    /// Time spent exploring.
    pub elapsed: Duration,
    /// The first failure, shrunk and written.
    pub failure: Option<(Finding, PathBuf)>,
}

impl Summary {
    pub fn actions_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.actions as f64 / secs
        } else {
            0.0
        }
    }
}

impl fmt::Display for Summary {
    /// One line: `exercise: seed 42: 1234 actions in 2.00s (617 actions/s), 310 sequences,
    /// no failures` (or `1 failure: <summary>; finding: <path>`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exercise: seed {}: {} actions in {:.2}s ({:.0} actions/s), {} sequences, ",
            self.seed,
            self.actions,
            self.elapsed.as_secs_f64(),
            self.actions_per_second(),
            self.sequences
        )?;
        match &self.failure {
            None => f.write_str("no failures"),
            Some((finding, path)) => write!(
                f,
                "1 failure: {}; finding: {}",
                finding.summary,
                path.display()
            ),
        }
    }
}

/// Exercises the hub at `options.hub` until `options.duration` is up or a step fails.
/// `progress` is called about once a second. A failure is a [`Summary`] with a finding; an
/// `Err` means the exercise could not be done (bad options, hub unreachable, a state the
/// exerciser does not understand).
pub fn exercise(options: &Options, progress: &mut dyn FnMut(&Progress)) -> Result<Summary, Error> {
    if options.duration.is_zero() {
        return Err(Error::new(
            ErrorKind::Usage,
            "the duration must be more than 0",
        ));
    }
    let mut session = Session::open(&options.hub, options.request_timeout)?;
    let mut generator = Generator::new(options.seed, session.vocab.clone());
    let start = Instant::now();
    let deadline = start + options.duration;
    let mut next_progress = start + PROGRESS_EVERY;
    let mut actions = 0;
    let mut sequences = 0;
    let mut failed = None;
    while Instant::now() < deadline {
        let sequence = generator.next_sequence();
        sequences += 1;
        if let Some(violation) = session.play(&sequence.steps, &mut actions)? {
            failed = Some((sequence, violation));
            break;
        }
        let now = Instant::now();
        if now >= next_progress {
            next_progress = now + PROGRESS_EVERY;
            progress(&Progress {
                actions,
                sequences,
                elapsed: now - start,
            });
        }
    }
    let elapsed = start.elapsed();
    let failure = match failed {
        None => None,
        Some((sequence, violation)) => {
            let hub = session.connection.base().to_owned();
            let origin = Origin {
                hub: &hub,
                seed: options.seed,
                sequence: sequences - 1,
                class: sequence.class,
                failing: &sequence.steps,
            };
            let finding = session.shrink(&origin, violation, options.max_shrink_tests)?;
            let path = finding.write(&options.findings)?;
            Some((finding, path))
        }
    };
    // Leave the home as a fresh system has it, not as the last sequence left it.
    session.reset()?;
    Ok(Summary {
        seed: options.seed,
        sequences,
        actions,
        elapsed,
        failure,
    })
}

/// Plays `steps` from a reset with every check, as the exercise does: the first violation,
/// or `None` if every step passed.
pub fn replay(hub: &str, steps: &[Step], timeout: Duration) -> Result<Option<Violation>, Error> {
    let mut session = Session::open(hub, timeout)?;
    let result = session.play(steps, &mut 0);
    session.reset()?;
    result
}

/// One connection to one hub, and what its default home looks like.
struct Session {
    connection: Connection,
    vocab: Vocabulary,
    /// The state `POST /admin/reset` brings back.
    home: State,
}

impl Session {
    fn open(hub: &str, timeout: Duration) -> Result<Session, Error> {
        let mut connection = Connection::new(hub, timeout)?;
        let home = reset(&mut connection)?;
        let observed = state(&mut connection)?;
        let differences = check::diff(&home, &observed);
        if !differences.is_empty() {
            return Err(Error::new(
                ErrorKind::Surface,
                format!(
                    "GET /state right after POST /admin/reset differs from the state the reset answered, at {}",
                    keys(&differences)
                ),
            ));
        }
        let vocab = Vocabulary::discover(&home)?;
        Ok(Session {
            connection,
            vocab,
            home,
        })
    }

    /// Resets the hub and checks that it is back in the default home.
    fn reset(&mut self) -> Result<(), Error> {
        let after = reset(&mut self.connection)?;
        let differences = check::diff(&self.home, &after);
        if differences.is_empty() {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Surface,
                format!(
                    "POST /admin/reset did not bring back the default home, at {}",
                    keys(&differences)
                ),
            ))
        }
    }

    /// Plays `steps` from a reset; the first violation, if any. `actions` counts every
    /// step that passed both checks.
    fn play(&mut self, steps: &[Step], actions: &mut u64) -> Result<Option<Violation>, Error> {
        self.reset()?;
        let mut model = Model::new(&self.vocab, self.home.clone());
        for (i, step) in steps.iter().enumerate() {
            let expected = model.apply(step);
            let (path, body) = step.request();
            let body = body.to_string();
            let reply = self
                .connection
                .request("POST", path, Some(body.as_bytes()))?;
            if let Err(violation) = check::l3(i, &expected, reply.status, &reply.body) {
                return Ok(Some(violation));
            }
            let observed = state(&mut self.connection)?;
            if let Err(violation) = check::l4(i, model.state(), &observed) {
                return Ok(Some(violation));
            }
            *actions += 1;
        }
        Ok(None)
    }

    /// Replays the failing sequence, shrinks it, and makes the finding.
    fn shrink(
        &mut self,
        origin: &Origin<'_>,
        violation: Violation,
        max_tests: usize,
    ) -> Result<Finding, Error> {
        let mut ignored = 0;
        if self.play(origin.failing, &mut ignored)?.is_none() {
            return Ok(Finding::new(
                origin,
                origin.failing,
                violation,
                false,
                (1, false),
            ));
        }
        let shrunk = ddmin(origin.failing, max_tests, |candidate| {
            self.play(candidate, &mut ignored).map(|v| v.is_some())
        })?;
        // The repro's own violation (it may fail at another step than the original).
        match self.play(&shrunk.items, &mut ignored)? {
            Some(own) => Ok(Finding::new(
                origin,
                &shrunk.items,
                own,
                true,
                (shrunk.tests, shrunk.minimal),
            )),
            None => Ok(Finding::new(
                origin,
                origin.failing,
                violation,
                false,
                (shrunk.tests, false),
            )),
        }
    }
}

fn keys(differences: &[check::Difference]) -> String {
    differences
        .iter()
        .map(|d| d.key.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `POST /admin/reset`: the whole state it answers with.
fn reset(connection: &mut Connection) -> Result<State, Error> {
    let reply = connection.request("POST", "/admin/reset", Some(b"{}"))?;
    let context = format!("POST {}/admin/reset", connection.base());
    let answer = json_object(&context, reply.status, &reply.body)?;
    if answer.get("success") != Some(&Value::Bool(true)) {
        return Err(Error::new(
            ErrorKind::Surface,
            format!("{context}: `success` is not true"),
        ));
    }
    match answer.get("state") {
        Some(Value::Object(map)) => Ok(map.clone().into_iter().collect()),
        _ => Err(Error::new(
            ErrorKind::Surface,
            format!("{context}: the answer has no `state` object (does this hub support resets?)"),
        )),
    }
}

/// `GET /state`.
fn state(connection: &mut Connection) -> Result<State, Error> {
    let reply = connection.request("GET", "/state", None)?;
    let context = format!("GET {}/state", connection.base());
    Ok(json_object(&context, reply.status, &reply.body)?
        .into_iter()
        .collect())
}

fn json_object(
    context: &str,
    status: u16,
    body: &[u8],
) -> Result<serde_json::Map<String, Value>, Error> {
    let excerpt = || {
        String::from_utf8_lossy(body)
            .chars()
            .take(200)
            .collect::<String>()
    };
    if status != 200 {
        return Err(Error::new(
            ErrorKind::Surface,
            format!("{context} answered {status}: {}", excerpt()),
        ));
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Error::new(
            ErrorKind::Surface,
            format!("{context}: not a JSON object: {}", excerpt()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Layer;
    use crate::generate::Class;

    fn summary(failure: Option<(Finding, PathBuf)>) -> Summary {
        Summary {
            seed: 42,
            sequences: 310,
            actions: 1234,
            elapsed: Duration::from_millis(2000),
            failure,
        }
    }

    #[test]
    fn the_summary_line_is_pinned() {
        assert_eq!(
            summary(None).to_string(),
            "exercise: seed 42: 1234 actions in 2.00s (617 actions/s), 310 sequences, no failures"
        );
        let steps = [Step::Goodnight, Step::Goodnight];
        let origin = Origin {
            hub: "http://127.0.0.1:1",
            seed: 42,
            sequence: 309,
            class: Class::Edge,
            failing: &steps,
        };
        let violation = Violation {
            layer: Layer::L4,
            step: 1,
            message: "state differs from the model at door.back.locked".into(),
            diff: Vec::new(),
        };
        let finding = Finding::new(&origin, &steps, violation, true, (3, true));
        assert_eq!(
            summary(Some((finding, PathBuf::from("findings/exercise-1.json")))).to_string(),
            "exercise: seed 42: 1234 actions in 2.00s (617 actions/s), 310 sequences, 1 failure: \
             L4 at step 2 of `goodnight; goodnight`: state differs from the model at \
             door.back.locked; finding: findings/exercise-1.json"
        );
        let idle = Summary {
            elapsed: Duration::ZERO,
            ..summary(None)
        };
        assert_eq!(idle.actions_per_second(), 0.0);
    }

    #[test]
    fn a_zero_duration_is_refused_before_anything_is_contacted() {
        let options = Options::new(
            "http://127.0.0.1:9",
            Duration::ZERO,
            1,
            PathBuf::from("unused"),
        );
        let error = exercise(&options, &mut |_| {}).expect_err("zero duration");
        assert_eq!(
            error.to_string(),
            "invalid exercise input: the duration must be more than 0"
        );
    }
}
