//! Ranking candidates: the most checks passed first; among those, equivalent changes (same
//! normal form) vote, and the largest group wins. What remains tied goes to the judge.

use std::collections::BTreeMap;

/// A candidate as the vote sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ballot {
    pub attempt: usize,
    /// Checks passed in the test matrix.
    pub passed: usize,
    /// The diff's normal form ([`super::diffs::normalise`]).
    pub normal: String,
}

/// What the vote decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteOutcome {
    /// The most checks any candidate passed.
    pub best_passed: usize,
    /// Attempts that passed that many.
    pub best: Vec<usize>,
    /// Groups of equivalent changes among the best, largest first (each group's attempts in
    /// order; ties between groups by their first attempt).
    pub groups: Vec<Vec<usize>>,
    /// The winner when one group is larger than every other; `None` = a tie for the judge.
    pub winner: Option<usize>,
}

impl VoteOutcome {
    /// The groups tied at the top (more than one when the vote did not decide).
    pub fn tied(&self) -> Vec<&Vec<usize>> {
        let top = self.groups.first().map_or(0, Vec::len);
        self.groups.iter().filter(|g| g.len() == top).collect()
    }
}

/// Ranks `ballots` (at least one).
pub fn vote(ballots: &[Ballot]) -> VoteOutcome {
    let best_passed = ballots.iter().map(|b| b.passed).max().unwrap_or(0);
    let best: Vec<&Ballot> = ballots.iter().filter(|b| b.passed == best_passed).collect();
    let mut by_normal: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for ballot in &best {
        by_normal
            .entry(ballot.normal.as_str())
            .or_default()
            .push(ballot.attempt);
    }
    let mut groups: Vec<Vec<usize>> = by_normal.into_values().collect();
    for group in &mut groups {
        group.sort_unstable();
    }
    groups.sort_by(|a, b| b.len().cmp(&a.len()).then(a[0].cmp(&b[0])));
    let winner = match groups.as_slice() {
        [only] => Some(only[0]),
        [first, second, ..] if first.len() > second.len() => Some(first[0]),
        _ => None,
    };
    VoteOutcome {
        best_passed,
        best: best.iter().map(|b| b.attempt).collect(),
        groups,
        winner,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(attempt: usize, passed: usize, normal: &str) -> Ballot {
        Ballot {
            attempt,
            passed,
            normal: normal.into(),
        }
    }

    #[test]
    fn tests_rank_first_then_equivalent_changes_vote() {
        // The only one passing more checks wins, whatever the votes.
        let v = vote(&[b(1, 1, "x"), b(2, 1, "x"), b(3, 2, "y")]);
        assert_eq!((v.best_passed, v.winner), (2, Some(3)));
        // Two equivalent changes outvote a third.
        let v = vote(&[b(1, 2, "y"), b(2, 2, "x"), b(3, 2, "x")]);
        assert_eq!(v.winner, Some(2));
        assert_eq!(v.groups, vec![vec![2, 3], vec![1]]);
        // A tie between groups is left to the judge.
        let v = vote(&[b(1, 0, "a"), b(2, 0, "b"), b(3, 0, "c")]);
        assert_eq!(v.winner, None);
        assert_eq!(v.tied().len(), 3);
        let v = vote(&[b(1, 0, "a"), b(2, 0, "b"), b(3, 0, "a"), b(4, 0, "b")]);
        assert_eq!(v.winner, None);
        assert_eq!(v.tied(), vec![&vec![1, 3], &vec![2, 4]]);
    }
}
