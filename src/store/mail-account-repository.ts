/**
 * Mail accounts and the mailbox mirror in PostgreSQL / PGlite (tables of migration 0003).
 * Invariants:
 * - commitPage is one transaction that locks the account row, checks that the stored cursor is the one the page
 *   was read from and that the page's cursor does not move back, applies the page, then moves the cursor: the
 *   cursor and the rows it covers commit together or not at all;
 * - message copies are upserted by key (a page applied twice changes nothing) and keep their `announced` flag;
 * - timestamps leave as ISO 8601 in milliseconds (what the adapters produce), so values read back compare equal.
 */
import { type Kysely, type SqlBool, sql } from 'kysely';
import type { MailMessage, Projection } from '../domain/detection.ts';
import { AppError } from '../domain/errors.ts';
import {
  isCursorForward,
  type MailProvider,
  parseCursor,
  type SyncCursor,
  type SyncProgress,
} from '../domain/mail-sync.ts';
import type { ThreadEvent } from '../domain/thread.ts';
import type {
  AccountStatePatch,
  MailAccount,
  MailAccountRepository,
  MailMirrorRepository,
  MirrorMessage,
  MirrorState,
  NewMailAccount,
  ProjectionCommit,
} from '../ports/mail-account-store.ts';
import type { ChangePage } from '../ports/mail-provider.ts';
import type { MailThreadExistence } from '../ports/maintenance.ts';
import { parsePostgresError } from './parse-postgres-error.ts';
import { pgTimestampToIso, rowToEvent } from './row-mapper.ts';
import type { Database } from './schema.ts';

interface MailAccountsTable {
  id: string;
  user_id: string;
  provider: string;
  email: string;
  status: string;
  settings: unknown;
  credentials: string | null;
  cursor: unknown;
  last_sync_at: string | null;
  last_error: string | null;
  last_error_code: string | null;
  throttled_until: string | null;
  progress: unknown;
  sync_owner: string | null;
  sync_lease_until: string | null;
  push_expires_at: string | null;
  mirror_version: string | number;
  created_at: string;
  updated_at: string;
}

interface MailMessagesTable {
  account_id: string;
  key: string;
  folder: string;
  generation: string;
  provider_thread_id: string | null;
  uid: string | number | null;
  message_id: string | null;
  in_reply_to: string | null;
  refs: string | null;
  subject: string | null;
  from_address: string | null;
  to_addresses: string[];
  cc_addresses: string[];
  sent_at: string | null;
  received_at: string;
  in_sent: boolean;
  auto_headers: unknown;
  announced: boolean;
}

interface MailThreadsTable {
  account_id: string;
  thread_id: string;
  fields: unknown;
  retired: boolean;
  updated_at: string;
}

interface MailDatabase extends Database {
  mail_accounts: MailAccountsTable;
  mail_messages: MailMessagesTable;
  mail_threads: MailThreadsTable;
}

type Db = Kysely<MailDatabase>;

/** JSON through text: a parameter typed jsonb would be encoded a second time by postgres.js. */
const json = (value: unknown) => sql<unknown>`${JSON.stringify(value)}::text::jsonb`;
const isoMs = (value: string | null): string | null => {
  const iso = pgTimestampToIso(value);
  return iso === null ? null : new Date(iso).toISOString();
};
const jsonValue = <T>(value: unknown): T => (typeof value === 'string' ? JSON.parse(value) : value) as T;

function rowToAccount(row: MailAccountsTable): MailAccount {
  return {
    id: row.id,
    userId: row.user_id,
    provider: row.provider as MailProvider,
    email: row.email,
    status: row.status as MailAccount['status'],
    settings: jsonValue(row.settings) ?? {},
    sealedCredentials: row.credentials,
    cursor: parseCursor(jsonValue(row.cursor)),
    lastSyncAt: isoMs(row.last_sync_at),
    lastError: row.last_error,
    lastErrorCode: row.last_error_code,
    throttledUntil: isoMs(row.throttled_until),
    progress: jsonValue<SyncProgress | null>(row.progress) ?? null,
    syncOwner: row.sync_owner,
    syncLeaseUntil: isoMs(row.sync_lease_until),
    pushExpiresAt: isoMs(row.push_expires_at),
    createdAt: isoMs(row.created_at) ?? row.created_at,
  };
}

