/**
 * Every write carries an operation id, stored in the events it writes. The unique index makes a write
 * at-most-once: a retry or a journal replay of an operation that already committed (the client may not have
 * heard back: a connection reset after COMMIT, a timeout on a frozen server) conflicts on this index and is
 * recognised as applied instead of being applied twice.
 */
import type { Migration } from './migration.ts';

export const migration0002: Migration = {
  version: 2,
  name: 'operation-ids',
  up: `
ALTER TABLE thread_events ADD COLUMN op_id UUID;
CREATE UNIQUE INDEX thread_events_op_id_unique ON thread_events (user_id, op_id, thread_id) WHERE op_id IS NOT NULL;
COMMENT ON COLUMN thread_events.op_id IS 'Id of the write operation that produced the event (at-most-once writes)';
`,
  down: `
DROP INDEX IF EXISTS thread_events_op_id_unique;
ALTER TABLE thread_events DROP COLUMN IF EXISTS op_id;
`,
};
