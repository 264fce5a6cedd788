//! Planning what the Python parser may skip (see [`super::python`]).

use super::pyscan::{self, LineHead, LogicalLine, Second};

/// Methods whose `self.x = ...` assignments we read as the class's fields.
pub(crate) const CONSTRUCTORS: &[&str] = &["__init__", "__new__", "__post_init__", "setUp"];

/// What the parser may skip, and the simple definitions read from the scanner instead.
pub(crate) struct Plan {
    /// Byte ranges to skip, in order, not overlapping.
    pub elided: Vec<(usize, usize)>,
    /// Skipped `NAME = ...` / `NAME: T` statements at module or class level.
    pub assignments: Vec<SkippedAssignment>,
}

/// A module- or class-level assignment the parser does not see.
#[derive(Debug, Clone)]
pub(crate) struct SkippedAssignment {
    /// Index of its logical line.
    pub line: usize,
    pub in_class: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Module,
    Class,
    /// Inside a function: nothing but nested definitions matters.
    Local,
}

/// What to do with one unit of a module or class body.
enum Decision {
    Keep,
    Elide,
    /// Elide, and record the assignment from the scanner.
    Assignment,
}

/// Plans what the parser skips.
pub(crate) fn plan(source: &str, lines: &[LogicalLine], ends: &[usize]) -> Plan {
    let mut reducer = Reducer {
        source,
        lines,
        ends,
        out: Vec::new(),
        assignments: Vec::new(),
    };
    if !lines.is_empty() {
        reducer.keep_all(0, lines.len() - 1, Scope::Module);
    }
    let assignments = reducer.assignments;
    let mut out = reducer.out;
    out.sort_unstable();
    // Merge touching ranges so that no empty included range sits between them.
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(out.len());
    for (start, end) in out {
        match merged.last_mut() {
            Some(last) if last.1 >= start => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    Plan {
        elided: merged,
        assignments,
    }
}

/// Decides which statements the parser must see.
///
/// A block is a list of units: a statement with its nested block and its clauses (`else`,
/// `except`, ...), or decorators with their definition. Removing whole units keeps the text
/// valid as long as each block keeps one. A function body keeps the units that hold
/// definitions (or, in a constructor, `self.x` lines); if there are none, it keeps the cheapest
/// single statement, descending into `if`/`for`/`with` headers when that is shorter. Module and
/// class bodies drop their simple statements: `NAME = ...` and `NAME: T` are read from the
/// scanner, others define nothing (imports and anything unusual stay).
struct Reducer<'a> {
    source: &'a str,
    lines: &'a [LogicalLine],
    ends: &'a [usize],
    out: Vec<(usize, usize)>,
    assignments: Vec<SkippedAssignment>,
}

impl Reducer<'_> {
    /// The units of the block `from..=to`, as (first line, head line, last line).
    fn units(&self, from: usize, to: usize) -> Vec<(usize, usize, usize)> {
        let lines = self.lines;
        let mut units = Vec::new();
        let mut i = from;
        while i <= to {
            let first = i;
            let mut head = i;
            while lines[head].head == LineHead::Decorator && head < to {
                head += 1;
            }
            let mut last = self.ends[head].clamp(head, to);
            loop {
                let next = last + 1;
                if next > to {
                    break;
                }
                let continues = lines[next].indent > lines[head].indent
                    || (lines[next].head == LineHead::Clause
                        && lines[next].indent == lines[head].indent);
                if !continues {
                    break;
                }
                last = self.ends[next].clamp(next, to);
            }
            units.push((first, head, last));
            i = last + 1;
        }
        units
    }

    /// The bytes of lines `first..=last`, with the comments and blank lines after them.
    fn span(&self, first: usize, last: usize) -> (usize, usize) {
        let end = self
            .lines
            .get(last + 1)
            .map_or(self.lines[last].end, |next| next.start);
        (self.lines[first].start, end)
    }

    fn contains(&self, first: usize, last: usize, pred: impl Fn(LineHead) -> bool) -> bool {
        self.lines[first..=last].iter().any(|l| pred(l.head))
    }

    /// Module level, class bodies, and compound statements holding definitions: definitions
    /// and compound statements stay (function bodies inside are reduced); at module and class
    /// level simple statements go.
    fn keep_all(&mut self, from: usize, to: usize, scope: Scope) {
        let units = self.units(from, to);
        if scope == Scope::Local {
            for (first, head, last) in units {
                self.keep_unit(first, head, last, scope);
            }
            return;
        }
        let mut decisions: Vec<Decision> = units
            .iter()
            .map(|&(first, head, last)| self.decide(first, head, last))
            .collect();
        if scope == Scope::Class && decisions.iter().all(|d| !matches!(d, Decision::Keep)) {
            // A class body cannot be empty: keep its cheapest statement.
            if let Some(i) = (0..units.len()).min_by_key(|&i| self.cost(units[i].1, units[i].2)) {
                decisions[i] = Decision::Keep;
            }
        }
        for (&(first, head, last), decision) in units.iter().zip(decisions) {
            match decision {
                Decision::Keep => self.keep_unit(first, head, last, scope),
                Decision::Elide => {
                    let span = self.span(first, last);
                    self.out.push(span);
                }
                Decision::Assignment => {
                    let span = self.span(first, last);
                    self.out.push(span);
                    self.assignments.push(SkippedAssignment {
                        line: head,
                        in_class: scope == Scope::Class,
                    });
                }
            }
        }
    }

    /// Whether a unit of a module or class body can be skipped.
    fn decide(&self, first: usize, head: usize, last: usize) -> Decision {
        let line = &self.lines[head];
        if first != head || last != head || line.opens_block || line.has_semicolon {
            return Decision::Keep;
        }
        match line.head {
            LineHead::Str | LineHead::SelfAttr => return Decision::Elide,
            LineHead::Other => {}
            _ => return Decision::Keep,
        }
        let Some((start, end)) = line.first_ident else {
            // `(a, b) = ...`, `*rest = ...` and other unusual starts: let the parser see them.
            return Decision::Keep;
        };
        let word = &self.source[start..end];
        if matches!(word, "import" | "from") {
            return Decision::Keep;
        }
        if pyscan::is_keyword(word) {
            return Decision::Elide;
        }
        match line.second {
            Second::Assign | Second::Annotation => Decision::Assignment,
            Second::Comma => Decision::Keep,
            Second::None | Second::Other => Decision::Elide,
        }
    }

    fn keep_unit(&mut self, _first: usize, head: usize, last: usize, scope: Scope) {
        let line = &self.lines[head];
        if !line.opens_block || last == head {
            return;
        }
        match line.head {
            LineHead::Def => self.reduce_function(head),
            LineHead::Class => self.keep_all(head + 1, self.ends[head].min(last), Scope::Class),
            _ if self.contains(head, last, |h| matches!(h, LineHead::Def | LineHead::Class)) => {
                // `if TYPE_CHECKING:` and the like: walk each clause's block.
                let mut clause = head;
                while clause <= last {
                    let block_end = self.ends[clause].clamp(clause, last);
                    if block_end > clause {
                        self.keep_all(clause + 1, block_end, scope);
                    }
                    clause = block_end + 1;
                }
            }
            _ => {}
        }
    }

    fn reduce_function(&mut self, header: usize) {
        let body_end = self.ends[header];
        if body_end <= header {
            return;
        }
        let name = self.lines[header]
            .def_name
            .map_or("", |(s, e)| &self.source[s..e]);
        let constructor = CONSTRUCTORS.contains(&name);
        let units = self.units(header + 1, body_end);
        let needed: Vec<bool> = units
            .iter()
            .map(|&(first, _, last)| {
                self.contains(first, last, |h| {
                    matches!(h, LineHead::Def | LineHead::Class)
                        || (constructor && h == LineHead::SelfAttr)
                })
            })
            .collect();
        if needed.iter().any(|&n| n) {
            for (&(first, head, last), &need) in units.iter().zip(&needed) {
                if need {
                    if self.contains(first, last, |h| {
                        matches!(h, LineHead::Def | LineHead::Class)
                    }) {
                        self.keep_unit(first, head, last, Scope::Local);
                    }
                } else {
                    let span = self.span(first, last);
                    self.out.push(span);
                }
            }
            return;
        }
        self.keep_cheapest(&units);
    }

    /// Keeps the one unit of `units` that costs the parser least, reduced; elides the rest.
    fn keep_cheapest(&mut self, units: &[(usize, usize, usize)]) {
        let best = units
            .iter()
            .enumerate()
            .min_by_key(|(_, u)| self.cost(u.1, u.2))
            .map(|(i, _)| i);
        let Some(best) = best else {
            return;
        };
        for (i, &(first, _, last)) in units.iter().enumerate() {
            if i != best {
                let span = self.span(first, last);
                self.out.push(span);
            }
        }
        let (_, head, last) = units[best];
        self.reduce_to_one(head, last);
    }

    /// For a simple statement that stays valid cut down to its first word (`return`, `pass`,
    /// `raise`, or a name: `x = f(y)` becomes the expression statement `x`): where the word
    /// ends. Only for function bodies, where such a statement defines nothing either way.
    fn short_form(&self, head: usize, last: usize) -> Option<usize> {
        let line = &self.lines[head];
        if head != last
            || line.opens_block
            || line.head != LineHead::Other
            || line.first_token_end >= line.last_token_end
        {
            return None;
        }
        let (start, end) = line.first_ident?;
        let word = &self.source[start..end];
        let allowed = matches!(
            word,
            "return"
                | "pass"
                | "raise"
                | "yield"
                | "break"
                | "continue"
                | "None"
                | "True"
                | "False"
        ) || !pyscan::is_keyword(word);
        (allowed && end == line.first_token_end).then_some(end)
    }

    /// Where the newline ending logical line `idx` is (or the end of the file).
    fn newline_at(&self, idx: usize) -> usize {
        let end = self.lines[idx].end;
        if end > 0 && self.source.as_bytes()[end - 1] == b'\n' {
            end - 1
        } else {
            end
        }
    }

    /// Bytes the parser sees if unit `head..=last` is reduced to its cheapest valid form.
    fn cost(&self, head: usize, last: usize) -> usize {
        let line = &self.lines[head];
        let whole = self.lines[last].end - line.start;
        if let Some(word_end) = self.short_form(head, last) {
            return word_end - line.start + (line.end - self.newline_at(head));
        }
        if !line.opens_block || line.head == LineHead::Try {
            return whole;
        }
        let block_end = self.ends[head].min(last);
        if block_end <= head {
            return whole;
        }
        let inner = self
            .units(head + 1, block_end)
            .iter()
            .map(|u| self.cost(u.1, u.2))
            .min()
            .unwrap_or(whole);
        (line.end - line.start + inner).min(whole)
    }

    fn reduce_to_one(&mut self, head: usize, last: usize) {
        let line = &self.lines[head];
        if let Some(word_end) = self.short_form(head, last) {
            let newline = self.newline_at(head);
            if word_end < newline {
                self.out.push((word_end, newline));
            }
            return;
        }
        if !line.opens_block || line.head == LineHead::Try {
            return;
        }
        let block_end = self.ends[head].min(last);
        if block_end <= head {
            return;
        }
        let inner = self.units(head + 1, block_end);
        let whole = self.lines[last].end - line.start;
        let reduced = line.end - line.start
            + inner
                .iter()
                .map(|u| self.cost(u.1, u.2))
                .min()
                .unwrap_or(whole);
        if reduced >= whole {
            return;
        }
        if block_end < last {
            // Drop the `else`/`elif` clauses; the first clause alone is valid.
            let span = self.span(block_end + 1, last);
            self.out.push(span);
        }
        self.keep_cheapest(&inner);
    }
}
