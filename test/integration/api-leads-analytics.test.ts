/**
 * Leads CRUD (and the lead_id foreign key's ON DELETE SET NULL), and the analytics figures computed over seeded
 * rows, checked number by number against the README's definitions.
 */
import type { LightMyRequestResponse } from 'fastify';
import type { Insertable } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Lead } from '../../src/domain/thread.ts';
import type { ThreadTrackingTable } from '../../src/store/schema.ts';
import { createTestApp, type TestApp } from '../support/test-app.ts';

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});
beforeEach(async () => {
  await t.reset();
});

function call(
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  url: string,
  payload?: unknown,
): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method,
    url,
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

function expectProblem(res: LightMyRequestResponse, status: number, code: string) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.json()).toMatchObject({ status, code });
  expect(res.body).not.toMatch(
    /\n\s+at |node_modules|\.ts:\d+|\b(select|insert|update|delete)\b.*\b(from|into|set)\b/i,
  );
}

async function createLead(body: Record<string, unknown>): Promise<Lead> {
  const res = await call('POST', '/api/v1/leads', body);
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

const UNKNOWN = '0b9f3c2e-5a4d-4e8f-9a1b-2c3d4e5f6a7b';

describe('leads', () => {
  it('creates, reads, updates and deletes a lead', async () => {
    const lead = await createLead({ name: 'Ada Lovelace', email: 'Ada@Example.COM', company: 'Analytical' });
    expect(lead).toMatchObject({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      userId: 'me',
      name: 'Ada Lovelace',
      email: 'ada@example.com',
      company: 'Analytical',
    });
    expect((await call('GET', `/api/v1/leads/${lead.id}`)).json()).toEqual(lead);

    const patched = await call('PATCH', `/api/v1/leads/${lead.id}`, { company: null });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json()).toMatchObject({ name: 'Ada Lovelace', email: 'ada@example.com', company: null });
    expect(patched.json().updatedAt > lead.updatedAt).toBe(true);
    const stored = await t.store.db
      .selectFrom('leads')
      .selectAll()
      .where('id', '=', lead.id)
      .executeTakeFirst();
    expect(stored).toMatchObject({ user_id: 'me', name: 'Ada Lovelace', company: null });

    const deleted = await call('DELETE', `/api/v1/leads/${lead.id}`);
    expect(deleted.statusCode).toBe(204);
    expect(deleted.body).toBe('');
    expectProblem(await call('GET', `/api/v1/leads/${lead.id}`), 404, 'LEAD_NOT_FOUND');
    expect(await t.store.db.selectFrom('leads').select('id').execute()).toEqual([]);
  });

  it('answers 404 LEAD_NOT_FOUND for an unknown lead', async () => {
    expectProblem(await call('GET', `/api/v1/leads/${UNKNOWN}`), 404, 'LEAD_NOT_FOUND');
    expectProblem(await call('PATCH', `/api/v1/leads/${UNKNOWN}`, { name: 'x' }), 404, 'LEAD_NOT_FOUND');
    expectProblem(await call('DELETE', `/api/v1/leads/${UNKNOWN}`), 404, 'LEAD_NOT_FOUND');
  });

  it.each([
    ['an empty patch', {}],
    ['an unknown field', { phone: '123' }],
    ['userId', { userId: 'other' }],
    ['an invalid email', { email: 'not-an-email' }],
  ])('refuses %s on update and changes nothing', async (_name, body) => {
    const lead = await createLead({ name: 'Ada' });
    expectProblem(await call('PATCH', `/api/v1/leads/${lead.id}`, body), 400, 'VALIDATION_FAILED');
    expect((await call('GET', `/api/v1/leads/${lead.id}`)).json()).toEqual(lead);
  });

  it('creates an empty lead (every field is optional)', async () => {
    expect(await createLead({})).toMatchObject({ name: null, email: null, company: null });
  });

  it('lists, searches and pages leads', async () => {
    const leads = [
      await createLead({ name: 'Ada', company: 'ACME' }),
      await createLead({ name: 'Bob', email: 'bob@globex.example' }),
      await createLead({ name: 'Cy', company: 'Acme Labs' }),
      await createLead({ name: '100%_sure' }),
    ];
    const byId = [...leads].sort((a, b) => (a.id < b.id ? -1 : 1));
    const all = (await call('GET', '/api/v1/leads')).json().items as Lead[];
    expect(all.map((l) => l.id)).toEqual(byId.map((l) => l.id));
    const acme = (await call('GET', '/api/v1/leads?q=acme')).json().items as Lead[];
    expect(acme.map((l) => l.name).sort()).toEqual(['Ada', 'Cy']);
    expect((await call('GET', '/api/v1/leads?q=globex')).json().items.map((l: Lead) => l.name)).toEqual([
      'Bob',
    ]);
    expect((await call('GET', '/api/v1/leads?q=%25_')).json().items.map((l: Lead) => l.name)).toEqual([
      '100%_sure',
    ]);
    const first = (await call('GET', '/api/v1/leads?limit=2')).json().items as Lead[];
    const rest = (await call('GET', `/api/v1/leads?limit=2&afterId=${first[1]!.id}`)).json().items as Lead[];
    expect([...first, ...rest].map((l) => l.id)).toEqual(byId.map((l) => l.id));
  });

  it('unlinks threads when their lead is deleted (ON DELETE SET NULL), keeping the threads', async () => {
    const lead = await createLead({ name: 'Ada' });
    const other = await createLead({ name: 'Bob' });
    for (const [threadId, leadId] of [
      ['l1', lead.id],
      ['l2', lead.id],
      ['l3', other.id],
    ] as const) {
      expect((await call('POST', '/api/v1/threads', { threadId, leadId })).statusCode).toBe(201);
    }
    // Read them first, so that the cache holds the linked versions.
    expect((await call('GET', '/api/v1/threads/l1')).json().leadId).toBe(lead.id);
    expect((await call('GET', `/api/v1/threads?leadId=${lead.id}`)).json().items).toHaveLength(2);

    expect((await call('DELETE', `/api/v1/leads/${lead.id}`)).statusCode).toBe(204);

    const rows = await t.store.db
      .selectFrom('thread_tracking')
      .select(['thread_id', 'lead_id'])
      .orderBy('thread_id')
      .execute();
    expect(rows).toEqual([
      { thread_id: 'l1', lead_id: null },
      { thread_id: 'l2', lead_id: null },
      { thread_id: 'l3', lead_id: other.id },
    ]);
    expect((await call('GET', '/api/v1/threads/l1')).json().leadId).toBeNull();
    expect((await call('GET', `/api/v1/threads?leadId=${lead.id}`)).json().items).toEqual([]);
    expect((await call('GET', `/api/v1/threads?leadId=${other.id}`)).json().items).toHaveLength(1);
  });

  it('links and unlinks a thread through PATCH, and refuses an unknown lead', async () => {
    const lead = await createLead({ name: 'Ada' });
    await call('POST', '/api/v1/threads', { threadId: 'l4' });
    expect((await call('PATCH', '/api/v1/threads/l4', { leadId: lead.id })).json().leadId).toBe(lead.id);
    expect((await call('PATCH', '/api/v1/threads/l4', { leadId: null })).json().leadId).toBeNull();
    expectProblem(await call('PATCH', '/api/v1/threads/l4', { leadId: UNKNOWN }), 404, 'LEAD_NOT_FOUND');
    expectProblem(
      await call('POST', '/api/v1/threads', { threadId: 'l5', leadId: UNKNOWN }),
      404,
      'LEAD_NOT_FOUND',
    );
    expect(await t.store.db.selectFrom('thread_tracking').select(['thread_id', 'lead_id']).execute()).toEqual(
      [{ thread_id: 'l4', lead_id: null }],
    );
  });
});

