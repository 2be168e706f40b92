//! Delta debugging (Zeller and Hildebrandt's *ddmin*, 2002): reduce a failing sequence to
//! a 1-minimal one — a sequence that still fails, and stops failing if any single step is
//! taken out.
//!
//! Owns: choosing which subsequences to try, in a bounded number of tests. Must not touch:
//! how a test is run (the caller's closure replays it from a known state).

/// The result of shrinking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shrunk<T> {
    /// The smallest failing subsequence found (order kept).
    pub items: Vec<T>,
    /// How many candidates were tested.
    pub tests: usize,
    /// False if the test budget ran out before `items` was shown 1-minimal.
    pub minimal: bool,
}

/// Shrinks `failing` (which must fail) with at most `max_tests` calls of `fails`. `fails`
/// answers whether a candidate still fails; an error stops shrinking and is returned.
pub fn ddmin<T: Clone, E>(
    failing: &[T],
    max_tests: usize,
    mut fails: impl FnMut(&[T]) -> Result<bool, E>,
) -> Result<Shrunk<T>, E> {
    let mut items = failing.to_vec();
    let mut tests = 0;
    let mut granularity = 2;
    'outer: while items.len() >= 2 {
        let chunks = split(items.len(), granularity);
        // Try each chunk alone, then each complement (everything but one chunk).
        for (start, end) in &chunks {
            if tests == max_tests {
                break 'outer;
            }
            tests += 1;
            let candidate = &items[*start..*end];
            if fails(candidate)? {
                items = candidate.to_vec();
                granularity = 2;
                continue 'outer;
            }
        }
        if granularity > 2 {
            for (start, end) in &chunks {
                if tests == max_tests {
                    break 'outer;
                }
                tests += 1;
                let candidate: Vec<T> = items[..*start]
                    .iter()
                    .chain(&items[*end..])
                    .cloned()
                    .collect();
                if fails(&candidate)? {
                    items = candidate;
                    granularity = (granularity - 1).max(2);
                    continue 'outer;
                }
            }
        }
        if granularity >= items.len() {
            return Ok(Shrunk {
                items,
                tests,
                minimal: true,
            });
        }
        granularity = (granularity * 2).min(items.len());
    }
    let minimal = items.len() < 2 || tests < max_tests;
    Ok(Shrunk {
        items,
        tests,
        minimal,
    })
}

/// `[start, end)` of `parts` nearly equal chunks of `len` items (`parts <= len`).
fn split(len: usize, parts: usize) -> Vec<(usize, usize)> {
    (0..parts)
        .map(|i| (i * len / parts, (i + 1) * len / parts))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails when `a` appears somewhere before `b` (a synthetic seam bug).
    fn a_then_b(items: &[char]) -> bool {
        items
            .iter()
            .position(|c| *c == 'a')
            .is_some_and(|i| items[i..].contains(&'b'))
    }

    fn shrink(input: &str, budget: usize, fails: fn(&[char]) -> bool) -> (String, Shrunk<char>) {
        let items: Vec<char> = input.chars().collect();
        assert!(fails(&items), "the input must fail");
        let shrunk = ddmin(&items, budget, |c| Ok::<_, ()>(fails(c))).expect("no errors");
        (shrunk.items.iter().collect(), shrunk)
    }

    #[test]
    fn shrinks_a_seam_bug_to_the_two_steps_that_make_it() {
        let (items, shrunk) = shrink("xyazzzwwbq", 1000, a_then_b);
        assert_eq!(items, "ab");
        assert!(shrunk.minimal);
        assert!(shrunk.tests < 60, "{} tests", shrunk.tests);
    }

    #[test]
    fn a_single_culprit_and_a_whole_sequence_that_is_needed_are_both_found() {
        let (items, _) = shrink("uvwxyz", 1000, |c| c.contains(&'x'));
        assert_eq!(items, "x");
        let (items, shrunk) = shrink("abc", 1000, |c| c.len() == 3);
        assert_eq!(items, "abc");
        assert!(shrunk.minimal);
    }

    #[test]
    fn the_result_is_one_minimal() {
        // Fails when it holds at least two 'a's and a 'b' after the first 'a'.
        let fails = |c: &[char]| c.iter().filter(|x| **x == 'a').count() >= 2 && a_then_b(c);
        let (items, shrunk) = shrink("qaqqbqqaq", 1000, fails);
        let chars: Vec<char> = items.chars().collect();
        assert!(fails(&chars));
        for i in 0..chars.len() {
            let mut without = chars.clone();
            without.remove(i);
            assert!(!fails(&without), "{items} without #{i} still fails");
        }
        assert!(shrunk.minimal);
    }

    #[test]
    fn the_budget_bounds_the_tests_and_is_reported() {
        let (items, shrunk) = shrink("xyazzzwwbq", 3, a_then_b);
        assert_eq!(shrunk.tests, 3);
        assert!(!shrunk.minimal);
        assert!(a_then_b(&items.chars().collect::<Vec<_>>()));
    }

    #[test]
    fn errors_stop_shrinking() {
        let result = ddmin(&[1, 2, 3], 10, |_| Err::<bool, _>("hub gone"));
        assert_eq!(result, Err("hub gone"));
    }
}
