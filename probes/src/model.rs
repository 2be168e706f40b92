//! The `model` probe: golden-answer checks of an OpenAI-compatible chat endpoint.
//!
//! Owns: asking each prompt `repeat` times, one run after another, within the probe's one
//! deadline; holding every answer against its expectation and the quality detectors; summing
//! the runs into observations (`runs`, `passes`, `pass_rate`, `failures`, `served_by`,
//! `latency`, `status`). Must not touch: judging the summary — the check's conditions do
//! that (`passes >= 19`), so a 200 with a wrong answer is an observation, not an error.
//!
//! An answer passes when the status is 200, `choices[0].message.content` is a string, no
//! quality detector fires, and the expectation holds. The detectors, first match wins:
//! - `empty content`: the content is empty or whitespace;
//! - `pure repetition`: at least 3 words that are all the same word, or the reply's first
//!   3 to 64 characters repeated (at least 3 times) make up 90% or more of it;
//! - `truncated reply`: `finish_reason` is `"length"`.
//!
//! A run that gets no answer at all is a failure with its reason; if no run got an answer
//! because none could connect, the target is unreachable (an error, as for `http`). If the
//! deadline passes mid-run, that run is dropped and `failures` says where the probe stopped.

use std::time::Duration;

use auditwall_spec::{render_duration, GoldenAnswer, ModelProbe, Observations, Value};
use tokio::time::Instant;

use crate::http::root_cause;
use crate::ProbeError;

/// A reply beyond this is a failure, not something to read on: answers are short.
const REPLY_CAP: usize = 1024 * 1024;

/// Answers and prompts are quoted in `failures` up to this many characters.
const QUOTE_CHARS: usize = 100;

/// Longest repeated unit the repetition detector looks for; it keeps the check linear.
const MAX_UNIT: usize = 64;

pub(crate) async fn run(
    client: &reqwest::Client,
    probe: &ModelProbe,
    timeout: Duration,
) -> Result<Observations, ProbeError> {
    let url = endpoint(&probe.url)?;
    let expectations = probe
        .prompts
        .iter()
        .map(|p| Expectation::new(&p.expect))
        .collect::<Result<Vec<_>, _>>()?;
    let deadline = Instant::now() + timeout;
    let total = probe.prompts.len() * probe.repeat as usize;
    let mut tally = Tally::default();
    let mut stopped = false;
    'prompts: for (prompt, expectation) in probe.prompts.iter().zip(&expectations) {
        let mut failures: Vec<(String, u32)> = Vec::new();
        let mut runs = 0u32;
        for _ in 0..probe.repeat {
            let start = Instant::now();
            let outcome = ask(client, &url, probe, &prompt.ask, expectation, deadline).await;
            let failure = match outcome {
                Run::OutOfTime => {
                    stopped = true;
                    tally.close_prompt(runs, failures);
                    break 'prompts;
                }
                Run::Answered {
                    status,
                    served_by,
                    failure,
                } => {
                    tally.answered(status, served_by);
                    failure
                }
                Run::Failed { reason, connect } => {
                    if connect {
                        tally.connect_failures += 1;
                        tally
                            .first_connect_error
                            .get_or_insert_with(|| reason.clone());
                    }
                    Some(reason)
                }
            };
            runs += 1;
            tally.runs += 1;
            tally.slowest = tally.slowest.max(start.elapsed());
            match failure {
                None => tally.passes += 1,
                Some(f) => match failures.iter_mut().find(|(text, _)| *text == f) {
                    Some((_, count)) => *count += 1,
                    None => failures.push((f, 1)),
                },
            }
        }
        tally.close_prompt(runs, failures);
    }
    if tally.runs == 0 {
        return Err(ProbeError::target(format!(
            "timed out after {} waiting for the first answer from {url}",
            render_duration(timeout)
        )));
    }
    if tally.connect_failures == tally.runs {
        return Err(ProbeError::target(
            tally.first_connect_error.unwrap_or_default(),
        ));
    }
    if stopped {
        tally.failures.push(format!(
            "stopped after {} of {total} runs: the probe's timeout of {} was reached",
            tally.runs,
            render_duration(timeout)
        ));
    }
    Ok(tally.observations())
}

