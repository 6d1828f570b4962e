/**
 * Open-tracking pixels and their loads (migration 0005). A load is recorded with its verdict under a row lock on
 * its pixel, so concurrent loads of one pixel count its first open exactly once.
 */
import { type Kysely, sql } from 'kysely';
import type { OpenVerdict, PixelLoad } from '../domain/followup-open-tracking.ts';
import type { ThreadEvent } from '../domain/thread.ts';
import type { OpenTrackingRepository, TrackingPixel } from '../ports/followup-store.ts';
import { pgTimestampToIso, rowToEvent } from './row-mapper.ts';
import type { Database } from './schema.ts';

interface PixelsTable {
  token: string;
  user_id: string;
  thread_id: string;
  job_id: string | null;
  message_id: string | null;
  sent_at: string | null;
  loads: number;
  opens: number;
  first_open_at: string | null;
  created_at: string;
}

interface LoadsTable {
  id: string;
  token: string;
  at: string;
  ip: string | null;
  user_agent: string | null;
  counted: boolean;
  excluded_reason: string | null;
}

interface TrackingDatabase extends Database {
  open_tracking_pixels: PixelsTable;
  open_tracking_loads: LoadsTable;
}

const toPixel = (row: Pick<PixelsTable, 'token' | 'user_id' | 'thread_id' | 'sent_at'>): TrackingPixel => ({
  token: row.token,
  userId: row.user_id,
  threadId: row.thread_id,
  sentAt: pgTimestampToIso(row.sent_at),
});

export class KyselyOpenTrackingRepository implements OpenTrackingRepository {
  readonly #db: Kysely<TrackingDatabase>;

  constructor(db: Kysely<Database>) {
    this.#db = db as unknown as Kysely<TrackingDatabase>;
  }

  async pixelForJob(jobId: string, userId: string, threadId: string, token: string): Promise<TrackingPixel> {
    await sql`
      insert into open_tracking_pixels (token, user_id, thread_id, job_id)
      values (${token}, ${userId}, ${threadId}, ${jobId})
      on conflict (job_id) where job_id is not null do nothing`.execute(this.#db);
    const row = await this.#db
      .selectFrom('open_tracking_pixels')
      .selectAll()
      .where('job_id', '=', jobId)
      .executeTakeFirstOrThrow();
    return toPixel(row);
  }

  async markSent(token: string, messageId: string, sentAt: string): Promise<void> {
    await this.#db
      .updateTable('open_tracking_pixels')
      .set({ message_id: messageId, sent_at: sentAt })
      .where('token', '=', token)
      .where('sent_at', 'is', null)
      .execute();
  }

  async recordLoad(
    token: string,
    load: Omit<PixelLoad, 'sentAt'>,
    classify: (load: PixelLoad) => OpenVerdict,
  ): Promise<
    { pixel: TrackingPixel; firstOpen: boolean; verdict: OpenVerdict; event: ThreadEvent | null } | undefined
  > {
    return this.#db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('open_tracking_pixels')
        .selectAll()
        .where('token', '=', token)
        .forUpdate()
        .executeTakeFirst();
      if (!row || row.sent_at === null) return undefined;
      const pixel = toPixel(row);
      const verdict = classify({ ...load, sentAt: new Date(pixel.sentAt!) });
      await trx
        .insertInto('open_tracking_loads')
        .values({
          token,
          at: load.at.toISOString(),
          ip: load.ip,
          user_agent: load.userAgent === null ? null : load.userAgent.slice(0, 500),
          counted: verdict.counted,
          excluded_reason: verdict.counted ? null : verdict.reason,
        } as never)
        .execute();
      const firstOpen = verdict.counted && row.first_open_at === null;
      await trx
        .updateTable('open_tracking_pixels')
        .set({
          loads: sql`loads + 1` as never,
          opens: sql`opens + ${verdict.counted ? 1 : 0}` as never,
          ...(firstOpen ? { first_open_at: load.at.toISOString() } : {}),
        })
        .where('token', '=', token)
        .execute();
      const event = firstOpen
        ? rowToEvent(
            await trx
              .insertInto('thread_events')
              .values({
                user_id: pixel.userId,
                thread_id: pixel.threadId,
                type: 'followup_opened',
                data: sql`${JSON.stringify({ messageId: row.message_id, at: load.at.toISOString() })}::text::jsonb` as never,
              })
              .returningAll()
              .executeTakeFirstOrThrow(),
          )
        : null;
      return { pixel, firstOpen, verdict, event };
    });
  }

  async threadStats(userId: string, threadId: string): Promise<{ tracked: number; opened: number }> {
    const row = await sql<{ tracked: string; opened: string }>`
      select count(*) filter (where sent_at is not null) as tracked,
             count(*) filter (where first_open_at is not null) as opened
      from open_tracking_pixels where user_id = ${userId} and thread_id = ${threadId}`.execute(this.#db);
    return { tracked: Number(row.rows[0]?.tracked ?? 0), opened: Number(row.rows[0]?.opened ?? 0) };
  }
}