function rowToMessage(row: MailMessagesTable): MirrorMessage {
  return {
    key: row.key,
    folder: row.folder,
    generation: row.generation,
    providerThreadId: row.provider_thread_id,
    uid: row.uid === null ? null : Number(row.uid),
    messageId: row.message_id,
    inReplyTo: row.in_reply_to,
    references: row.refs,
    subject: row.subject,
    from: row.from_address,
    to: row.to_addresses ?? [],
    cc: row.cc_addresses ?? [],
    sentAt: isoMs(row.sent_at),
    receivedAt: isoMs(row.received_at) ?? row.received_at,
    inSent: row.in_sent,
    autoHeaders: jsonValue(row.auto_headers) ?? {},
    announced: row.announced,
  };
}

function messageRow(accountId: string, m: MailMessage) {
  return {
    account_id: accountId,
    key: m.key,
    folder: m.folder,
    generation: m.generation,
    provider_thread_id: m.providerThreadId,
    uid: m.uid,
    message_id: m.messageId,
    in_reply_to: m.inReplyTo,
    refs: m.references,
    subject: m.subject,
    from_address: m.from,
    to_addresses: m.to,
    cc_addresses: m.cc,
    sent_at: m.sentAt,
    received_at: m.receivedAt,
    in_sent: m.inSent,
    auto_headers: json(m.autoHeaders),
  };
}

const MESSAGE_COLUMNS = [
  'folder',
  'generation',
  'provider_thread_id',
  'uid',
  'message_id',
  'in_reply_to',
  'refs',
  'subject',
  'from_address',
  'to_addresses',
  'cc_addresses',
  'sent_at',
  'received_at',
  'in_sent',
  'auto_headers',
] as const;

/** Rows per INSERT: well under PostgreSQL's 65,535 bind parameters. */
const INSERT_CHUNK = 500;

async function guard<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw parsePostgresError(error);
  }
}

export class KyselyMailAccountRepository implements MailAccountRepository {
  readonly #db: Db;

  constructor(db: Kysely<Database>) {
    this.#db = db as unknown as Db;
  }

  upsert(account: NewMailAccount) {
    return guard(async () => {
      const row = await sql<MailAccountsTable & { inserted: boolean }>`
        insert into mail_accounts (id, user_id, provider, email, settings, credentials)
        values (${account.id}::uuid, ${account.userId}, ${account.provider}, ${account.email}, ${JSON.stringify(account.settings)}::text::jsonb,
                ${account.sealedCredentials})
        on conflict (user_id, provider, lower(email)) do update
          set email = excluded.email, settings = excluded.settings, credentials = excluded.credentials,
              status = 'active', last_error = null, last_error_code = null, throttled_until = null
        returning *, (xmax = 0) as inserted`.execute(this.#db);
      const first = row.rows[0]!;
      return { account: rowToAccount(first), created: first.inserted };
    });
  }

  get(userId: string | null, id: string) {
    return guard(async () => {
      if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
      let qb = this.#db.selectFrom('mail_accounts').selectAll().where('id', '=', id);
      if (userId !== null) qb = qb.where('user_id', '=', userId);
      const row = await qb.executeTakeFirst();
      return row ? rowToAccount(row) : undefined;
    });
  }

  list(userId: string | null) {
    return guard(async () => {
      let qb = this.#db.selectFrom('mail_accounts').selectAll();
      if (userId !== null) qb = qb.where('user_id', '=', userId);
      const rows = await qb.orderBy('created_at').orderBy('id').execute();
      return rows.map(rowToAccount);
    });
  }

  findByEmail(provider: MailProvider, email: string) {
    return guard(async () => {
      const rows = await this.#db
        .selectFrom('mail_accounts')
        .selectAll()
        .where('provider', '=', provider)
        .where(sql<SqlBool>`lower(email) = ${email.toLowerCase()}`)
        .execute();
      return rows.map(rowToAccount);
    });
  }

  update(id: string, patch: AccountStatePatch) {
    return guard(async () => {
      const set: Record<string, unknown> = {};
      if (patch.status !== undefined) set.status = patch.status;
      if (patch.lastSyncAt !== undefined) set.last_sync_at = patch.lastSyncAt;
      if (patch.lastError !== undefined) set.last_error = patch.lastError;
      if (patch.lastErrorCode !== undefined) set.last_error_code = patch.lastErrorCode;
      if (patch.throttledUntil !== undefined) set.throttled_until = patch.throttledUntil;
      if (patch.progress !== undefined) set.progress = patch.progress === null ? null : json(patch.progress);
      if (patch.sealedCredentials !== undefined) set.credentials = patch.sealedCredentials;
      if (patch.pushExpiresAt !== undefined) set.push_expires_at = patch.pushExpiresAt;
      if (Object.keys(set).length === 0) return;
      await this.#db
        .updateTable('mail_accounts')
        .set(set as never)
        .where('id', '=', id)
        .execute();
    });
  }

  delete(userId: string, id: string) {
    return guard(async () => {
      if (!/^[0-9a-f-]{36}$/i.test(id)) return false;
      const result = await this.#db
        .deleteFrom('mail_accounts')
        .where('user_id', '=', userId)
        .where('id', '=', id)
        .executeTakeFirst();
      return result.numDeletedRows > 0n;
    });
  }

  claim(id: string, owner: string, now: string, until: string, takeOverFrom?: string) {
    return guard(async () => {
      const result = await this.#db
        .updateTable('mail_accounts')
        .set({ sync_owner: owner, sync_lease_until: until })
        .where('id', '=', id)
        .where((eb) =>
          eb.or([
            eb('sync_owner', 'is', null),
            eb('sync_lease_until', 'is', null),
            eb('sync_lease_until', '<', now),
            eb('sync_owner', '=', owner),
            ...(takeOverFrom ? [eb('sync_owner', '=', takeOverFrom)] : []),
          ]),
        )
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    });
  }

  release(id: string, owner: string) {
    return guard(async () => {
      await this.#db
        .updateTable('mail_accounts')
        .set({ sync_owner: null, sync_lease_until: null })
        .where('id', '=', id)
        .where('sync_owner', '=', owner)
        .execute();
    });
  }
}

export class KyselyMailMirrorRepository implements MailMirrorRepository {
  readonly #db: Db;

