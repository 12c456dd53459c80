//! The search indexes' names, and which concrete indexes a rebuild may delete.
//!
//! Readers query an alias (`persons`, `posts`, a stage's `persons-stage`); behind it stand
//! concrete indexes named `<alias>-<UTC yyyymmddHHMMSS>-<run>`, which sort by age. Several
//! stages may share one domain, so a name must belong to one alias only: an alias is lower-case
//! words joined by `-`, each word starting with a letter, so no alias's concrete indexes (a
//! `-`, then fourteen digits) can be taken for another's. And whatever a name says, an index
//! that any alias points at is never deleted (docs/search-index.md "Invariants").

use chrono::{DateTime, Utc};

use crate::{InvalidInput, Result};

/// What an alias may be, as template.yaml's `AllowedPattern` writes it (CloudFormation
/// matches the whole value); `check_alias` is the same rule.
pub const ALIAS_PATTERN: &str = "[a-z][a-z0-9_]*(-[a-z][a-z0-9_]*)*";

/// OpenSearch's limit on an index name is 255 bytes; the concrete suffix takes about 25.
const MAX_ALIAS_BYTES: usize = 200;

const TIMESTAMP_DIGITS: usize = 14;

/// Refuses an alias that breaks `ALIAS_PATTERN`, naming the setting it came from.
pub fn check_alias(setting: &str, alias: &str) -> Result<()> {
    let word_ok = |word: &str| {
        let mut chars = word.chars();
        chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    if alias.len() > MAX_ALIAS_BYTES || !alias.split('-').all(word_ok) {
        return Err(InvalidInput(format!(
            "{setting} is '{alias}': an alias is lower-case words (letters, digits, _) joined by '-', each word \
             starting with a letter, at most {MAX_ALIAS_BYTES} characters, so that no alias's indexes can be taken \
             for another's"
        )));
    }
    Ok(())
}

/// The name of the index a run builds for `alias`.
pub fn concrete_name(alias: &str, at: DateTime<Utc>, run_label: &str) -> String {
    format!("{alias}-{}-{}", at.format("%Y%m%d%H%M%S"), run_label).to_lowercase()
}

/// Whether `name` is one of `alias`'s concrete indexes: `<alias>-<14 digits>-<run>`.
pub fn is_concrete_of(alias: &str, name: &str) -> bool {
    let Some(rest) = name.strip_prefix(alias).and_then(|r| r.strip_prefix('-')) else { return false };
    let (Some(stamp), Some(run)) = (rest.get(..TIMESTAMP_DIGITS), rest.get(TIMESTAMP_DIGITS..)) else { return false };
    stamp.bytes().all(|b| b.is_ascii_digit()) && run.strip_prefix('-').is_some_and(|r| !r.is_empty())
}

/// A concrete index and the aliases that point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concrete {
    pub name: String,
    pub aliases: Vec<String>,
}

impl Concrete {
    fn aliased(&self) -> bool {
        !self.aliases.is_empty()
    }
}

/// Before a build: `alias`'s concrete indexes that no reader can reach and no rollback needs,
/// to delete. Kept: every index some alias points at, and the rollback index (the newest one
/// older than the oldest the alias points at). Indexes newer than the alias's were built by runs
/// that never moved it (they failed or their process died). With no alias yet, every unaliased
/// index of it is a leftover.
pub fn orphans(alias: &str, existing: &[Concrete]) -> Vec<String> {
    let ours: Vec<&Concrete> = existing.iter().filter(|c| is_concrete_of(alias, &c.name)).collect();
    let oldest_live = ours.iter().filter(|c| c.aliases.iter().any(|a| a == alias)).map(|c| &c.name).min();
    let rollback =
        oldest_live.and_then(|live| ours.iter().filter(|c| &c.name < live && !c.aliased()).map(|c| &c.name).max());
    ours.iter().filter(|c| !c.aliased() && Some(&c.name) != rollback).map(|c| c.name.clone()).collect()
}

