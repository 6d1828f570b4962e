/**
 * The follow-up engine (README: Follow-ups).
 * - followup_policies / followup_templates: per-user settings and templates.
 * - followup_jobs: one row per follow-up the worker acts on, created when a thread's scheduled follow-up falls due.
 *   Workers claim rows with FOR UPDATE SKIP LOCKED and hold them with a lease; a row stays `running` from the claim
 *   until its outcome is recorded, so a crashed worker's row is taken over when its lease expires. `op_id` is the
 *   operation id of the message: its Message-ID is <tt.{op_id}@{domain}> on every attempt, so a retry finds a
 *   message that already went out instead of sending it again. At most one live or delivered row per
 *   (user, thread, follow-up number): the partial unique index makes a second one impossible.
 * - followup_attempts: every claim of a job and how it ended.
 * - followup_plans: what the engine decided for a thread's latest activity (scheduled, with its anchor and delay,
 *   or skipped, with the reason), so each activity is looked at once and GET /followups can say why.
 * - open_tracking_pixels / open_tracking_loads: one pixel per sent message, every load of it with its verdict.
 * Row level security is on with no policy: the service connects as the owner; Supabase's APIs see nothing.
 */
import type { Migration } from './migration.ts';

export const migration0005: Migration = {
  version: 5,
  name: 'followups',
  up: `
CREATE TABLE followup_policies (
    user_id TEXT PRIMARY KEY,
    policy JSONB NOT NULL DEFAULT '{}'::jsonb,
    auto_since TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE followup_policies IS 'Follow-up policy per user: the settings the user gave (defaults for the rest)';
COMMENT ON COLUMN followup_policies.auto_since IS 'Automatic scheduling looks only at thread activity after this moment';

CREATE TABLE followup_templates (
    user_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    step INTEGER CHECK (step BETWEEN 1 AND 10),
    language TEXT CHECK (language ~ '^[a-z]{2}$'),
    subject TEXT,
    body TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (user_id, position)
);
COMMENT ON TABLE followup_templates IS 'Follow-up templates per user, with {{variables}}';

CREATE TABLE followup_jobs (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    step INTEGER NOT NULL CHECK (step >= 1),
    origin TEXT NOT NULL CHECK (origin IN ('policy', 'manual')),
    op_id UUID NOT NULL DEFAULT gen_random_uuid(),
    due_at TIMESTAMPTZ NOT NULL,
    not_before TIMESTAMPTZ NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
      CHECK (status IN ('pending', 'running', 'sent', 'drafted', 'skipped', 'cancelled', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until TIMESTAMPTZ,
    anchor_at TIMESTAMPTZ,
    previous_draft_at TIMESTAMPTZ,
    cap_day DATE,
    mode TEXT CHECK (mode IN ('draft', 'send')),
    draft_subject TEXT,
    draft_body TEXT,
    drafter TEXT,
    account_id UUID,
    message_id TEXT,
    provider_message_id TEXT,
    provider_thread_id TEXT,
    draft_id TEXT,
    delivered_at TIMESTAMPTZ,
    reason TEXT,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    finished_at TIMESTAMPTZ,
    CONSTRAINT followup_jobs_op_id_unique UNIQUE (op_id),
    CONSTRAINT followup_jobs_lease CHECK (status <> 'running' OR (lease_owner IS NOT NULL AND lease_until IS NOT NULL))
);
COMMENT ON TABLE followup_jobs IS 'Follow-ups the worker acts on: claimed with FOR UPDATE SKIP LOCKED under a lease';
COMMENT ON COLUMN followup_jobs.op_id IS 'Operation id of the message: Message-ID <tt.{op_id}@{domain}> on every attempt';
COMMENT ON COLUMN followup_jobs.cap_day IS 'The user''s local day whose daily cap this follow-up counts against';
CREATE UNIQUE INDEX followup_jobs_one_per_step ON followup_jobs (user_id, thread_id, step)
    WHERE status IN ('pending', 'running', 'sent', 'drafted');
CREATE INDEX followup_jobs_pending ON followup_jobs (not_before) WHERE status = 'pending';
CREATE INDEX followup_jobs_leases ON followup_jobs (lease_until) WHERE status = 'running';
CREATE INDEX followup_jobs_thread ON followup_jobs (user_id, thread_id, created_at);
CREATE INDEX followup_jobs_cap ON followup_jobs (user_id, cap_day) WHERE cap_day IS NOT NULL;

CREATE TABLE followup_attempts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id UUID NOT NULL REFERENCES followup_jobs(id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    worker TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    outcome TEXT,
    detail JSONB NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT followup_attempts_once UNIQUE (job_id, attempt)
);
COMMENT ON TABLE followup_attempts IS 'Every claim of a follow-up job; outcome NULL = still running, or its worker died';

CREATE TABLE followup_plans (
    user_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    activity_at TIMESTAMPTZ NOT NULL,
    step INTEGER NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('scheduled', 'skipped')),
    scheduled_at TIMESTAMPTZ,
    anchor_at TIMESTAMPTZ,
    anchor_kind TEXT CHECK (anchor_kind IN ('message', 'followup')),
    delay_business_days INTEGER,
    reason TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (user_id, thread_id, activity_at)
);
COMMENT ON TABLE followup_plans IS 'What the follow-up engine decided for a thread''s activity, and why';
CREATE INDEX followup_plans_schedule ON followup_plans (user_id, thread_id, scheduled_at);

CREATE TABLE open_tracking_pixels (
    token TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    job_id UUID REFERENCES followup_jobs(id) ON DELETE SET NULL,
    message_id TEXT,
    sent_at TIMESTAMPTZ,
    loads INTEGER NOT NULL DEFAULT 0,
    opens INTEGER NOT NULL DEFAULT 0,
    first_open_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE open_tracking_pixels IS 'One open-tracking pixel per sent message; sent_at NULL = not sent (loads are ignored)';
CREATE INDEX open_tracking_pixels_thread ON open_tracking_pixels (user_id, thread_id);
CREATE UNIQUE INDEX open_tracking_pixels_job ON open_tracking_pixels (job_id) WHERE job_id IS NOT NULL;

CREATE TABLE open_tracking_loads (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token TEXT NOT NULL REFERENCES open_tracking_pixels(token) ON DELETE CASCADE,
    at TIMESTAMPTZ NOT NULL,
    ip TEXT,
    user_agent TEXT,
    counted BOOLEAN NOT NULL,
    excluded_reason TEXT
);
COMMENT ON TABLE open_tracking_loads IS 'Every load of a pixel; counted = an open (README: open tracking rules)';
CREATE INDEX open_tracking_loads_token ON open_tracking_loads (token, at);

ALTER TABLE followup_policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE followup_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE followup_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE followup_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE followup_plans ENABLE ROW LEVEL SECURITY;
ALTER TABLE open_tracking_pixels ENABLE ROW LEVEL SECURITY;
ALTER TABLE open_tracking_loads ENABLE ROW LEVEL SECURITY;
`,
  down: `
DROP TABLE IF EXISTS open_tracking_loads;
DROP TABLE IF EXISTS open_tracking_pixels;
DROP TABLE IF EXISTS followup_plans;
DROP TABLE IF EXISTS followup_attempts;
DROP TABLE IF EXISTS followup_jobs;
DROP TABLE IF EXISTS followup_templates;
DROP TABLE IF EXISTS followup_policies;
`,
};
