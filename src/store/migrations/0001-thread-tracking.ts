/**
 * The spec's schema: thread_tracking exactly as specified (every column, default, CHECK, the lead foreign key and
 * unique_user_thread), its indexes and views, plus what the product needs around it: a leads table when the
 * database has none, the append-only thread_events history and idempotency_keys.
 *
 * Two deliberate differences from the spec's script, both about correctness:
 * - updated_at is set to the statement's clock time and is strictly increasing per row, so it can serve as the
 *   row's version (the cache compares versions); the spec's NOW() is the transaction's start time, which a later
 *   commit can carry as an earlier value.
 * - the spec's trigger that turns a NULL response_time_hours into 0 is left out: NULL means "no reply yet", and
 *   reply-rate figures depend on telling the two apart.
 */
import type { Migration } from './migration.ts';

export const migration0001: Migration = {
  version: 1,
  name: 'thread-tracking',
  up: `
DO $$
BEGIN
  IF to_regclass('leads') IS NULL THEN
    CREATE TABLE leads (
      id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id TEXT NOT NULL DEFAULT 'me',
      name TEXT,
      email TEXT,
      company TEXT,
      created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
      updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
    );
    COMMENT ON TABLE leads IS 'thread-tracker: leads (created by thread-tracker)';
  END IF;
END $$;
-- When the database already had a leads table, add the columns the product reads; leave everything else alone.
ALTER TABLE leads ADD COLUMN IF NOT EXISTS user_id TEXT NOT NULL DEFAULT 'me';
ALTER TABLE leads ADD COLUMN IF NOT EXISTS name TEXT;
ALTER TABLE leads ADD COLUMN IF NOT EXISTS email TEXT;
ALTER TABLE leads ADD COLUMN IF NOT EXISTS company TEXT;
ALTER TABLE leads ADD COLUMN IF NOT EXISTS created_at TIMESTAMPTZ NOT NULL DEFAULT NOW();
ALTER TABLE leads ADD COLUMN IF NOT EXISTS updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW();
CREATE INDEX IF NOT EXISTS idx_leads_user_id ON leads (user_id, id);
CREATE INDEX IF NOT EXISTS idx_leads_user_email ON leads (user_id, lower(email));

CREATE TABLE thread_tracking (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id TEXT NOT NULL DEFAULT 'me',
    thread_id TEXT NOT NULL,
    lead_id UUID REFERENCES leads(id) ON DELETE SET NULL,

    tracked BOOLEAN NOT NULL DEFAULT true,
    hidden BOOLEAN NOT NULL DEFAULT false,
    system_generated BOOLEAN NOT NULL DEFAULT false,

    email_type TEXT CHECK (email_type IN ('application', 'followup', 'manual', 'auto_followup')),
    status TEXT DEFAULT 'active' CHECK (status IN ('active', 'archived', 'deleted', 'spam')),

    subject TEXT,
    participants TEXT[],
    message_count INTEGER DEFAULT 1,
    last_activity TIMESTAMPTZ DEFAULT NOW(),

    ai_generated BOOLEAN DEFAULT false,
    followup_scheduled BOOLEAN DEFAULT false,
    followup_scheduled_at TIMESTAMPTZ,
    followup_count INTEGER DEFAULT 0,

    open_rate DECIMAL(5,2),
    reply_rate DECIMAL(5,2),
    response_time_hours INTEGER,

    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    hidden_at TIMESTAMPTZ,
    archived_at TIMESTAMPTZ,

    CONSTRAINT unique_user_thread UNIQUE(user_id, thread_id),
    CONSTRAINT valid_followup_schedule CHECK (
        (followup_scheduled = false) OR
        (followup_scheduled = true AND followup_scheduled_at IS NOT NULL)
    )
);

COMMENT ON TABLE thread_tracking IS 'Email threads tracked for outreach, one row per (user_id, thread_id)';
COMMENT ON COLUMN thread_tracking.thread_id IS 'Mailbox thread id (Gmail thread id, or imap:... for IMAP accounts)';
COMMENT ON COLUMN thread_tracking.updated_at IS 'Strictly increasing per row: the row version';
COMMENT ON COLUMN thread_tracking.response_time_hours IS 'Hours from the first sent message to the first real reply; NULL = no reply';

-- The spec's indexes.
CREATE INDEX idx_thread_tracking_user_id ON thread_tracking (user_id);
CREATE INDEX idx_thread_tracking_thread_id ON thread_tracking (thread_id);
CREATE INDEX idx_thread_tracking_lead_id ON thread_tracking (lead_id);
CREATE INDEX idx_thread_tracking_status ON thread_tracking (status);
CREATE INDEX idx_thread_tracking_hidden ON thread_tracking (hidden);
CREATE INDEX idx_thread_tracking_system_generated ON thread_tracking (system_generated);
CREATE INDEX idx_thread_tracking_followup_scheduled ON thread_tracking (followup_scheduled);
CREATE INDEX idx_thread_tracking_last_activity ON thread_tracking (last_activity);
CREATE INDEX idx_thread_tracking_created_at ON thread_tracking (created_at);
CREATE INDEX idx_thread_tracking_user_status ON thread_tracking (user_id, status);
CREATE INDEX idx_thread_tracking_user_hidden ON thread_tracking (user_id, hidden);
CREATE INDEX idx_thread_tracking_user_system ON thread_tracking (user_id, system_generated);

-- Keyset pages of the list, in both sort orders (a backward scan serves ascending order).
CREATE INDEX idx_thread_tracking_user_activity_page
  ON thread_tracking (user_id, last_activity DESC NULLS LAST, id DESC);
CREATE INDEX idx_thread_tracking_user_created_page
  ON thread_tracking (user_id, created_at DESC NULLS LAST, id DESC);
-- The default view of the web app: active, visible threads by last activity.
CREATE INDEX idx_thread_tracking_user_status_hidden_page
  ON thread_tracking (user_id, status, hidden, last_activity DESC NULLS LAST, id DESC);
-- Due follow-ups, for the follow-up worker and the followup_schedule view.
CREATE INDEX idx_thread_tracking_followup_due
  ON thread_tracking (followup_scheduled_at) WHERE followup_scheduled = true AND status = 'active';

CREATE OR REPLACE FUNCTION thread_tracker_touch_updated_at()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = GREATEST(clock_timestamp(), OLD.updated_at + INTERVAL '1 microsecond');
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER trigger_thread_tracking_updated_at
    BEFORE UPDATE ON thread_tracking
    FOR EACH ROW
    EXECUTE FUNCTION thread_tracker_touch_updated_at();

DROP TRIGGER IF EXISTS trigger_leads_updated_at ON leads;
CREATE TRIGGER trigger_leads_updated_at
    BEFORE UPDATE ON leads
    FOR EACH ROW
    EXECUTE FUNCTION thread_tracker_touch_updated_at();

CREATE TABLE thread_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    type TEXT NOT NULL,
    data JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
COMMENT ON TABLE thread_events IS 'Append-only history of every change to a thread, written in the same transaction';
CREATE INDEX idx_thread_events_user_thread ON thread_events (user_id, thread_id, id);
CREATE INDEX idx_thread_events_user ON thread_events (user_id, id);
CREATE INDEX idx_thread_events_created_at ON thread_events (created_at);

CREATE OR REPLACE FUNCTION thread_tracker_events_append_only()
RETURNS TRIGGER AS $$
BEGIN
    RAISE EXCEPTION 'thread_events is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER trigger_thread_events_append_only
    BEFORE UPDATE ON thread_events
    FOR EACH ROW
    EXECUTE FUNCTION thread_tracker_events_append_only();

CREATE TABLE idempotency_keys (
    user_id TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'in_progress' CHECK (status IN ('in_progress', 'completed')),
    response JSONB,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idx_idempotency_keys_created_at ON idempotency_keys (created_at);

CREATE VIEW active_threads WITH (security_invoker = true) AS
SELECT
    tt.*,
    l.name AS lead_name,
    l.email AS lead_email,
    l.company AS lead_company
FROM thread_tracking tt
LEFT JOIN leads l ON tt.lead_id = l.id
WHERE tt.status = 'active' AND tt.hidden = false
ORDER BY tt.last_activity DESC;

CREATE VIEW system_generated_threads WITH (security_invoker = true) AS
SELECT
    tt.*,
    l.name AS lead_name,
    l.email AS lead_email,
    l.company AS lead_company
FROM thread_tracking tt
LEFT JOIN leads l ON tt.lead_id = l.id
WHERE tt.system_generated = true
ORDER BY tt.created_at DESC;

-- Every scheduled follow-up of an active thread, due ones included (a follow-up that is due but not yet sent is
-- exactly the one a user wants to see).
CREATE VIEW followup_schedule WITH (security_invoker = true) AS
SELECT
    tt.*,
    l.name AS lead_name,
    l.email AS lead_email,
    l.company AS lead_company,
    (tt.followup_scheduled_at <= NOW()) AS is_due
FROM thread_tracking tt
LEFT JOIN leads l ON tt.lead_id = l.id
WHERE tt.followup_scheduled = true
    AND tt.status = 'active'
ORDER BY tt.followup_scheduled_at ASC;

-- On Supabase (an auth schema with auth.uid() and the authenticated role exists), rows are reachable through
-- Supabase's own APIs only by their owner. The service itself connects as the table owner and is not affected.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'auth' AND p.proname = 'uid')
     AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
    ALTER TABLE thread_tracking ENABLE ROW LEVEL SECURITY;
    ALTER TABLE thread_events ENABLE ROW LEVEL SECURITY;
    ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
    ALTER TABLE leads ENABLE ROW LEVEL SECURITY;
    CREATE POLICY thread_tracking_owner ON thread_tracking FOR ALL TO authenticated
      USING (user_id = auth.uid()::text) WITH CHECK (user_id = auth.uid()::text);
    CREATE POLICY thread_events_owner_read ON thread_events FOR SELECT TO authenticated
      USING (user_id = auth.uid()::text);
    DROP POLICY IF EXISTS leads_owner ON leads;
    CREATE POLICY leads_owner ON leads FOR ALL TO authenticated
      USING (user_id = auth.uid()::text) WITH CHECK (user_id = auth.uid()::text);
    GRANT SELECT, INSERT, UPDATE, DELETE ON thread_tracking, leads TO authenticated;
    GRANT SELECT ON thread_events, active_threads, system_generated_threads, followup_schedule TO authenticated;
  END IF;
END $$;
`,
  down: `
DROP VIEW IF EXISTS followup_schedule;
DROP VIEW IF EXISTS system_generated_threads;
DROP VIEW IF EXISTS active_threads;
DROP TABLE IF EXISTS idempotency_keys;
DROP TABLE IF EXISTS thread_events;
DROP FUNCTION IF EXISTS thread_tracker_events_append_only();
DROP TABLE IF EXISTS thread_tracking;
DROP TRIGGER IF EXISTS trigger_leads_updated_at ON leads;
DROP FUNCTION IF EXISTS thread_tracker_touch_updated_at();
DROP POLICY IF EXISTS leads_owner ON leads;
DO $$
BEGIN
  IF obj_description('leads'::regclass, 'pg_class') = 'thread-tracker: leads (created by thread-tracker)' THEN
    DROP TABLE leads;
  END IF;
END $$;
`,
};
