-- The ESR exporter's state (docs/esr-export.md): deaneries as data, the records waiting
-- to be exported, the files made from them, and one file-sequence per kind shared by all
-- deaneries.

CREATE SCHEMA IF NOT EXISTS esr;

-- ESR deanery codes, in the order the daily dispatch sends them. A new region is a row, not a
-- code change; an inactive one gets no commands.
CREATE TABLE esr.deanery (
    code            text PRIMARY KEY,
    name            text NOT NULL,
    active          boolean NOT NULL DEFAULT true,
    dispatch_order  integer NOT NULL UNIQUE
);

INSERT INTO esr.deanery (code, name, dispatch_order) VALUES
    ('EMD', 'East Midlands', 1),
    ('KSS', 'Kent, Surrey and Sussex', 2),
    ('NTH', 'North East', 3),
    ('WMD', 'West Midlands', 4),
    ('PEN', 'South West (Peninsula)', 5),
    ('NWN', 'North West', 6),
    ('YHD', 'Yorkshire and the Humber', 7),
    ('EOE', 'East of England', 8),
    ('OXF', 'Thames Valley (Oxford)', 9),
    ('WES', 'Wessex', 10),
    ('LDN', 'London', 11),
    ('MER', 'Mersey', 12),
    ('SEV', 'South West (Severn)', 13);

-- Applicant records ("GeneratedAppRecords"): one per placement to announce to ESR.
CREATE TABLE esr.generated_app_record (
    id                bigint PRIMARY KEY,
    placement_id      bigint NOT NULL,
    deanery           text NOT NULL REFERENCES esr.deanery (code),
    position_id       bigint,
    position_number   text,
    start_date        date NOT NULL,
    status            text NOT NULL DEFAULT 'TO_EXPORT'
                      CHECK (status IN ('TO_EXPORT', 'EXPORTED', 'DELETED_BEFORE_EXPORT', 'INVALID_DATA')),
    applicant         jsonb NOT NULL DEFAULT '{}',
    generation_error  text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz,
    exported_at       timestamptz,
    export_file       text
);
CREATE INDEX generated_app_record_waiting
    ON esr.generated_app_record (deanery, start_date, id) WHERE status = 'TO_EXPORT';

-- Notification records (DNC files): 1 current/next incumbent, 2 withdrawal, 4 changed dates,
-- 5 new position. Same life-cycle, their own export kind.
CREATE TABLE esr.notification_record (
    id                 bigint PRIMARY KEY,
    placement_id       bigint NOT NULL,
    deanery            text NOT NULL REFERENCES esr.deanery (code),
    notification_type  integer NOT NULL CHECK (notification_type IN (1, 2, 4, 5)),
    position_id        bigint,
    position_number    text,
    start_date         date NOT NULL,
    status             text NOT NULL DEFAULT 'TO_EXPORT'
                       CHECK (status IN ('TO_EXPORT', 'EXPORTED', 'DELETED_BEFORE_EXPORT', 'INVALID_DATA')),
    notification       jsonb NOT NULL DEFAULT '{}',
    generation_error   text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz,
    exported_at        timestamptz,
    export_file        text
);
CREATE INDEX notification_record_waiting
    ON esr.notification_record (deanery, start_date, id) WHERE status = 'TO_EXPORT';

-- One counter per kind shared by all deaneries (the real APP numbers rise by 13 a day). A
-- sequence never conflicts under concurrency and never repeats; a failed attempt leaves a gap.
CREATE SEQUENCE esr.app_file_sequence;
CREATE SEQUENCE esr.notification_file_sequence;

-- Every file made. Its content is kept, so a retried command re-uploads exactly the same bytes
-- under the same key; a command is idempotent per (deanery, kind, run date) unless forced.
CREATE TABLE esr.export_file (
    id                  bigserial PRIMARY KEY,
    deanery             text NOT NULL REFERENCES esr.deanery (code),
    kind                text NOT NULL CHECK (kind IN ('app', 'notification')),
    run_date            date NOT NULL,
    sequence            bigint NOT NULL,
    file_name           text NOT NULL UNIQUE,
    content             bytea NOT NULL,
    record_ids          bigint[] NOT NULL,
    placement_ids       bigint[] NOT NULL,
    forced              boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    uploaded_at         timestamptz,
    s3_key              text,
    event_published_at  timestamptz,
    UNIQUE (kind, sequence)
);
CREATE UNIQUE INDEX export_file_one_per_day
    ON esr.export_file (deanery, kind, run_date) WHERE NOT forced;
