//! The TCS tables and columns the jobs read or write: what must exist before the project's own
//! migrations run. In AWS the TCS database owns these tables and the migrations never create
//! them (they check them, and name each one missing); locally and in tests a fixture creates
//! exactly these (shared/migrations/fixture/tcs.sql, held to this list by a test).

use std::collections::BTreeMap;

/// A TCS table, by its name in schema `tcs`, and the columns the jobs use.
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
    /// The columns the jobs' INSERTs give, for the tables they add rows to: every other column
    /// of TCS's table must allow NULL or have a default (TCS's auto-increment `id`, say).
    pub inserted: &'static [&'static str],
}

/// A column of a table in schema `tcs`, as the catalog describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// NOT NULL with neither a default nor an identity: an INSERT must give it.
    pub required: bool,
}

/// Every TCS table the jobs use (docs/contract.md, "Postgres").
pub const TABLES: &[Table] = &[
    Table {
        name: "person",
        columns: &["id", "intrepid_id", "role", "status", "public_health_number", "added_date", "amended_date"],
        inserted: &[],
    },
    Table { name: "contact_details", columns: &["id", "surname", "forenames"], inserted: &[] },
    Table { name: "gmc_details", columns: &["id", "gmc_number"], inserted: &[] },
    Table { name: "gdc_details", columns: &["id", "gdc_number"], inserted: &[] },
    Table {
        name: "programme",
        columns: &["id", "owner", "programme_name", "programme_number", "status"],
        inserted: &[],
    },
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
        inserted: &[],
    },
    Table {
        name: "curriculum_membership",
        columns: &["id", "programme_membership_uuid", "curriculum_id"],
        inserted: &[],
    },
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
        inserted: &[],
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
        inserted: &[],
    },
    Table { name: "specialty", columns: &["id", "name", "specialty_code"], inserted: &[] },
    Table {
        name: "placement_specialty",
        columns: &["placement_id", "specialty_id", "placement_specialty_type"],
        inserted: &[],
    },
    Table { name: "person_owner", columns: &["id", "owner", "rule"], inserted: &[] },
    // TCS's PersonTrust and PostTrust (V3.75__trust_admin.sql) key rows by an auto-increment
    // `id` and carry a nullable `trustCode` and `trustName` the jobs leave empty, as TIS-SYNC did.
    Table { name: "person_trust", columns: &["id", "person_id", "trust_id"], inserted: &["person_id", "trust_id"] },
    Table { name: "post_trust", columns: &["id", "post_id", "trust_id"], inserted: &["post_id", "trust_id"] },
    Table {
        name: "post_funding",
        columns: &["id", "post_id", "start_date", "end_date", "funding_type"],
        inserted: &[],
    },
    Table { name: "post_grade", columns: &["id", "post_id", "grade_id", "post_grade_type"], inserted: &[] },
    Table { name: "post_specialty", columns: &["id", "post_id", "specialty_id", "post_specialty_type"], inserted: &[] },
    Table { name: "post_site", columns: &["id", "post_id", "site_id", "post_site_type"], inserted: &[] },
    // TCS's PlacementEsrEvent (V4.0__TISNEW-4989_esr_placement_export.sql): every column NOT
    // NULL, the id auto-increment. The exporter writes one per exported record.
    Table {
        name: "placement_esr_event",
        columns: &["id", "placement_id", "event_date_time", "filename", "position_number", "position_id", "status"],
        inserted: &["placement_id", "event_date_time", "filename", "position_number", "position_id", "status"],
    },
    Table { name: "programme_post", columns: &["id", "post_id", "programme_id"], inserted: &[] },
];

/// What of `TABLES` is not in `present` (the columns of schema `tcs`, by (table, column)): a
/// table with none of its columns present as `tcs.<table>`, else each missing column as
/// `tcs.<table>.<column>`, and each column the jobs' INSERTs leave out that must be given as
/// `tcs.<table>.<column> (NOT NULL without a default)`, in the list's order.
pub fn missing(present: &BTreeMap<(String, String), Column>) -> Vec<String> {
    let mut missing = Vec::new();
    for table in TABLES {
        if !present.keys().any(|(name, _)| name == table.name) {
            missing.push(format!("tcs.{}", table.name));
            continue;
        }
        let has = |column: &str| present.contains_key(&(table.name.to_string(), column.to_string()));
        missing.extend(table.columns.iter().filter(|c| !has(c)).map(|c| format!("tcs.{}.{c}", table.name)));
        if !table.inserted.is_empty() {
            missing.extend(
                present
                    .iter()
                    .filter(|((name, column), c)| {
                        name == table.name && c.required && !table.inserted.contains(&column.as_str())
                    })
                    .map(|((name, column), _)| format!("tcs.{name}.{column} (NOT NULL without a default)")),
            );
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::BTreeSet;

    const OPTIONAL: Column = Column { required: false };

    fn all() -> BTreeMap<(String, String), Column> {
        TABLES.iter().flat_map(|t| t.columns.iter().map(|c| ((t.name.to_string(), c.to_string()), OPTIONAL))).collect()
    }

    #[test]
    fn nothing_is_missing_when_every_column_is_there_and_extra_columns_do_not_matter() {
        let mut present = all();
        present.insert(("person".into(), "gender_id".into()), OPTIONAL);
        present.insert(("audit_log".into(), "id".into()), OPTIONAL);
        assert_eq!(missing(&present), Vec::<String>::new());
    }

    #[test]
    fn an_absent_table_is_named_once_and_an_absent_column_by_its_table() {
        let mut present = all();
        present.retain(|(table, column), _| {
            table != "post_grade" && (table, column) != (&"post".into(), &"intrepid_id".into())
        });
        present.remove(&("specialty".to_string(), "specialty_code".to_string()));
        assert_eq!(missing(&present), vec!["tcs.post.intrepid_id", "tcs.specialty.specialty_code", "tcs.post_grade"]);
    }

    #[test]
    fn an_empty_database_lacks_every_table() {
        let named = missing(&BTreeMap::new());
        assert_eq!(named.len(), TABLES.len());
        assert!(named.iter().all(|n| n.matches('.').count() == 1), "{named:?}");
    }

    #[test]
    fn the_list_names_each_table_and_column_once() {
        let tables: BTreeSet<&str> = TABLES.iter().map(|t| t.name).collect();
        assert_eq!(tables.len(), TABLES.len());
        assert_eq!(all().len(), TABLES.iter().map(|t| t.columns.len()).sum::<usize>());
        for table in TABLES {
            assert!(
                table.inserted.iter().all(|c| table.columns.contains(c)),
                "{} inserts a column it does not list",
                table.name
            );
        }
    }

    #[test]
    fn a_column_the_inserts_leave_out_must_have_a_default_or_allow_null() {
        let required = Column { required: true };
        let mut present = all();
        // TCS's auto-increment id has a default; a NOT NULL id without one would fail every insert.
        present.insert(("person_trust".into(), "id".into()), required);
        present.insert(("person_trust".into(), "trust_code".into()), OPTIONAL);
        present.insert(("post_trust".into(), "trust_id".into()), required);
        present.insert(("person".into(), "gender_id".into()), required);
        assert_eq!(missing(&present), vec!["tcs.person_trust.id (NOT NULL without a default)"]);
    }
}