describe('analytics', () => {
  const FROM = '2026-11-01T00:00:00Z';
  const TO = '2026-11-08T00:00:00Z';

  type Row = Insertable<ThreadTrackingTable>;
  const base = (threadId: string, createdAt: string, fields: Partial<Row> = {}): Row => ({
    user_id: 'me',
    thread_id: threadId,
    created_at: createdAt,
    last_activity: null,
    ...fields,
  });

  /** The seeded threads; the expected figures below are worked out from this table by hand. */
  async function seed(): Promise<void> {
    const rows: Row[] = [
      base('s1', '2026-11-01T10:00:00Z', {
        email_type: 'application',
        response_time_hours: 2,
        followup_count: 0,
        open_rate: 50,
        reply_rate: 10,
        system_generated: true,
        last_activity: '2026-11-02T09:00:00Z',
      }),
      base('s2', '2026-11-01T23:30:00Z', {
        email_type: 'application',
        followup_count: 1,
        open_rate: 30,
        system_generated: true,
        ai_generated: true,
        last_activity: '2026-11-02T23:30:00Z',
      }),
      base('s3', '2026-11-02T12:00:00Z', {
        status: 'archived',
        email_type: 'followup',
        response_time_hours: 10,
        followup_count: 2,
        hidden: true,
        last_activity: '2026-11-04T12:00:00Z',
      }),
      base('s4', '2026-11-03T00:00:00Z', {
        response_time_hours: 30,
        followup_count: 3,
        followup_scheduled: true,
        followup_scheduled_at: '2099-01-01T00:00:00Z',
      }),
      base('s5', '2026-11-05T08:00:00Z', {
        status: 'spam',
        email_type: 'manual',
        followup_count: 5,
        tracked: false,
        last_activity: '2026-11-05T09:00:00Z',
      }),
      base('s6', '2026-11-06T12:00:00Z', {
        email_type: 'auto_followup',
        response_time_hours: 200,
        followup_count: 0,
        reply_rate: 20,
        last_activity: '2026-11-07T10:00:00Z',
      }),
      // Deleted: counted by status only.
      base('s7', '2026-11-07T23:59:59Z', {
        status: 'deleted',
        email_type: 'application',
        response_time_hours: 1,
        last_activity: '2026-11-07T11:00:00Z',
      }),
      // Created before the range (not in the population), active inside it (counted per day of activity).
      base('s8', '2026-10-31T23:59:59Z', { last_activity: '2026-11-04T13:00:00Z' }),
      // Created exactly at `to`: outside (the range is half-open).
      base('s9', TO, { last_activity: TO }),
      // Another user's thread, inside the range.
      { ...base('o1', '2026-11-02T00:00:00Z', { response_time_hours: 1 }), user_id: 'someone-else' },
    ];
    await t.store.db.insertInto('thread_tracking').values(rows).execute();
    // Rows written behind the service's back: drop what it may have cached.
    await t.service.clearUserCache('me');
  }

  const analytics = async (query: string) => {
    const res = await call('GET', `/api/v1/analytics?${query}`);
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };

  it('computes every figure for the range (UTC days)', async () => {
    await seed();
    const a = await analytics(`from=${FROM}&to=${TO}`);
    expect(a.range).toEqual({ from: '2026-11-01T00:00:00.000Z', to: '2026-11-08T00:00:00.000Z', tz: 'UTC' });
    expect(a.byStatus).toEqual({ active: 4, archived: 1, deleted: 1, spam: 1 });
    expect(a.byEmailType).toEqual({
      application: 2,
      followup: 1,
      manual: 1,
      auto_followup: 1,
      unclassified: 1,
    });
    expect(a.totals).toEqual({
      threads: 6,
      replied: 4,
      hidden: 1,
      systemGenerated: 2,
      aiGenerated: 1,
      tracked: 5,
      followupsScheduled: 1,
      followupsSent: 11,
    });
    expect(a.replyRate).toBe(0.6667);
    expect(a.averageOpenRate).toBe(40);
    expect(a.averageReplyRate).toBe(15);
    // Response times 2, 10, 30, 200: median (10+30)/2; p90 by linear interpolation at rank 2.7: 30 + 0.7*170.
    expect(a.responseTimeHours).toEqual({ count: 4, median: 20, p90: 149, average: 60.5 });
    expect(a.responseTimeHistogram).toEqual([
      { bucket: '<1h', count: 0 },
      { bucket: '1-4h', count: 1 },
      { bucket: '4-24h', count: 1 },
      { bucket: '1-3d', count: 1 },
      { bucket: '3-7d', count: 0 },
      { bucket: '>7d', count: 1 },
    ]);
    expect(a.replyRateByEmailType).toEqual([
      { emailType: 'application', threads: 2, replied: 1, replyRate: 0.5 },
      { emailType: 'followup', threads: 1, replied: 1, replyRate: 1 },
      { emailType: 'manual', threads: 1, replied: 0, replyRate: 0 },
      { emailType: 'auto_followup', threads: 1, replied: 1, replyRate: 1 },
      { emailType: 'unclassified', threads: 1, replied: 1, replyRate: 1 },
    ]);
    expect(a.replyRateByFollowupCount).toEqual([
      { followupCount: '0', threads: 2, replied: 2, replyRate: 1 },
      { followupCount: '1', threads: 1, replied: 0, replyRate: 0 },
      { followupCount: '2', threads: 1, replied: 1, replyRate: 1 },
      { followupCount: '3+', threads: 2, replied: 1, replyRate: 0.5 },
    ]);
    expect(a.daily).toEqual([
      { date: '2026-11-01', created: 2, lastActivity: 0 },
      { date: '2026-11-02', created: 1, lastActivity: 2 },
      { date: '2026-11-03', created: 1, lastActivity: 0 },
      { date: '2026-11-04', created: 0, lastActivity: 2 },
      { date: '2026-11-05', created: 1, lastActivity: 1 },
      { date: '2026-11-06', created: 1, lastActivity: 0 },
      { date: '2026-11-07', created: 0, lastActivity: 1 },
      { date: '2026-11-08', created: 0, lastActivity: 0 },
    ]);
  });

  it('buckets the per-day series in the requested time zone', async () => {
    await seed();
    const a = await analytics(`from=${FROM}&to=${TO}&tz=Europe%2FParis`);
    expect(a.range.tz).toBe('Europe/Paris');
    // Paris is UTC+1 in November: 23:30 UTC is the next day there.
    expect(a.daily).toEqual([
      { date: '2026-11-01', created: 1, lastActivity: 0 },
      { date: '2026-11-02', created: 2, lastActivity: 1 },
      { date: '2026-11-03', created: 1, lastActivity: 1 },
      { date: '2026-11-04', created: 0, lastActivity: 2 },
      { date: '2026-11-05', created: 1, lastActivity: 1 },
      { date: '2026-11-06', created: 1, lastActivity: 0 },
      { date: '2026-11-07', created: 0, lastActivity: 1 },
      { date: '2026-11-08', created: 0, lastActivity: 0 },
    ]);
    // Totals do not depend on the time zone.
    expect(a.totals.threads).toBe(6);
    const tokyo = await analytics(`from=${FROM}&to=${TO}&tz=Asia%2FTokyo`);
    expect(tokyo.daily.map((d: { date: string }) => d.date)).toEqual([
      '2026-11-01',
      '2026-11-02',
      '2026-11-03',
      '2026-11-04',
      '2026-11-05',
      '2026-11-06',
      '2026-11-07',
      '2026-11-08',
    ]);
    expect(tokyo.daily.reduce((n: number, d: { created: number }) => n + d.created, 0)).toBe(6);
  });

  it('narrows to the given range', async () => {
    await seed();
    const a = await analytics('from=2026-11-02T00:00:00Z&to=2026-11-03T00:00:01Z');
    expect(a.totals.threads).toBe(2);
    expect(a.byStatus).toEqual({ active: 1, archived: 1, deleted: 0, spam: 0 });
    expect(a.responseTimeHours).toEqual({ count: 2, median: 20, p90: 28, average: 20 });
  });

  it('answers zeros and nulls when there is nothing in the range', async () => {
    await seed();
    const a = await analytics('from=2020-01-01T00:00:00Z&to=2020-01-03T00:00:00Z');
    expect(a.totals).toEqual({
      threads: 0,
      replied: 0,
      hidden: 0,
      systemGenerated: 0,
      aiGenerated: 0,
      tracked: 0,
      followupsScheduled: 0,
      followupsSent: 0,
    });
    expect(a.replyRate).toBeNull();
    expect(a.averageOpenRate).toBeNull();
    expect(a.responseTimeHours).toEqual({ count: 0, median: null, p90: null, average: null });
    expect(a.daily).toHaveLength(3);
  });

  it('defaults to the last 30 days, ending at the next whole minute', async () => {
    const before = Date.now();
    const a = await analytics('');
    const to = Date.parse(a.range.to);
    expect(to % 60_000).toBe(0);
    expect(to).toBeGreaterThanOrEqual(before);
    expect(to - before).toBeLessThanOrEqual(60_000 + 5_000);
    expect(to - Date.parse(a.range.from)).toBe(30 * 86_400_000);
    expect(a.range.tz).toBe('UTC');
    expect(a.daily.length).toBeGreaterThanOrEqual(30);
  });

  it('reflects a write at once, even though figures are cached', async () => {
    const first = await analytics('');
    expect(first.totals.threads).toBe(0);
    await call('POST', '/api/v1/threads', { threadId: 'new1', emailType: 'manual' });
    const second = await analytics('');
    expect(second.totals.threads).toBe(1);
    expect(second.byEmailType.manual).toBe(1);
    await call('DELETE', '/api/v1/threads/new1');
    const third = await analytics('');
    expect(third.totals.threads).toBe(0);
    expect(third.byStatus.deleted).toBe(1);
  });

  it.each([
    ['from equal to to', `from=${FROM}&to=${FROM}`],
    ['from after to', `from=${TO}&to=${FROM}`],
    ['a range over 731 days', 'from=2020-01-01T00:00:00Z&to=2022-01-03T00:00:00Z'],
    ['an unknown time zone', 'tz=Nowhere%2FCity'],
    ['an unknown parameter', 'userId=someone-else'],
    ['a date without time zone', 'from=2026-11-01T00:00:00'],
  ])('refuses %s with 400', async (_name, query) => {
    expectProblem(await call('GET', `/api/v1/analytics?${query}`), 400, 'VALIDATION_FAILED');
  });
});
