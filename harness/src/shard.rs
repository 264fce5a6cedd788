//! `--shard I/N`: a stable partition of a dataset by instance id, so that N machines (or N pods of
//! a Kubernetes Indexed Job, `I = JOB_COMPLETION_INDEX`) each take a disjoint part and together
//! take all of it, whatever the dataset's order and whatever other instances it holds.
//!
//! An instance belongs to shard `I` of `N` when the first eight bytes of the SHA-256 of its id
//! (UTF-8), read as a big-endian integer, are `I` modulo `N`. The rule depends on the id alone:
//! the same id lands in the same shard in every dataset file, every run and every version.

use sha2::{Digest, Sha256};

use crate::dataset::Dataset;
use crate::error::{HarnessError, Result};

/// Shard `index` of `count` (0-based, as `JOB_COMPLETION_INDEX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || {
            format!(
                "`--shard {s}` is not of the form I/N with 0 <= I < N (e.g. 0/4 .. 3/4; in a \
                 Kubernetes Indexed Job, $JOB_COMPLETION_INDEX/N)"
            )
        };
        let (index, count) = s.trim().split_once('/').ok_or_else(bad)?;
        let index: u64 = index.trim().parse().map_err(|_| bad())?;
        let count: u64 = count.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The shard (0-based, of `count`) that `instance_id` belongs to.
pub fn shard_of(instance_id: &str, count: u64) -> u64 {
    let digest = Sha256::digest(instance_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % count.max(1)
}

impl Shard {
    pub fn contains(&self, instance_id: &str) -> bool {
        shard_of(instance_id, self.count) == self.index
    }
}

impl Dataset {
    /// The instances of `shard`, in dataset order (all of them without a shard).
    pub fn shard(&self, shard: Option<Shard>) -> Result<Self> {
        let Some(shard) = shard else {
            return Ok(self.clone());
        };
        if shard.count == 0 {
            return Err(HarnessError::Invalid("--shard needs N > 0".into()));
        }
        Ok(Self {
            instances: self
                .instances
                .iter()
                .filter(|i| shard.contains(&i.instance_id))
                .cloned()
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_refuse_bad_forms() {
        assert_eq!(
            "2/5".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 5 }
        );
        for bad in ["5/5", "1/0", "a/2", "3", "-1/2", ""] {
            let err = bad.parse::<Shard>().unwrap_err();
            assert!(err.contains("I/N"), "{err}");
        }
    }

    #[test]
    fn every_id_is_in_exactly_one_shard_and_the_rule_is_fixed() {
        let ids: Vec<String> = (0..200).map(|i| format!("owner__repo-{i}")).collect();
        for count in [1, 2, 3, 7] {
            let mut seen = 0;
            for index in 0..count {
                let shard = Shard { index, count };
                seen += ids.iter().filter(|id| shard.contains(id)).count();
            }
            assert_eq!(seen, ids.len());
        }
        // The documented rule: SHA-256("django__django-11099")[..8] as big-endian, mod N.
        let digest = Sha256::digest(b"django__django-11099");
        let n = u64::from_be_bytes(digest[..8].try_into().unwrap());
        assert_eq!(shard_of("django__django-11099", 4), n % 4);
        // Not all in one shard.
        let sizes: Vec<usize> = (0..4)
            .map(|index| {
                ids.iter()
                    .filter(|id| Shard { index, count: 4 }.contains(id))
                    .count()
            })
            .collect();
        assert!(sizes.iter().all(|&s| s > 20), "{sizes:?}");
    }
}
