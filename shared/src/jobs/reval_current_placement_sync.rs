//! reval-current-placement-sync: tells the revalidation service whose current placement changed:
//! the trainees with a placement starting on a covered date or ending the day before it
//! (jobs::reval_feed sends them).

/// Trainee ids for the covered dates `$1` and the days before them `$2`.
pub const IDS: &str = "
    SELECT DISTINCT trainee_id FROM tcs.placement
    WHERE trainee_id IS NOT NULL AND (date_from = ANY($1::date[]) OR date_to = ANY($2::date[]))
    ORDER BY trainee_id";