/// After the alias moved to `built`: `alias`'s concrete indexes to delete. Kept: `built`, the
/// indexes the alias left (`previous`, for rollback), and every index some alias points at.
pub fn superseded(alias: &str, existing: &[Concrete], built: &str, previous: &[String]) -> Vec<String> {
    existing
        .iter()
        .filter(|c| is_concrete_of(alias, &c.name) && !c.aliased() && c.name != built && !previous.contains(&c.name))
        .map(|c| c.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(name: &str, aliases: &[&str]) -> Concrete {
        Concrete { name: name.into(), aliases: aliases.iter().map(|a| a.to_string()).collect() }
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn aliases_are_words_starting_with_a_letter() {
        for good in ["persons", "posts", "persons-stage", "persons_0a1b2c", "people-v2-blue"] {
            assert_eq!(check_alias("PERSONS_INDEX_ALIAS", good), Ok(()), "{good}");
        }
        for bad in ["", "Persons", "persons-", "-persons", "persons-20240101000000", "persons-2", "a b", "persons*"] {
            let error = check_alias("PERSONS_INDEX_ALIAS", bad).unwrap_err().to_string();
            assert!(error.contains("PERSONS_INDEX_ALIAS") && error.contains(&format!("'{bad}'")), "{error}");
        }
        assert!(check_alias("X", &"a".repeat(201)).is_err());
    }

    #[test]
    fn a_concrete_name_belongs_to_its_own_alias_only() {
        let at: DateTime<Utc> = "2024-08-04T01:02:03Z".parse().unwrap();
        let stage = concrete_name("persons-stage", at, "AB12cd34");
        assert_eq!(stage, "persons-stage-20240804010203-ab12cd34");
        assert!(is_concrete_of("persons-stage", &stage));
        assert!(!is_concrete_of("persons", &stage), "prod's alias must not claim stage's index");
        let prod = concrete_name("persons", at, "ab12cd34");
        assert!(is_concrete_of("persons", &prod));
        assert!(!is_concrete_of("persons-stage", &prod));
        for not_ours in
            ["persons", "persons-", "persons-2024080401020-x", "persons-20240804010203", "persons-20240804010203-"]
        {
            assert!(!is_concrete_of("persons", not_ours), "{not_ours}");
        }
    }

    #[test]
    fn orphans_are_every_unaliased_index_but_the_rollback_one() {
        let existing = vec![
            index("p-20240101000000-a", &[]),
            index("p-20240102000000-b", &[]),
            index("p-20240103000000-live", &["p"]),
            index("p-20240104000000-dead", &[]),
            index("p-20240105000000-dead", &[]),
        ];
        assert_eq!(
            orphans("p", &existing),
            names(&["p-20240101000000-a", "p-20240104000000-dead", "p-20240105000000-dead"])
        );
        // Rolled back to an older index: the newer one is what was rolled back from.
        let mut rolled_back = existing.clone();
        rolled_back[1].aliases = vec!["p".into()];
        rolled_back[2].aliases = vec![];
        assert_eq!(
            orphans("p", &rolled_back),
            names(&["p-20240103000000-live", "p-20240104000000-dead", "p-20240105000000-dead"])
        );
        assert_eq!(orphans("p", &[index("p-20240101000000-x", &[])]), names(&["p-20240101000000-x"]));
    }

    #[test]
    fn an_index_any_alias_points_at_is_never_an_orphan_nor_superseded() {
        let existing = vec![
            // Another reader's alias on an index named like ours: kept.
            index("p-20240101000000-a", &["reports"]),
            index("p-20240102000000-b", &[]),
            // Another stage sharing the prefix: not ours at all.
            index("p-stage-20240101000000-s", &["p-stage"]),
            index("p-stage-20240102000000-t", &[]),
        ];
        // No alias yet (a lost swap's next run): only the unaliased index of ours goes.
        assert_eq!(orphans("p", &existing), names(&["p-20240102000000-b"]));
        let mut after = existing.clone();
        after.push(index("p-20240103000000-new", &["p"]));
        assert_eq!(superseded("p", &after, "p-20240103000000-new", &[]), names(&["p-20240102000000-b"]));
        assert_eq!(
            superseded("p", &after, "p-20240103000000-new", &names(&["p-20240102000000-b"])),
            Vec::<String>::new()
        );
    }
}