/// Everything wrong with the probe's own configuration is caught before any I/O, so it is
/// reported as a broken detector rather than a red system.
fn endpoint(base: &str) -> Result<reqwest::Url, ProbeError> {
    let text = format!("{}/v1/chat/completions", base.trim_end_matches('/'));
    let url = reqwest::Url::parse(&text)
        .map_err(|e| ProbeError::detector(format!("invalid URL {base:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ProbeError::detector(format!(
            "unsupported URL scheme {:?} in {base}: model probes speak http and https only",
            url.scheme()
        )));
    }
    Ok(url)
}

enum Expectation<'a> {
    Exact(&'a str),
    Contains(&'a str),
    Regex(&'a str, regex::Regex),
    Number { value: f64, tolerance: f64 },
    JsonShape(&'a [String]),
}

impl<'a> Expectation<'a> {
    fn new(answer: &'a GoldenAnswer) -> Result<Self, ProbeError> {
        Ok(match answer {
            GoldenAnswer::Exact(t) => Expectation::Exact(t),
            GoldenAnswer::Contains(t) => Expectation::Contains(t),
            GoldenAnswer::Regex(p) => {
                let re = regex::RegexBuilder::new(p)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| ProbeError::detector(format!("bad regex {p:?}: {e}")))?;
                Expectation::Regex(p, re)
            }
            GoldenAnswer::Number { value, tolerance } => Expectation::Number {
                value: *value,
                tolerance: *tolerance,
            },
            GoldenAnswer::JsonShape(keys) => Expectation::JsonShape(keys),
        })
    }

    /// `exact` compares the reply trimmed of surrounding whitespace; `number` reads the last
    /// number in the reply ("17*3 = 51" is 51); `json_shape` needs the trimmed reply to be a
    /// JSON object with every key.
    fn holds(&self, content: &str) -> bool {
        match self {
            Expectation::Exact(t) => content.trim() == *t,
            Expectation::Contains(t) => content.contains(t),
            Expectation::Regex(_, re) => re.is_match(content),
            Expectation::Number { value, tolerance } => {
                last_number(content).is_some_and(|n| (n - value).abs() <= *tolerance)
            }
            Expectation::JsonShape(keys) => {
                match serde_json::from_str::<serde_json::Value>(content.trim()) {
                    Ok(serde_json::Value::Object(map)) => {
                        keys.iter().all(|k| map.contains_key(k.as_str()))
                    }
                    _ => false,
                }
            }
        }
    }
}

impl std::fmt::Display for Expectation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expectation::Exact(t) => write!(f, "exact {}", quote(t)),
            Expectation::Contains(t) => write!(f, "contains {}", quote(t)),
            Expectation::Regex(p, _) => write!(f, "regex {}", quote(p)),
            Expectation::Number { value, tolerance } => {
                write!(f, "number {value} ± {tolerance}")
            }
            Expectation::JsonShape(keys) => write!(f, "json_shape [{}]", keys.join(", ")),
        }
    }
}

fn last_number(text: &str) -> Option<f64> {
    let bytes = text.as_bytes();
    let end = bytes.iter().rposition(u8::is_ascii_digit)? + 1;
    let mut start = end - 1;
    while start > 0 && bytes[start - 1].is_ascii_digit() {
        start -= 1;
    }
    if start >= 2 && bytes[start - 1] == b'.' && bytes[start - 2].is_ascii_digit() {
        start -= 1;
        while start > 0 && bytes[start - 1].is_ascii_digit() {
            start -= 1;
        }
    }
    // A minus sign belongs to the number only where it cannot be subtraction ("7-3").
    if start >= 1
        && bytes[start - 1] == b'-'
        && (start == 1 || !bytes[start - 2].is_ascii_alphanumeric())
    {
        start -= 1;
    }
    text[start..end].parse().ok()
}

