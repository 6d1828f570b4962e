/**
 * A record of every automated cleanup run (and of later maintenance kinds): when it ran, what started it, whether
 * it was a dry run, how it ended and what each step did. Claims of a run are serialized by an advisory lock, so
 * instances sharing the database never run the same maintenance at once.
 */
import type { Migration } from './migration.ts';

export const migration0004: Migration = {
  version: 4,
  name: 'maintenance-runs',
  up: `
CREATE TABLE maintenance_runs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL,
    trigger TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    dry_run BOOLEAN NOT NULL DEFAULT false,
    status TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
    started_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    finished_at TIMESTAMPTZ,
    result JSONB NOT NULL DEFAULT '{}'::jsonb,
    error TEXT
);
COMMENT ON TABLE maintenance_runs IS 'thread-tracker: every cleanup run, with what each step did';
CREATE INDEX idx_maintenance_runs_kind_started ON maintenance_runs (kind, started_at DESC);
-- Deleted threads by their last change: what the purge looks for.
CREATE INDEX IF NOT EXISTS idx_thread_tracking_deleted_updated
  ON thread_tracking (updated_at) WHERE status = 'deleted';
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'auth' AND p.proname = 'uid') THEN
    ALTER TABLE maintenance_runs ENABLE ROW LEVEL SECURITY;
  END IF;
END $$;
`,
  down: `
DROP INDEX IF EXISTS idx_thread_tracking_deleted_updated;
DROP TABLE IF EXISTS maintenance_runs;
`,
};
