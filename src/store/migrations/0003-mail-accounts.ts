/**
 * Mail accounts and the mirror sync keeps of each mailbox.
 * - mail_accounts: one row per connected mailbox; credentials are sealed (AES-256-GCM) before they reach the
 *   database; the cursor is the sync position, moved only together with the mirror rows it covers.
 * - mail_messages: every message copy sync has seen (headers only), keyed by the provider's key; thread rows are
 *   computed from these, so a page applied twice, or a sync restarted after a crash, changes nothing.
 * - mail_threads: what sync last wrote for each thread, so that it only writes what changed and leaves the
 *   user's own edits alone.
 * Row level security is on with no policy: on Supabase, signed-in users cannot read credentials through its APIs;
 * the service connects as the owner and is not affected.
 */
import type { Migration } from './migration.ts';

export const migration0003: Migration = {
  version: 3,
  name: 'mail-accounts',
  up: `
CREATE TABLE mail_accounts (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id TEXT NOT NULL,
    provider TEXT NOT NULL CHECK (provider IN ('gmail', 'imap')),
    email TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'needs_reconnect', 'error')),
    settings JSONB NOT NULL DEFAULT '{}'::jsonb,
    credentials TEXT,
    cursor JSONB,
    last_sync_at TIMESTAMPTZ,
    last_error TEXT,
    last_error_code TEXT,
    throttled_until TIMESTAMPTZ,
    progress JSONB,
    sync_owner TEXT,
    sync_lease_until TIMESTAMPTZ,
    push_expires_at TIMESTAMPTZ,
    mirror_version BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
COMMENT ON TABLE mail_accounts IS 'Connected mailboxes (Gmail, IMAP) and their sync state';
COMMENT ON COLUMN mail_accounts.credentials IS 'Password or OAuth tokens, sealed with AES-256-GCM (TOKEN_ENCRYPTION_KEY)';
COMMENT ON COLUMN mail_accounts.cursor IS 'Sync position; only moves forward, committed with the mirror rows it covers';
CREATE UNIQUE INDEX mail_accounts_user_address ON mail_accounts (user_id, provider, lower(email));
CREATE INDEX mail_accounts_address ON mail_accounts (provider, lower(email));
CREATE TRIGGER trigger_mail_accounts_updated_at
    BEFORE UPDATE ON mail_accounts
    FOR EACH ROW
    EXECUTE FUNCTION thread_tracker_touch_updated_at();

CREATE TABLE mail_messages (
    account_id UUID NOT NULL REFERENCES mail_accounts(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    folder TEXT NOT NULL,
    generation TEXT NOT NULL,
    provider_thread_id TEXT,
    uid BIGINT,
    message_id TEXT,
    in_reply_to TEXT,
    refs TEXT,
    subject TEXT,
    from_address TEXT,
    to_addresses TEXT[] NOT NULL DEFAULT '{}',
    cc_addresses TEXT[] NOT NULL DEFAULT '{}',
    sent_at TIMESTAMPTZ,
    received_at TIMESTAMPTZ NOT NULL,
    in_sent BOOLEAN NOT NULL DEFAULT false,
    auto_headers JSONB NOT NULL DEFAULT '{}'::jsonb,
    announced BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (account_id, key)
);
COMMENT ON TABLE mail_messages IS 'Headers of every message copy mail sync has seen; thread rows are computed from them';
CREATE INDEX mail_messages_provider_thread ON mail_messages (account_id, provider_thread_id)
    WHERE provider_thread_id IS NOT NULL;
CREATE INDEX mail_messages_folder ON mail_messages (account_id, folder, generation, uid);

CREATE TABLE mail_threads (
    account_id UUID NOT NULL REFERENCES mail_accounts(id) ON DELETE CASCADE,
    thread_id TEXT NOT NULL,
    fields JSONB NOT NULL,
    retired BOOLEAN NOT NULL DEFAULT false,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (account_id, thread_id)
);
COMMENT ON TABLE mail_threads IS 'What mail sync last wrote for each thread of an account';

ALTER TABLE mail_accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE mail_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE mail_threads ENABLE ROW LEVEL SECURITY;
`,
  down: `
DROP TABLE IF EXISTS mail_threads;
DROP TABLE IF EXISTS mail_messages;
DROP TABLE IF EXISTS mail_accounts;
`,
};
