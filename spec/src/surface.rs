//! The spec surface (what the system claims to support) and the glob matching that cells,
//! rules and state keys share.
//!
//! Owns: enumerating cells, validity under the rules, blocked cells, and `*`/`**` globs over
//! dotted names. Must not touch: scenarios' results (coverage is computed by the caller from
//! which cells have an L4-green scenario).

use crate::model::{BlockedCell, Surface};

/// One combination of dimension values, in dimension order.
pub type Cell = Vec<(String, String)>;

/// `*` matches any run of characters without a `.`; `**` matches anything; everything else
/// is literal. `light.*.on` matches `light.kitchen.on`, not `light.kitchen.brightness`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        // Iterative over the pattern; recursion only at stars, bounded by the text length.
        match p.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) if rest.first() == Some(&b'*') => {
                let rest = &rest[1..];
                (0..=t.len()).any(|i| go(rest, &t[i..]))
            }
            Some((b'*', rest)) => {
                for i in 0..=t.len() {
                    if go(rest, &t[i..]) {
                        return true;
                    }
                    if t.get(i) == Some(&b'.') {
                        return false;
                    }
                }
                false
            }
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

fn matches(assignment: &[(String, Vec<String>)], cell: &Cell) -> bool {
    assignment.iter().all(|(dim, globs)| {
        cell.iter()
            .find(|(d, _)| d == dim)
            .is_some_and(|(_, value)| globs.iter().any(|g| glob_match(g, value)))
    })
}

impl Surface {
    /// Every combination of dimension values, in dimension order (the first dimension varies
    /// slowest). The caller bounds the product when the surface is loaded.
    pub fn cells(&self) -> Vec<Cell> {
        let mut cells: Vec<Cell> = vec![Vec::new()];
        for (dim, values) in &self.dimensions {
            let mut next = Vec::with_capacity(cells.len() * values.len());
            for cell in &cells {
                for value in values {
                    let mut c = cell.clone();
                    c.push((dim.clone(), value.clone()));
                    next.push(c);
                }
            }
            cells = next;
        }
        cells
    }

    /// The first rule a cell breaks, if any.
    pub fn broken_rule(&self, cell: &Cell) -> Option<usize> {
        self.rules
            .iter()
            .position(|rule| matches(&rule.when, cell) && !matches(&rule.require, cell))
    }

    pub fn is_valid(&self, cell: &Cell) -> bool {
        self.broken_rule(cell).is_none()
    }

    /// The blocked entry covering a cell, if any.
    pub fn blocked(&self, cell: &Cell) -> Option<&BlockedCell> {
        self.blocked.iter().find(|b| {
            b.cell.iter().all(|(dim, glob)| {
                cell.iter()
                    .find(|(d, _)| d == dim)
                    .is_some_and(|(_, value)| glob_match(glob, value))
            })
        })
    }
}

/// Does a (possibly partial) assignment cover a cell?
pub fn covers(partial: &[(String, String)], cell: &Cell) -> bool {
    partial.iter().all(|(dim, value)| {
        cell.iter()
            .find(|(d, _)| d == dim)
            .is_some_and(|(_, v)| v == value)
    })
}