fn is_pure_repetition(content: &str) -> bool {
    let text = content.trim();
    let mut words = text.split_whitespace();
    if let Some(first) = words.next() {
        let mut count = 1usize;
        if words.all(|w| {
            count += 1;
            w == first
        }) && count >= 3
        {
            return true;
        }
    }
    let len = text.len();
    (3..=MAX_UNIT.min(len / 3))
        .filter(|&unit| text.is_char_boundary(unit))
        .any(|unit| {
            let repeats = text.matches(&text[..unit]).count();
            repeats >= 3 && repeats * unit * 10 >= len * 9
        })
}

/// `"text"` with escapes, cut at [`QUOTE_CHARS`] characters so one runaway reply cannot
/// flood a report.
fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_CHARS) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

enum Run {
    /// An HTTP answer came back; `failure` says what was wrong with it, if anything.
    Answered {
        status: u16,
        served_by: Option<String>,
        failure: Option<String>,
    },
    /// No answer; `connect` when the endpoint could not be reached at all.
    Failed { reason: String, connect: bool },
    /// The probe's deadline passed before this run finished.
    OutOfTime,
}

async fn ask(
    client: &reqwest::Client,
    url: &reqwest::Url,
    probe: &ModelProbe,
    ask: &str,
    expectation: &Expectation<'_>,
    deadline: Instant,
) -> Run {
    let mut body = serde_json::json!({ "messages": [{ "role": "user", "content": ask }] });
    if let Some(model) = &probe.model {
        body["model"] = serde_json::Value::String(model.clone());
    }
    let asked = quote(ask);
    let send = client.post(url.clone()).json(&body).send();
    let mut response = match tokio::time::timeout_at(deadline, send).await {
        Err(_) => return Run::OutOfTime,
        Ok(Err(e)) => {
            let reason = if e.is_connect() {
                format!("cannot connect: POST {url}: {}", root_cause(&e))
            } else {
                format!("request failed: POST {url}: {}", root_cause(&e))
            };
            return Run::Failed {
                reason: format!("{asked} failed: {reason}"),
                connect: e.is_connect(),
            };
        }
        Ok(Ok(response)) => response,
    };
    let status = response.status().as_u16();
    let served_by = response
        .headers()
        .get(probe.served_by_header.as_str())
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let mut reply = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Err(_) => return Run::OutOfTime,
            Ok(Err(e)) => {
                return Run::Failed {
                    reason: format!(
                        "{asked} failed: connection failed while reading the reply: {}",
                        root_cause(&e)
                    ),
                    connect: false,
                }
            }
            Ok(Ok(None)) => break,
            Ok(Ok(Some(chunk))) => {
                if reply.len() + chunk.len() > REPLY_CAP {
                    let failure = format!("{asked} got a reply over 1 MiB");
                    return Run::Answered {
                        status,
                        served_by,
                        failure: Some(failure),
                    };
                }
                reply.extend_from_slice(&chunk);
            }
        }
    }
    let failure = judge(&asked, status, &reply, expectation);
    Run::Answered {
        status,
        served_by,
        failure,
    }
}

fn judge(asked: &str, status: u16, reply: &[u8], expectation: &Expectation) -> Option<String> {
    if status != 200 {
        return Some(format!("{asked} got status {status}"));
    }
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(reply) else {
        return Some(format!("{asked} got a reply that is not JSON"));
    };
    let choice = &json["choices"][0];
    let Some(content) = choice["message"]["content"].as_str() else {
        return Some(format!(
            "{asked} got a reply without choices[0].message.content"
        ));
    };
    let answered = format!("{asked} answered {}", quote(content));
    if content.trim().is_empty() {
        return Some(format!("{answered}: empty content"));
    }
    if is_pure_repetition(content) {
        return Some(format!("{answered}: pure repetition"));
    }
    if choice["finish_reason"] == "length" {
        return Some(format!(
            "{answered}: truncated reply (finish_reason \"length\")"
        ));
    }
    if !expectation.holds(content) {
        return Some(format!("{answered}, expected {expectation}"));
    }
    None
}

