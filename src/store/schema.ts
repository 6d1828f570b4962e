/**
 * Row types of the tables as the drivers return them: snake_case, timestamps as PostgreSQL text (parsed to ISO in
 * row-mapper.ts, never to Date), NUMERIC as text. The domain types live in domain/thread.ts; row-mapper.ts is the
 * only place that converts between the two.
 */
import type { ColumnType, Generated } from 'kysely';

/** Read as text; written as ISO text (or left to the column default). */
type Timestamp = ColumnType<string, string | undefined, string>;
type NullableTimestamp = ColumnType<string | null, string | null | undefined, string | null>;
type Numeric = ColumnType<string | null, number | null | undefined, number | null>;

export interface ThreadTrackingTable {
  id: Generated<string>;
  user_id: string;
  thread_id: string;
  lead_id: string | null;
  tracked: Generated<boolean>;
  hidden: Generated<boolean>;
  system_generated: Generated<boolean>;
  email_type: string | null;
  status: ColumnType<string | null, string | undefined, string>;
  subject: string | null;
  participants: string[] | null;
  message_count: ColumnType<number | null, number | undefined, number>;
  last_activity: NullableTimestamp;
  ai_generated: ColumnType<boolean | null, boolean | undefined, boolean>;
  followup_scheduled: ColumnType<boolean | null, boolean | undefined, boolean>;
  followup_scheduled_at: NullableTimestamp;
  followup_count: ColumnType<number | null, number | undefined, number>;
  open_rate: Numeric;
  reply_rate: Numeric;
  response_time_hours: number | null;
  created_at: ColumnType<string | null, string | undefined, string>;
  updated_at: ColumnType<string | null, string | undefined, string>;
  hidden_at: NullableTimestamp;
  archived_at: NullableTimestamp;
}

export interface ThreadEventsTable {
  id: ColumnType<string, never, never>;
  user_id: string;
  thread_id: string;
  type: string;
  data: ColumnType<Record<string, unknown>, string, string>;
  op_id: ColumnType<string | null, string | null | undefined, never>;
  created_at: Timestamp;
}

export interface LeadsTable {
  id: Generated<string>;
  user_id: string;
  name: string | null;
  email: string | null;
  company: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface IdempotencyKeysTable {
  user_id: string;
  key: string;
  request_hash: string;
  status: ColumnType<string, string | undefined, string>;
  response: ColumnType<unknown, string | null | undefined, string | null>;
  created_at: Timestamp;
}

export interface SchemaMigrationsTable {
  version: number;
  name: string;
  applied_at: Timestamp;
}

export interface Database {
  thread_tracking: ThreadTrackingTable;
  thread_events: ThreadEventsTable;
  leads: LeadsTable;
  idempotency_keys: IdempotencyKeysTable;
  thread_tracker_migrations: SchemaMigrationsTable;
}