  constructor(db: Kysely<Database>) {
    this.#db = db as unknown as Db;
  }

  load(accountId: string): Promise<MirrorState> {
    return guard(() =>
      this.#db.transaction().execute(async (trx) => {
        const account = await trx
          .selectFrom('mail_accounts')
          .select('mirror_version')
          .where('id', '=', accountId)
          .executeTakeFirst();
        const rows = await trx
          .selectFrom('mail_messages')
          .selectAll()
          .where('account_id', '=', accountId)
          .execute();
        const threads = await trx
          .selectFrom('mail_threads')
          .select(['thread_id', 'fields', 'retired'])
          .where('account_id', '=', accountId)
          .execute();
        return {
          version: Number(account?.mirror_version ?? 0),
          messages: rows.map(rowToMessage),
          projections: new Map(
            threads.map((t) => [
              t.thread_id,
              { fields: jsonValue<Projection['fields']>(t.fields), retired: t.retired },
            ]),
          ),
        };
      }),
    );
  }

  version(accountId: string) {
    return guard(async () => {
      const row = await this.#db
        .selectFrom('mail_accounts')
        .select('mirror_version')
        .where('id', '=', accountId)
        .executeTakeFirst();
      return Number(row?.mirror_version ?? -1);
    });
  }

  commitPage(accountId: string, page: ChangePage, expected: SyncCursor | null) {
    return guard(() =>
      this.#db.transaction().execute(async (trx) => {
        const account = await trx
          .selectFrom('mail_accounts')
          .select(['cursor', 'mirror_version'])
          .where('id', '=', accountId)
          .forUpdate()
          .executeTakeFirst();
        if (!account) throw new AppError('ACCOUNT_NOT_FOUND', 'The mail account was removed');
        const stored = parseCursor(jsonValue(account.cursor));
        if (JSON.stringify(stored) !== JSON.stringify(expected) || !isCursorForward(stored, page.cursor)) {
          throw new AppError('CONFLICT', 'The sync position moved under this run (another run, or a rewind)');
        }
        for (let i = 0; i < page.messages.length; i += INSERT_CHUNK) {
          const rows = page.messages.slice(i, i + INSERT_CHUNK).map((m) => messageRow(accountId, m));
          await trx
            .insertInto('mail_messages')
            .values(rows as never)
            .onConflict((oc) =>
              oc
                .columns(['account_id', 'key'])
                .doUpdateSet(
                  Object.fromEntries(MESSAGE_COLUMNS.map((c) => [c, sql.ref(`excluded.${c}`)])) as never,
                ),
            )
            .execute();
        }
        const removed: string[] = [];
        if (page.completeThreads.length > 0) {
          const kept = page.messages.map((m) => m.key);
          const gone = await trx
            .deleteFrom('mail_messages')
            .where('account_id', '=', accountId)
            .where('provider_thread_id', 'in', page.completeThreads)
            .$if(kept.length > 0, (qb) => qb.where('key', 'not in', kept))
            .returning('key')
            .execute();
          removed.push(...gone.map((r) => r.key));
        }
        if (page.folder) {
          const { name, uidValidity, presentUids, upToUid } = page.folder;
          const otherGenerations = await trx
            .deleteFrom('mail_messages')
            .where('account_id', '=', accountId)
            .where('folder', '=', name)
            .where('generation', '<>', uidValidity)
            .returning('key')
            .execute();
          removed.push(...otherGenerations.map((r) => r.key));
          if (presentUids !== undefined && upToUid !== undefined) {
            const expunged = await trx
              .deleteFrom('mail_messages')
              .where('account_id', '=', accountId)
              .where('folder', '=', name)
              .where('generation', '=', uidValidity)
              .where('uid', '<=', upToUid as never)
              .where(sql<SqlBool>`not (uid = any(${presentUids}::bigint[]))`)
              .returning('key')
              .execute();
            removed.push(...expunged.map((r) => r.key));
          }
        }
        const version = Number(account.mirror_version) + 1;
        await trx
          .updateTable('mail_accounts')
          .set({
            cursor: json(page.cursor) as never,
            mirror_version: version,
            progress: json(page.progress) as never,
          })
          .where('id', '=', accountId)
          .execute();
        return { version, removed };
      }),
    );
  }

  commitProjection(accountId: string, userId: string, commit: ProjectionCommit): Promise<ThreadEvent[]> {
    return guard(() =>
      this.#db.transaction().execute(async (trx) => {
        for (let i = 0; i < commit.projections.length; i += INSERT_CHUNK) {
          const rows = commit.projections.slice(i, i + INSERT_CHUNK).map((p) => ({
            account_id: accountId,
            thread_id: p.threadId,
            fields: json(p.projection.fields),
            retired: p.projection.retired,
          }));
          await trx
            .insertInto('mail_threads')
            .values(rows as never)
            .onConflict((oc) =>
              oc.columns(['account_id', 'thread_id']).doUpdateSet({
                fields: sql.ref('excluded.fields'),
                retired: sql.ref('excluded.retired'),
                updated_at: sql`now()`,
              } as never),
            )
            .execute();
        }
        for (let i = 0; i < commit.announced.length; i += INSERT_CHUNK) {
          await trx
            .updateTable('mail_messages')
            .set({ announced: true })
            .where('account_id', '=', accountId)
            .where('key', 'in', commit.announced.slice(i, i + INSERT_CHUNK))
            .execute();
        }
        const events: ThreadEvent[] = [];
        for (let i = 0; i < commit.events.length; i += INSERT_CHUNK) {
          const rows = await trx
            .insertInto('thread_events')
            .values(
              commit.events.slice(i, i + INSERT_CHUNK).map((e) => ({
                user_id: userId,
                thread_id: e.threadId,
                type: e.type,
                data: sql<string>`${JSON.stringify(e.data)}::text::jsonb` as never,
              })),
            )
            .returningAll()
            .execute();
          events.push(...rows.map(rowToEvent));
        }
        return events;
      }),
    );
  }

  staleThreads(accountId: string, generation: string) {
    return guard(async () => {
      const rows = await this.#db
        .selectFrom('mail_messages')
        .select('provider_thread_id')
        .distinct()
        .where('account_id', '=', accountId)
        .where('provider_thread_id', 'is not', null)
        .where('generation', '<>', generation)
        .execute();
      return rows.map((r) => r.provider_thread_id!);
    });
  }
}

