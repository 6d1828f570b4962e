/**
 * The follow-up daily cap as a counter per user and local day. A reservation is one statement (an upsert that
 * increments only below the cap, under the row's lock), so concurrent workers never pass the cap and never wait on
 * each other longer than that statement; a follow-up that does not go out after all gives its slot back.
 */
import type { Migration } from './migration.ts';

export const migration0006: Migration = {
  version: 6,
  name: 'followup-daily-counts',
  up: `
CREATE TABLE followup_daily_counts (
    user_id TEXT NOT NULL,
    day DATE NOT NULL,
    count INTEGER NOT NULL DEFAULT 0 CHECK (count >= 0),
    PRIMARY KEY (user_id, day)
);
COMMENT ON TABLE followup_daily_counts IS 'Follow-ups counted against the daily cap, per user and local day';
ALTER TABLE followup_daily_counts ENABLE ROW LEVEL SECURITY;
`,
  down: `
DROP TABLE IF EXISTS followup_daily_counts;
`,
};
