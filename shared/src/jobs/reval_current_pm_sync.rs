//! reval-current-pm-sync: tells the revalidation service whose current programme changed: the
//! persons with a programme membership starting on a covered date or ending the day before it
//! (jobs::reval_feed sends them).

/// Person ids for the covered dates `$1` and the days before them `$2`.
pub const IDS: &str = "
    SELECT DISTINCT person_id FROM tcs.programme_membership
    WHERE programme_start_date = ANY($1::date[]) OR programme_end_date = ANY($2::date[])
    ORDER BY person_id";