#[derive(Default)]
struct Tally {
    runs: u32,
    passes: u32,
    connect_failures: u32,
    first_connect_error: Option<String>,
    /// One line per distinct failure, in the order first seen.
    failures: Vec<String>,
    /// Backend name (or `None` for a reply without the header) → replies, in order first seen.
    served_by: Vec<(Option<String>, u32)>,
    last_bad_status: Option<u16>,
    any_answer: bool,
    slowest: Duration,
}

impl Tally {
    fn answered(&mut self, status: u16, served_by: Option<String>) {
        self.any_answer = true;
        if status != 200 {
            self.last_bad_status = Some(status);
        }
        match self
            .served_by
            .iter_mut()
            .find(|(name, _)| *name == served_by)
        {
            Some((_, count)) => *count += 1,
            None => self.served_by.push((served_by, 1)),
        }
    }

    fn close_prompt(&mut self, runs: u32, failures: Vec<(String, u32)>) {
        self.failures.extend(
            failures
                .into_iter()
                .map(|(text, count)| format!("{text} ({count} of {runs})")),
        );
    }

    fn observations(mut self) -> Observations {
        let mut obs = Observations::new();
        obs.set("runs", Value::Number(f64::from(self.runs)));
        obs.set("passes", Value::Number(f64::from(self.passes)));
        obs.set(
            "pass_rate",
            Value::Number(f64::from(self.passes) / f64::from(self.runs)),
        );
        obs.set("failures", Value::Text(self.failures.join("\n")));
        obs.set("latency", Value::Duration(self.slowest));
        if self.any_answer {
            obs.set(
                "status",
                Value::Number(f64::from(self.last_bad_status.unwrap_or(200))),
            );
            let name = |n: &Option<String>| n.clone().unwrap_or_else(|| "(none)".to_string());
            let served_by = match self.served_by.as_slice() {
                [(only, _)] => name(only),
                _ => {
                    // Most replies first; ties keep the order first seen (the sort is stable).
                    self.served_by
                        .sort_by_key(|(_, count)| std::cmp::Reverse(*count));
                    let parts: Vec<String> = self
                        .served_by
                        .iter()
                        .map(|(n, count)| format!("{}×{count}", name(n)))
                        .collect();
                    format!("mixed: {}", parts.join(", "))
                }
            };
            obs.set("served_by", Value::Text(served_by));
        }
        obs
    }
}

#[cfg(test)]
mod tests {
    use super::{is_pure_repetition, last_number};

    #[test]
    fn repetition_needs_three_repeats_covering_nearly_all_of_the_reply() {
        let flagged = [
            "no no no",
            "  the the the the  ",
            "aaaaaaaaaa",
            "na-na-na-na-",
            "abcabcabcabcabcabcabcabcabcX",
        ];
        let kept = [
            "51",
            "0.3333333333",
            "ha ha",
            "abcabc",
            "The answer is 4. The answer is 4.",
            "4 4 is not 44",
            "abcabcabcXYZ",
            "ééé",
        ];
        for text in flagged {
            assert!(is_pure_repetition(text), "{text:?} should be repetition");
        }
        for text in kept {
            assert!(!is_pure_repetition(text), "{text:?} is not repetition");
        }
    }

    #[test]
    fn the_last_number_in_the_reply_is_read() {
        let cases = [
            ("51", Some(51.0)),
            ("17*3 = 51.", Some(51.0)),
            ("x = -1", Some(-1.0)),
            ("7-3", Some(3.0)),
            ("about 0.25 or so", Some(0.25)),
            ("no digits", None),
        ];
        for (text, expected) in cases {
            assert_eq!(last_number(text), expected, "{text:?}");
        }
    }
}