/**
 * For the automated cleanup: threads sync found gone from the mailbox (their projection is retired) whose row is
 * still live and has not changed since (so the deletion did not land; a thread the user restored afterwards is left
 * alone). Sync marks such threads deleted itself; this catches what an interrupted run left.
 */
export class KyselyMailThreadExistence implements MailThreadExistence {
  readonly #db: Db;

  constructor(db: Kysely<Database>) {
    this.#db = db as unknown as Db;
  }

  usersWithMailbox() {
    return guard(async () => {
      const rows = await this.#db
        .selectFrom('mail_accounts')
        .select('user_id')
        .distinct()
        .where('status', '<>', 'needs_reconnect')
        .orderBy('user_id')
        .execute();
      return rows.map((r) => r.user_id);
    });
  }

  missingThreads(userId: string, threadIds: string[]) {
    return guard(async () => {
      if (threadIds.length === 0) return [];
      const rows = await sql<{ thread_id: string }>`
        select distinct mt.thread_id from mail_threads mt
        join mail_accounts a on a.id = mt.account_id
        join thread_tracking t on t.user_id = a.user_id and t.thread_id = mt.thread_id
        where a.user_id = ${userId} and mt.thread_id = any(${threadIds}::text[]) and mt.retired
          and t.status is distinct from 'deleted' and t.updated_at < mt.updated_at
        order by mt.thread_id`.execute(this.#db);
      return rows.rows.map((r) => r.thread_id);
    });
  }
}
