-- Gap-free file numbers (docs/esr-export.md "Invariants"). ESR checks each kind's numbers in
-- sequence, and the real counter rose by exactly 13 a day: one counter for all deaneries, no
-- gaps. A sequence's nextval is not rolled back, so a retry, a kill, a timeout or a lost commit
-- burned a number. The next number now comes from this row, in the file's own transaction,
-- under its row lock: a file that does not commit never took its number. The 13 commands of
-- 13:00 queue on the row for milliseconds and never conflict.
CREATE TABLE esr.file_counter (
    kind           text PRIMARY KEY CHECK (kind IN ('app', 'notification')),
    last_sequence  bigint NOT NULL CHECK (last_sequence >= 0)
);

-- Continue from the last number a file carries.
INSERT INTO esr.file_counter (kind, last_sequence)
SELECT kind, coalesce((SELECT max(sequence) FROM esr.export_file f WHERE f.kind = k.kind), 0)
FROM (VALUES ('app'), ('notification')) AS k (kind);

DROP SEQUENCE esr.app_file_sequence, esr.notification_file_sequence;

-- esr-export takes the next number; nothing else may.
GRANT SELECT, UPDATE (last_sequence) ON esr.file_counter TO tis_sync_esr_export;
