// The API's resource shapes. Thread, event, lead and analytics types come from the server's domain module (type
// imports only, erased at build time), so a change to the contract breaks the web build instead of drifting.
import type { ThreadAnalytics } from '../../../src/domain/analytics.ts';
import type {
  EmailType,
  Lead,
  Thread,
  ThreadEvent,
  ThreadEventType,
  ThreadSort,
  ThreadStatus,
} from '../../../src/domain/thread.ts';

export type { EmailType, Lead, Thread, ThreadAnalytics, ThreadEvent, ThreadSort, ThreadStatus };

/** Event types the server sends today, plus the ones mail sync and the follow-up engine add. */
export type LiveEventType = ThreadEventType | 'reply_detected' | 'followup_sent';
export type LiveThreadEvent = Omit<ThreadEvent, 'type'> & { type: LiveEventType | (string & {}) };

export const THREAD_STATUSES: readonly ThreadStatus[] = ['active', 'archived', 'spam', 'deleted'];
export const EMAIL_TYPES: readonly EmailType[] = ['application', 'followup', 'manual', 'auto_followup'];

export interface ThreadPage {
  items: Thread[];
  nextCursor: string | null;
}

/** Query of GET /threads, as sent (booleans as strings happen in the client). */
export interface ThreadListQuery {
  status?: ThreadStatus;
  hidden?: boolean;
  systemGenerated?: boolean;
  tracked?: boolean;
  emailType?: EmailType;
  leadId?: string;
  q?: string;
  lastActivityFrom?: string;
  lastActivityTo?: string;
  sort?: ThreadSort;
  order?: 'asc' | 'desc';
  limit?: number;
  cursor?: string;
}

export type BulkAction = 'hide' | 'unhide' | 'archive' | 'unarchive';

export interface BulkResult {
  updated: Thread[];
  notFound: string[];
}

export interface PublicConfig {
  authMode: 'local' | 'jwt';
  supabaseUrl?: string;
  supabaseAnonKey?: string;
}

export interface Me {
  userId: string;
  admin: boolean;
  authMode: 'local' | 'jwt';
}

export type AccountStatus = 'active' | 'needs_reconnect' | 'error' | 'syncing';

export interface Account {
  id: string;
  provider: 'gmail' | 'imap';
  email: string;
  status: AccountStatus;
  lastSyncAt: string | null;
  lastError: string | null;
  throttledUntil: string | null;
  progress: { phase: string; done: number; total: number | null } | null;
}

export interface ImapAccountInput {
  email: string;
  imapHost: string;
  imapPort: number;
  imapSecure: boolean;
  smtpHost: string;
  smtpPort: number;
  smtpSecure: boolean;
  username: string;
  password: string;
}

export interface ScheduledFollowup {
  threadId: string;
  subject: string | null;
  participants: string[];
  scheduledAt: string;
  due: boolean;
  followupCount: number;
  reason: string;
}

export interface FollowupPreview {
  subject: string;
  body: string;
  drafter: 'openai' | 'template';
}

export interface AnalyticsQuery {
  from: string;
  to: string;
  tz: string;
}
