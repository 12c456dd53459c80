//! The TCS tables and columns the jobs read or write: what must exist before the project's own
//! migrations run. In AWS the TCS database owns these tables and the migrations never create
//! them (they check them, and name each one missing); locally and in tests a fixture creates
//! exactly these (shared/migrations/fixture/tcs.sql, held to this list by a test).

use std::collections::BTreeSet;

/// A TCS table, by its name in schema `tcs`, and the columns the jobs use.
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
}

/// Every TCS table the jobs use (docs/contract.md, "Postgres").
pub const TABLES: &[Table] = &[
    Table {
        name: "person",
        columns: &["id", "intrepid_id", "role", "status", "public_health_number", "added_date", "amended_date"],
    },
    Table { name: "contact_details", columns: &["id", "surname", "forenames"] },
    Table { name: "gmc_details", columns: &["id", "gmc_number"] },
    Table { name: "gdc_details", columns: &["id", "gdc_number"] },
    Table { name: "programme", columns: &["id", "owner", "programme_name", "programme_number", "status"] },
    Table {
        name: "programme_membership",
        columns: &[
            "uuid",
            "person_id",
            "programme_id",
            "programme_start_date",
            "programme_end_date",
            "programme_membership_type",
        ],
    },
    Table { name: "curriculum_membership", columns: &["id", "programme_membership_uuid", "curriculum_id"] },
    Table {
        name: "post",
        columns: &[
            "id",
            "employing_body_id",
            "training_body_id",
            "owner",
            "national_post_number",
            "status",
            "funding_status",
            "intrepid_id",
        ],
    },
    Table {
        name: "placement",
        columns: &[
            "id",
            "trainee_id",
            "post_id",
            "date_from",
            "date_to",
            "grade_id",
            "grade_abbreviation",
            "site_id",
            "site_code",
            "placement_type",
            "status",
            "lifecycle_state",
        ],
    },
    Table { name: "specialty", columns: &["id", "name", "specialty_code"] },
    Table { name: "placement_specialty", columns: &["placement_id", "specialty_id", "placement_specialty_type"] },
    Table { name: "person_owner", columns: &["id", "owner", "rule"] },
    Table { name: "person_trust", columns: &["person_id", "trust_id"] },
    Table { name: "post_trust", columns: &["post_id", "trust_id"] },
    Table { name: "post_funding", columns: &["id", "post_id", "start_date", "end_date", "funding_type"] },
    Table { name: "post_grade", columns: &["id", "post_id", "grade_id", "post_grade_type"] },
    Table { name: "post_specialty", columns: &["id", "post_id", "specialty_id", "post_specialty_type"] },
    Table { name: "post_site", columns: &["id", "post_id", "site_id", "post_site_type"] },
    Table { name: "programme_post", columns: &["id", "post_id", "programme_id"] },
];

/// What of `TABLES` is not among `present` ((table, column) pairs of schema `tcs`): a table
/// with none of its columns present as `tcs.<table>`, else each missing column as
/// `tcs.<table>.<column>`, in the list's order.
pub fn missing(present: &BTreeSet<(String, String)>) -> Vec<String> {
    let has = |table: &str, column: &str| present.contains(&(table.to_string(), column.to_string()));
    let mut missing = Vec::new();
    for table in TABLES {
        if !present.iter().any(|(name, _)| name == table.name) {
            missing.push(format!("tcs.{}", table.name));
            continue;
        }
        missing.extend(table.columns.iter().filter(|c| !has(table.name, c)).map(|c| format!("tcs.{}.{c}", table.name)));
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> BTreeSet<(String, String)> {
        TABLES.iter().flat_map(|t| t.columns.iter().map(|c| (t.name.to_string(), c.to_string()))).collect()
    }

    #[test]
    fn nothing_is_missing_when_every_column_is_there_and_extra_columns_do_not_matter() {
        let mut present = all();
        present.insert(("person".into(), "gender_id".into()));
        present.insert(("audit_log".into(), "id".into()));
        assert_eq!(missing(&present), Vec::<String>::new());
    }

    #[test]
    fn an_absent_table_is_named_once_and_an_absent_column_by_its_table() {
        let mut present = all();
        present.retain(|(table, column)| {
            table != "post_grade" && (table, column) != (&"post".into(), &"intrepid_id".into())
        });
        present.remove(&("specialty".to_string(), "specialty_code".to_string()));
        assert_eq!(missing(&present), vec!["tcs.post.intrepid_id", "tcs.specialty.specialty_code", "tcs.post_grade"]);
    }

    #[test]
    fn an_empty_database_lacks_every_table() {
        let named = missing(&BTreeSet::new());
        assert_eq!(named.len(), TABLES.len());
        assert!(named.iter().all(|n| n.matches('.').count() == 1), "{named:?}");
    }

    #[test]
    fn the_list_names_each_table_and_column_once() {
        let tables: BTreeSet<&str> = TABLES.iter().map(|t| t.name).collect();
        assert_eq!(tables.len(), TABLES.len());
        assert_eq!(all().len(), TABLES.iter().map(|t| t.columns.len()).sum::<usize>());
    }
}
