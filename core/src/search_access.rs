//! What the OpenSearch domain must let each function do. The domain is not the stack's: its
//! access policy and, with fine-grained access control, its security plugin's roles are applied
//! by an operator (RUNBOOK, "First deploy into an account"). template.yaml gives each function's
//! IAM role its side (`es:ESHttp*` on exactly its paths); this module says the domain's side,
//! which `tis-sync opensearch-access` prints for the deployed names.
//!
//! The permissions are OpenSearch's own names: the default action groups
//! (docs.opensearch.org/latest/security/access-control/default-action-groups/) and single
//! actions (docs.opensearch.org/latest/security/access-control/permissions/), for exactly the
//! requests `shared::search` makes.

use serde::Serialize;

use crate::{Function, JobName};

/// The two indexes, by the aliases readers query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    Persons,
    Posts,
}

/// The aliases as deployed (the template's PersonsIndexAlias and PostsIndexAlias).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aliases {
    pub persons: String,
    pub posts: String,
}

impl Aliases {
    pub fn of(&self, kind: IndexKind) -> &str {
        match kind {
            IndexKind::Persons => &self.persons,
            IndexKind::Posts => &self.posts,
        }
    }
}

/// What a function does on the domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchUse {
    /// Rebuilds one index behind its alias: creates `<alias>-*` indexes, fills them (bulk),
    /// changes their settings, refreshes and counts them, moves the alias, deletes old ones.
    Rebuilds(IndexKind),
    /// Reads each alias and counts the index behind it (sync-status).
    Reads(&'static [IndexKind]),
}

impl Function {
    /// What it does on the search domain, if anything (`AwsService::OpenSearch` is in its
    /// `aws_services` exactly when this is `Some`; a test holds the two together).
    pub fn search_use(self) -> Option<SearchUse> {
        match self {
            Function::Job(JobName::PersonElasticsearchSync) => Some(SearchUse::Rebuilds(IndexKind::Persons)),
            Function::Job(JobName::PostElasticsearchSync) => Some(SearchUse::Rebuilds(IndexKind::Posts)),
            Function::SyncStatus => Some(SearchUse::Reads(&[IndexKind::Persons, IndexKind::Posts])),
            _ => None,
        }
    }
}

/// Index permissions on some index patterns, as the security plugin's role API writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexPermission {
    pub index_patterns: Vec<String>,
    pub allowed_actions: Vec<&'static str>,
}

/// A fine-grained access control role (`PUT _plugins/_security/api/roles/<name>`'s body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DomainRole {
    pub cluster_permissions: Vec<&'static str>,
    pub index_permissions: Vec<IndexPermission>,
}

impl SearchUse {
    /// The HTTP methods it sends, as the domain's access policy names them (the same actions
    /// its IAM policy in template.yaml allows; a test holds them equal).
    pub fn http_actions(self) -> &'static [&'static str] {
        match self {
            SearchUse::Rebuilds(_) => {
                &["es:ESHttpDelete", "es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut"]
            }
            SearchUse::Reads(_) => &["es:ESHttpGet"],
        }
    }

    /// Its role under fine-grained access control, for the deployed aliases.
    pub fn domain_role(self, aliases: &Aliases) -> DomainRole {
        match self {
            SearchUse::Rebuilds(kind) => {
                let alias = aliases.of(kind);
                DomainRole {
                    // A bulk request and an alias change are checked at the cluster level first.
                    cluster_permissions: vec!["cluster_composite_ops"],
                    index_permissions: vec![
                        IndexPermission {
                            index_patterns: vec![format!("{alias}-*")],
                            allowed_actions: vec![
                                "create_index",
                                "write",
                                "read",
                                "manage_aliases",
                                "indices:admin/get",
                                "indices:admin/settings/update",
                                "indices:admin/refresh*",
                                "indices:admin/delete",
                            ],
                        },
                        // Moving the alias is checked on the alias's name as well.
                        IndexPermission {
                            index_patterns: vec![alias.to_string()],
                            allowed_actions: vec!["manage_aliases"],
                        },
                    ],
                }
            }
            SearchUse::Reads(kinds) => DomainRole {
                cluster_permissions: vec!["cluster_composite_ops_ro"],
                index_permissions: vec![IndexPermission {
                    index_patterns: kinds
                        .iter()
                        .flat_map(|&kind| [aliases.of(kind).to_string(), format!("{}-*", aliases.of(kind))])
                        .collect(),
                    allowed_actions: vec!["read", "indices:admin/aliases/get"],
                }],
            },
        }
    }
}

/// Whether an OpenSearch index pattern (`*` matches any run of characters) matches `name`.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            let Some(rest) = name.strip_prefix(head) else { return false };
            (0..=rest.len()).any(|i| rest.is_char_boundary(i) && pattern_matches(tail, &rest[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::function::AwsService;
    use crate::search_index::concrete_name;

    fn aliases() -> Aliases {
        Aliases { persons: "persons-stage".into(), posts: "posts".into() }
    }

    fn covers(role: &DomainRole, name: &str) -> bool {
        role.index_permissions.iter().any(|p| p.index_patterns.iter().any(|pattern| pattern_matches(pattern, name)))
    }

    #[test]
    fn exactly_the_functions_that_call_opensearch_have_a_use_on_the_domain() {
        for function in Function::all() {
            assert_eq!(
                function.search_use().is_some(),
                function.aws_services().contains(&AwsService::OpenSearch),
                "{function}"
            );
        }
    }

    #[test]
    fn a_rebuilds_role_covers_the_indexes_it_builds_and_its_alias_and_nothing_of_the_other_alias() {
        let aliases = aliases();
        let persons = SearchUse::Rebuilds(IndexKind::Persons).domain_role(&aliases);
        let built = concrete_name("persons-stage", chrono::Utc::now(), "run-1");
        assert!(covers(&persons, &built), "{built}");
        assert!(covers(&persons, "persons-stage"));
        assert!(!covers(&persons, &concrete_name("posts", chrono::Utc::now(), "run-1")));
        assert!(!covers(&persons, "posts"));
        // Another stage's persons alias (`persons`) is not this stage's.
        assert!(!covers(&persons, "persons"));
    }

    #[test]
    fn the_status_role_reads_both_aliases_and_writes_nothing() {
        let aliases = aliases();
        let status = Function::SyncStatus.search_use().unwrap();
        let role = status.domain_role(&aliases);
        for name in ["persons-stage", "posts", &concrete_name("posts", chrono::Utc::now(), "r")] {
            assert!(covers(&role, name), "{name}");
        }
        let actions: Vec<&str> = role.index_permissions.iter().flat_map(|p| p.allowed_actions.clone()).collect();
        assert!(actions.iter().all(|a| !a.contains("write") && !a.contains("delete") && !a.contains("create")));
        assert_eq!(status.http_actions(), ["es:ESHttpGet"]);
    }

    #[test]
    fn patterns_match_as_opensearch_expands_a_star() {
        assert!(pattern_matches("posts-*", "posts-20261205000000-r"));
        assert!(pattern_matches("posts-*", "posts-"));
        assert!(!pattern_matches("posts-*", "posts"));
        assert!(pattern_matches("posts", "posts"));
        assert!(!pattern_matches("posts", "postsx"));
        assert!(pattern_matches("a*b*c", "axxbyyc"));
        assert!(!pattern_matches("a*b*c", "axxbyy"));
    }
}
