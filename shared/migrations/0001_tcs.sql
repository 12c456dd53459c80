-- The TCS tables the jobs read and write. Naming rule (docs/contract.md): schema tcs,
-- TCS table and column names in snake_case. Only the columns the contract names, plus defaulted
-- ones, so a loader that fills just the contract's columns always works.
--
-- No foreign keys between placement, post and person: TCS data has placements whose trainee or
-- post is missing, and the jobs must cope with them rather than the loader rejecting them.

CREATE SCHEMA IF NOT EXISTS tcs;

CREATE TABLE tcs.person (
    id                    bigint PRIMARY KEY,
    intrepid_id           text,
    role                  text,
    status                text,
    public_health_number  text,
    added_date            timestamptz,
    amended_date          timestamptz
);

CREATE TABLE tcs.contact_details (
    id         bigint PRIMARY KEY,
    surname    text,
    forenames  text
);

CREATE TABLE tcs.gmc_details (
    id          bigint PRIMARY KEY,
    gmc_number  text
);

CREATE TABLE tcs.gdc_details (
    id          bigint PRIMARY KEY,
    gdc_number  text
);

CREATE TABLE tcs.programme (
    id                bigint PRIMARY KEY,
    owner             text,
    programme_name    text,
    programme_number  text,
    status            text
);

CREATE TABLE tcs.programme_membership (
    uuid                       uuid PRIMARY KEY,
    person_id                  bigint NOT NULL,
    programme_id               bigint NOT NULL,
    programme_start_date       date,
    programme_end_date         date,
    programme_membership_type  text
);
CREATE INDEX programme_membership_person_id ON tcs.programme_membership (person_id);

CREATE TABLE tcs.curriculum_membership (
    id                         bigint PRIMARY KEY,
    programme_membership_uuid  uuid NOT NULL,
    curriculum_id              bigint NOT NULL
);
CREATE INDEX curriculum_membership_programme_membership_uuid
    ON tcs.curriculum_membership (programme_membership_uuid);

CREATE TABLE tcs.post (
    id                    bigint PRIMARY KEY,
    employing_body_id     bigint,
    training_body_id      bigint,
    owner                 text,
    national_post_number  text,
    status                text,
    funding_status        text
);

CREATE TABLE tcs.placement (
    id                  bigint PRIMARY KEY,
    trainee_id          bigint,
    post_id             bigint,
    date_from           date,
    date_to             date,
    grade_id            bigint,
    grade_abbreviation  text,
    site_id             bigint,
    site_code           text,
    placement_type      text,
    status              text,
    lifecycle_state     text
);
CREATE INDEX placement_trainee_id ON tcs.placement (trainee_id);
CREATE INDEX placement_post_id ON tcs.placement (post_id);

CREATE TABLE tcs.specialty (
    id    bigint PRIMARY KEY,
    name  text
);

CREATE TABLE tcs.placement_specialty (
    placement_id              bigint,
    specialty_id              bigint,
    placement_specialty_type  text
);
CREATE INDEX placement_specialty_placement_id ON tcs.placement_specialty (placement_id);

-- Derived tables, written only by the sync jobs.

-- One row per person: the local office that owns the trainee and the rule that picked it.
CREATE TABLE tcs.person_owner (
    id     bigint PRIMARY KEY,
    owner  text,
    rule   text
);

-- Trainee-to-trust links. Each trust job owns the rows of its own source, so it can replace
-- them atomically without touching the other job's rows; consumers read distinct
-- (person_id, trust_id) pairs. Rows loaded from elsewhere default to the employing-body job,
-- which replaces them on its next run.
CREATE TABLE tcs.person_trust (
    person_id  bigint NOT NULL,
    trust_id   bigint NOT NULL,
    source     text NOT NULL DEFAULT 'employing-body'
               CHECK (source IN ('employing-body', 'training-body')),
    PRIMARY KEY (person_id, trust_id, source)
);
CREATE INDEX person_trust_trust_id ON tcs.person_trust (trust_id);

CREATE TABLE tcs.post_trust (
    post_id   bigint NOT NULL,
    trust_id  bigint NOT NULL,
    source    text NOT NULL DEFAULT 'employing-body'
              CHECK (source IN ('employing-body', 'training-body')),
    PRIMARY KEY (post_id, trust_id, source)
);
CREATE INDEX post_trust_trust_id ON tcs.post_trust (trust_id);
