//! The built-in backend: a deterministic "model" that answers arithmetic correctly, so a wall
//! can assert the exact answer of a real inference without a real model.
//!
//! Owns: [`Builtin`], the arithmetic evaluator ([`arith`]) and the fixed replies.
//! Must not touch: anything outside answering one conversation (no I/O, no state).

use super::{Backend, BackendError, BackendErrorKind, ChatMessage, Completion};

/// The answer to anything that is not arithmetic.
pub const NOT_ARITHMETIC: &str =
    "I am the auditwall reference model. I can only answer arithmetic questions.";

/// Evaluates the first arithmetic expression in the last user message.
#[derive(Debug, Clone, Copy, Default)]
pub struct Builtin;

impl Backend for Builtin {
    fn complete(&self, messages: &[ChatMessage]) -> Result<Completion, BackendError> {
        let prompt = messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .ok_or_else(|| {
                BackendError::new(
                    BackendErrorKind::Request,
                    "the conversation has no message with role \"user\"",
                )
            })?;
        let content = match arith::answer(&prompt.content) {
            Some(Ok(value)) => arith::format(value),
            Some(Err(e)) => e.to_string(),
            None => NOT_ARITHMETIC.to_owned(),
        };
        Ok(Completion { content })
    }
}

/// The built-in model: finds an arithmetic expression in a prompt and evaluates it.
pub mod arith {
    /// Why an expression that was found has no numeric answer; `Display` is the reply text.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
    pub enum ArithError {
        #[error("Division by zero is undefined.")]
        DivisionByZero,
        #[error("The result is too large to compute.")]
        Overflow,
    }

    /// Deeper nesting than any real question; bounds the recursion on hostile prompts.
    const MAX_DEPTH: usize = 64;

    /// The value of the first arithmetic expression in `prompt` (at least one binary
    /// operator, e.g. "2+2?" or "What is (3+4)*5?"), or `None` if there is none.
    pub fn answer(prompt: &str) -> Option<Result<f64, ArithError>> {
        let is_expr_char = |c: char| c.is_ascii_digit() || " \t.+-*/()".contains(c);
        prompt
            .split(|c: char| !is_expr_char(c))
            .map(|run| run.trim().trim_end_matches('.').trim_end())
            .filter(|run| run.bytes().any(|b| b.is_ascii_digit()))
            .find_map(|run| {
                let mut parser = Parser {
                    bytes: run.as_bytes(),
                    pos: 0,
                    depth: 0,
                    operators: 0,
                    divided_by_zero: false,
                };
                let value = parser.expr();
                parser.skip_spaces();
                if parser.pos != parser.bytes.len() || parser.operators == 0 {
                    return None;
                }
                Some(match value? {
                    _ if parser.divided_by_zero => Err(ArithError::DivisionByZero),
                    v if v.is_finite() => Ok(v),
                    _ => Err(ArithError::Overflow),
                })
            })
    }

    /// Formats an answer the way a person would write it: "4", "0.3", "-2.5".
    pub fn format(value: f64) -> String {
        let fixed = format!("{value:.10}");
        let trimmed = fixed.trim_end_matches('0').trim_end_matches('.');
        if trimmed == "-0" {
            "0".to_owned()
        } else {
            trimmed.to_owned()
        }
    }

    /// Recursive descent over one run of expression characters; `None` is a syntax error.
    struct Parser<'a> {
        bytes: &'a [u8],
        pos: usize,
        depth: usize,
        operators: usize,
        divided_by_zero: bool,
    }

    impl Parser<'_> {
        fn skip_spaces(&mut self) {
            while matches!(self.bytes.get(self.pos), Some(b' ' | b'\t')) {
                self.pos += 1;
            }
        }

        fn next_is(&mut self, wanted: &[u8]) -> Option<u8> {
            self.skip_spaces();
            let b = *self.bytes.get(self.pos)?;
            if wanted.contains(&b) {
                self.pos += 1;
                Some(b)
            } else {
                None
            }
        }

        fn expr(&mut self) -> Option<f64> {
            let mut value = self.term()?;
            while let Some(op) = self.next_is(b"+-") {
                self.operators += 1;
                let rhs = self.term()?;
                value = if op == b'+' { value + rhs } else { value - rhs };
            }
            Some(value)
        }

        fn term(&mut self) -> Option<f64> {
            let mut value = self.factor()?;
            while let Some(op) = self.next_is(b"*/") {
                self.operators += 1;
                let rhs = self.factor()?;
                if op == b'/' && rhs == 0.0 {
                    // Keep parsing: "1/0 apples" must still be told apart from "1/0".
                    self.divided_by_zero = true;
                }
                value = if op == b'*' { value * rhs } else { value / rhs };
            }
            Some(value)
        }

        fn factor(&mut self) -> Option<f64> {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return None;
            }
            let value = if self.next_is(b"-").is_some() {
                self.factor().map(|v| -v)
            } else if self.next_is(b"(").is_some() {
                let inner = self.expr()?;
                self.next_is(b")").map(|_| inner)
            } else {
                self.number()
            };
            self.depth -= 1;
            value
        }

        fn number(&mut self) -> Option<f64> {
            self.skip_spaces();
            let start = self.pos;
            let digits = |p: &mut Self| {
                let from = p.pos;
                while p.bytes.get(p.pos).is_some_and(u8::is_ascii_digit) {
                    p.pos += 1;
                }
                p.pos > from
            };
            if !digits(self) {
                return None;
            }
            if self.bytes.get(self.pos) == Some(&b'.') {
                self.pos += 1;
                if !digits(self) {
                    return None;
                }
            }
            std::str::from_utf8(&self.bytes[start..self.pos])
                .ok()?
                .parse()
                .ok()
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn finds_and_evaluates_expressions() {
            let cases: &[(&str, Option<&str>)] = &[
                ("2+2?", Some("4")),
                ("What is (3+4)*5?", Some("35")),
                ("what is 7 - 10", Some("-3")),
                ("0.1 + 0.2", Some("0.3")),
                ("Compute 1/3 please.", Some("0.3333333333")),
                ("-2 * -3", Some("6")),
                ("2 + 3 * 4", Some("14")),
                ("(2 + 3) * 4.5.", Some("22.5")),
                ("10 / 4", Some("2.5")),
                ("GPT-4 is a model", None),
                ("What is 7?", None),
                ("hello", None),
                ("(1+2", None),
                ("1 + + 2", None),
                ("", None),
            ];
            for (prompt, expected) in cases {
                let got = answer(prompt).map(|r| r.map(format));
                assert_eq!(got, expected.map(|e| Ok(e.to_owned())), "prompt {prompt:?}");
            }
        }

        #[test]
        fn division_by_zero_and_overflow_are_answers_not_panics() {
            assert_eq!(answer("1/0"), Some(Err(ArithError::DivisionByZero)));
            assert_eq!(
                answer("what is (4 - 2) / (1 - 1) + 3?"),
                Some(Err(ArithError::DivisionByZero))
            );
            assert_eq!(answer("(1/0) + 2"), Some(Err(ArithError::DivisionByZero)));
            let huge = format!("{}*{}", "9".repeat(200), "9".repeat(200));
            assert_eq!(answer(&huge), Some(Err(ArithError::Overflow)));
        }

        #[test]
        fn deep_nesting_is_rejected_not_overflowed() {
            let deep = format!("{}1+1{}", "(".repeat(10_000), ")".repeat(10_000));
            assert_eq!(answer(&deep), None);
            let negations = format!("1+{}1", "-".repeat(10_000));
            assert_eq!(answer(&negations), None);
        }
    }
}
