-- Failure paths as AWS runs them (see README, "Design in a page").

-- A run whose process died (timeout, panic, out of memory) is closed as 'abandoned' by the
-- next run of its job, so its delivery can run again and `status` tells it from a failure.
ALTER TABLE sync.job_run DROP CONSTRAINT job_run_status_check;
ALTER TABLE sync.job_run ADD CONSTRAINT job_run_status_check
    CHECK (status IN ('running', 'succeeded', 'failed', 'deferred', 'abandoned'));

-- A paused job is not started by its schedule, its predecessors' success or the watchdog; an
-- operator can still run it by hand. One row per paused job.
CREATE TABLE sync.job_pause (
    job        text PRIMARY KEY,
    reason     text NOT NULL,
    paused_at  timestamptz NOT NULL DEFAULT now()
);

-- Every export command has an identity (the commandId dispatch assigns, or the SQS message id),
-- stored with the file it made: a redelivered command finishes its own file, never another.
ALTER TABLE esr.export_file ADD COLUMN command_id text UNIQUE;

-- Intake ordering: the upstream change time of the message a record was last taken from. An
-- older message never overwrites a newer one. NULL for records taken in before this existed.
ALTER TABLE esr.generated_app_record ADD COLUMN changed_at timestamptz;
ALTER TABLE esr.notification_record ADD COLUMN changed_at timestamptz;
