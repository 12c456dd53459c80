-- The project's own job state: the run ledger. The lock that keeps one run of a job at a time is
-- a Postgres advisory lock held by the run's control connection (see shared/src/runner.rs), so it
-- can never outlive the run: when the connection goes, the lock goes.

CREATE SCHEMA IF NOT EXISTS sync;

CREATE TABLE sync.job_run (
    run_id          uuid PRIMARY KEY,
    job             text NOT NULL,
    trigger         text NOT NULL CHECK (trigger IN ('schedule', 'follow-up', 'manual', 'catch-up')),
    as_of           date NOT NULL,
    follow_ups      boolean NOT NULL,
    -- What delivered this run (a schedule's scheduled time, a predecessor's run id), so that a
    -- repeated delivery of the same thing is recognised and not run twice. NULL for manual runs.
    delivery_key    text,
    correlation_id  text,
    status          text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'deferred')),
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    rows            bigint,
    attempts        integer NOT NULL DEFAULT 0,
    error           text,
    detail          jsonb,
    -- When the run's Job Succeeded/Failed event was accepted by EventBridge. A succeeded run
    -- without it has its event re-sent when its delivery is repeated.
    published_at    timestamptz
);

CREATE INDEX job_run_job_started_at ON sync.job_run (job, started_at DESC);
CREATE INDEX job_run_as_of ON sync.job_run (as_of, job);

-- A delivery runs at most once: while one of its runs is running or has succeeded, a second
-- insert for the same (job, delivery_key) conflicts. A failed run does not block a retry.
CREATE UNIQUE INDEX job_run_one_run_per_delivery
    ON sync.job_run (job, delivery_key)
    WHERE delivery_key IS NOT NULL AND status IN ('running', 'succeeded');
