import { describe, expect, it } from 'vitest';
import {
  addBusinessDays,
  checkMailbox,
  checkSendWindow,
  checkThreadState,
  computeDueAt,
  DEFAULT_FOLLOWUP_POLICY,
  delayForStep,
  explainSchedule,
  type FollowupPolicy,
  followupPolicyInputSchema,
  inSendWindow,
  type JobFacts,
  localDay,
  type MailboxMessage,
  nextSendSlot,
  resolvePolicy,
  startOfNextLocalDay,
  type ThreadState,
} from './followup-policy.ts';
import { zonedParts, zonedToInstant } from './followup-time.ts';

const policy = (overrides: Partial<FollowupPolicy> = {}): FollowupPolicy => resolvePolicy(overrides);
const local = (text: string) => {
  const [date, time] = text.split(' ') as [string, string];
  const [year, month, day] = date.split('-').map(Number) as [number, number, number];
  const [hour, minute] = time.split(':').map(Number) as [number, number];
  return { year, month, day, hour, minute };
};

describe('wall clock to instant', () => {
  it.each([
    ['UTC', '2026-06-01 09:00', '2026-06-01T09:00:00.000Z'],
    ['Europe/Paris', '2026-01-15 09:00', '2026-01-15T08:00:00.000Z'],
    ['Europe/Paris', '2026-07-15 09:00', '2026-07-15T07:00:00.000Z'],
    // Spring forward (02:00 → 03:00): 02:30 does not exist and is read as 03:30.
    ['Europe/Paris', '2026-03-29 02:30', '2026-03-29T01:30:00.000Z'],
    ['Europe/Paris', '2026-03-29 09:00', '2026-03-29T07:00:00.000Z'],
    // Fall back (03:00 → 02:00): 02:30 happens twice; the first one is taken.
    ['Europe/Paris', '2026-10-25 02:30', '2026-10-25T00:30:00.000Z'],
    ['Europe/Paris', '2026-10-25 09:00', '2026-10-25T08:00:00.000Z'],
    ['America/New_York', '2026-03-08 02:30', '2026-03-08T07:30:00.000Z'],
    ['America/New_York', '2026-11-01 01:30', '2026-11-01T05:30:00.000Z'],
    // Half-hour shift, and a Friday change.
    ['Australia/Lord_Howe', '2026-04-05 01:45', '2026-04-04T14:45:00.000Z'],
    ['Asia/Jerusalem', '2026-03-27 02:30', '2026-03-27T00:30:00.000Z'],
    ['Asia/Kolkata', '2026-03-29 09:00', '2026-03-29T03:30:00.000Z'],
  ])('%s %s is %s', (tz, wall, expected) => {
    expect(zonedToInstant(local(wall), tz).toISOString()).toBe(expected);
  });

  it('reads instants back as the same wall clock outside transitions', () => {
    for (const tz of ['Europe/Paris', 'America/Los_Angeles', 'Asia/Tokyo', 'Australia/Sydney']) {
      const instant = zonedToInstant(local('2026-05-12 13:45'), tz);
      const p = zonedParts(instant, tz);
      expect([p.year, p.month, p.day, p.hour, p.minute]).toEqual([2026, 5, 12, 13, 45]);
    }
  });
});

describe('policy', () => {
  it('has the documented defaults', () => {
    expect(DEFAULT_FOLLOWUP_POLICY).toMatchObject({
      mode: 'draft',
      delaysBusinessDays: [3, 7],
      maxFollowups: 3,
      businessDays: [1, 2, 3, 4, 5],
      sendWindow: { start: '09:00', end: '17:00' },
      openTracking: false,
    });
    expect(DEFAULT_FOLLOWUP_POLICY.dailyCap).toBeGreaterThan(0);
  });

  it.each([
    [{ timeZone: 'Mars/Olympus' }, 'timeZone'],
    [{ sendWindow: { start: '17:00', end: '09:00' } }, 'sendWindow'],
    [{ sendWindow: { start: '9:00', end: '17:00' } }, 'sendWindow.start'],
    [{ businessDays: [0] }, 'businessDays.0'],
    [{ delaysBusinessDays: [] }, 'delaysBusinessDays'],
    [{ holidays: ['2026-02-30'] }, 'holidays.0'],
    [{ dailyCap: 0 }, 'dailyCap'],
    [{ mode: 'shout' }, 'mode'],
    [{ surprise: true }, ''],
  ])('refuses %j', (input, path) => {
    const result = followupPolicyInputSchema.safeParse(input);
    expect(result.success).toBe(false);
    if (path) expect(result.error!.issues.map((i) => i.path.join('.'))).toContain(path);
  });

  it('fills what is left out with defaults and sorts days', () => {
    expect(resolvePolicy({ businessDays: [5, 1, 1], timeZone: 'Europe/Paris' })).toMatchObject({
      businessDays: [1, 5],
      timeZone: 'Europe/Paris',
      delaysBusinessDays: [3, 7],
    });
  });

  it.each([
    [1, 3],
    [2, 7],
    [3, 7],
    [9, 7],
  ])('step %i waits %i business days; the last delay repeats', (step, days) => {
    expect(delayForStep(policy(), step)).toBe(days);
  });

  it('counts business days, skipping weekends and holidays', () => {
    const p = policy({ holidays: ['2026-12-24', '2026-12-25'] });
    expect(addBusinessDays({ year: 2026, month: 12, day: 21 }, 3, p)).toEqual({
      year: 2026,
      month: 12,
      day: 28,
    });
    expect(addBusinessDays({ year: 2026, month: 6, day: 5 }, 1, p)).toEqual({ year: 2026, month: 6, day: 8 });
  });
});

describe('due time', () => {
  it.each([
    ['Monday morning + 3 business days', {}, '2026-06-01T10:00:00Z', 1, '2026-06-04T10:00:00.000Z'],
    ['Friday + 3 crosses the weekend', {}, '2026-06-05T10:00:00Z', 1, '2026-06-10T10:00:00.000Z'],
    ['a message sent on Saturday', {}, '2026-06-06T10:00:00Z', 1, '2026-06-10T10:00:00.000Z'],
    ['after the window: next morning', {}, '2026-06-01T18:30:00Z', 1, '2026-06-05T09:00:00.000Z'],
    ['before the window: that morning', {}, '2026-06-03T07:00:00Z', 1, '2026-06-08T09:00:00.000Z'],
    ['step 2 waits 7 business days', {}, '2026-06-04T10:00:00Z', 2, '2026-06-15T10:00:00.000Z'],
    ['step 3 repeats the last delay', {}, '2026-06-15T10:00:00Z', 3, '2026-06-24T10:00:00.000Z'],
    [
      'holidays are not business days',
      { holidays: ['2026-12-24', '2026-12-25'] },
      '2026-12-21T10:00:00Z',
      1,
      '2026-12-28T10:00:00.000Z',
    ],
    // Paris goes from UTC+1 to UTC+2 on Sunday 29 March: same local time, one hour less in UTC.
    [
      'across spring forward (Paris)',
      { timeZone: 'Europe/Paris' },
      '2026-03-27T09:00:00Z',
      1,
      '2026-04-01T08:00:00.000Z',
    ],
    [
      'across fall back (Paris)',
      { timeZone: 'Europe/Paris' },
      '2026-10-23T14:30:00Z',
      1,
      '2026-10-28T15:30:00.000Z',
    ],
    [
      'across spring forward (New York)',
      { timeZone: 'America/New_York' },
      '2026-03-06T21:00:00Z',
      1,
      '2026-03-11T20:00:00.000Z',
    ],
    [
      'window opening on the DST change day itself (Sunday business day)',
      { timeZone: 'Europe/Paris', businessDays: [7], delaysBusinessDays: [1] },
      '2026-03-22T07:00:00Z',
      1,
      '2026-03-29T07:00:00.000Z',
    ],
    [
      'a Sunday–Thursday week across a Friday DST change (Jerusalem)',
      { timeZone: 'Asia/Jerusalem', businessDays: [7, 1, 2, 3, 4], delaysBusinessDays: [1] },
      '2026-03-26T08:00:00Z',
      1,
      '2026-03-29T07:00:00.000Z',
    ],
  ])('%s', (_name, overrides, anchor, step, expected) => {
    const p = policy(overrides as Partial<FollowupPolicy>);
    const now = new Date(anchor);
    expect(computeDueAt(new Date(anchor), step, p, now).toISOString()).toBe(expected);
  });

  it('is never before now: a late computation takes the next slot from now', () => {
    const due = computeDueAt(new Date('2026-06-01T10:00:00Z'), 1, policy(), new Date('2026-06-06T12:00:00Z'));
    expect(due.toISOString()).toBe('2026-06-08T09:00:00.000Z');
  });

  it('keeps the send window when it opens inside the skipped hour of a DST change', () => {
    const p = policy({
      timeZone: 'Europe/Paris',
      businessDays: [1, 2, 3, 4, 5, 6, 7],
      sendWindow: { start: '02:30', end: '05:00' },
    });
    // 01:00 local on the change day: the window "opens" at 02:30, which is read as 03:30 local (01:30 UTC).
    expect(nextSendSlot(new Date('2026-03-29T00:00:00Z'), p).toISOString()).toBe('2026-03-29T01:30:00.000Z');
    // Fall back: 02:30 happens twice; the window opens at the first.
    expect(nextSendSlot(new Date('2026-10-24T23:00:00Z'), p).toISOString()).toBe('2026-10-25T00:30:00.000Z');
  });

  it.each([
    ['inside', '2026-06-03T12:00:00Z', true],
    ['at the opening', '2026-06-03T09:00:00Z', true],
    ['at the closing (exclusive)', '2026-06-03T17:00:00Z', false],
    ['Saturday', '2026-06-06T12:00:00Z', false],
  ])('send window: %s', (_name, instant, inside) => {
    expect(inSendWindow(new Date(instant), policy())).toBe(inside);
    const decision = checkSendWindow(policy(), new Date(instant));
    expect(decision.action).toBe(inside ? 'proceed' : 'wait');
  });

  it('finds the user’s local day and when the next one starts (daily cap), across DST', () => {
    expect(localDay(new Date('2026-03-28T23:30:00Z'), 'Europe/Paris')).toBe('2026-03-29');
    expect(startOfNextLocalDay(new Date('2026-03-28T23:30:00Z'), 'Europe/Paris').toISOString()).toBe(
      '2026-03-29T22:00:00.000Z',
    );
    expect(startOfNextLocalDay(new Date('2026-06-01T10:00:00Z'), 'UTC').toISOString()).toBe(
      '2026-06-02T00:00:00.000Z',
    );
  });
});

describe('re-check of the stored thread', () => {
  const now = new Date('2026-06-04T10:00:00Z');
  const thread = (overrides: Partial<ThreadState> = {}): ThreadState => ({
    tracked: true,
    hidden: false,
    status: 'active',
    followupScheduled: true,
    followupScheduledAt: '2026-06-04T09:00:00.000Z',
    followupCount: 0,
    ...overrides,
  });
  const job: JobFacts = { step: 1, origin: 'policy', anchorAt: null, previousDraftAt: null };

  it.each([
    ['proceeds when everything holds', thread(), job, { action: 'proceed' }],
    ['drops a purged thread', undefined, job, { action: 'drop', reason: 'thread_missing' }],
    [
      'drops an archived thread',
      thread({ status: 'archived' }),
      job,
      { action: 'drop', reason: 'not_active' },
    ],
    ['drops a deleted thread', thread({ status: 'deleted' }), job, { action: 'drop', reason: 'not_active' }],
    ['drops a spam thread', thread({ status: 'spam' }), job, { action: 'drop', reason: 'not_active' }],
    [
      'drops when the schedule was cancelled (a reply seen by sync)',
      thread({ followupScheduled: false, followupScheduledAt: null }),
      job,
      { action: 'drop', reason: 'not_scheduled' },
    ],
    [
      'drops when this step already went out',
      thread({ followupCount: 1 }),
      job,
      { action: 'drop', reason: 'already_sent' },
    ],
    [
      'drops when the user moved it later',
      thread({ followupScheduledAt: '2026-06-05T09:00:00.000Z' }),
      job,
      { action: 'drop', reason: 'rescheduled' },
    ],
    ['skips an untracked thread', thread({ tracked: false }), job, { action: 'skip', reason: 'not_tracked' }],
    ['skips a hidden thread', thread({ hidden: true }), job, { action: 'skip', reason: 'hidden' }],
    [
      'skips an engine follow-up beyond the cap',
      thread({ followupCount: 3 }),
      { ...job, step: 4 },
      { action: 'skip', reason: 'cap_reached' },
    ],
    [
      'lets a follow-up the user scheduled by hand go beyond the cap',
      thread({ followupCount: 3 }),
      { ...job, step: 4, origin: 'manual' as const },
      { action: 'proceed' },
    ],
  ])('%s', (_name, state, facts, expected) => {
    expect(checkThreadState(state, facts, policy(), now)).toEqual(expected);
  });
});

describe('re-check of the mailbox', () => {
  const now = new Date('2026-06-04T10:00:00Z');
  const sent = (at: string, messageId = `<${at}@me>`): MailboxMessage => ({ kind: 'sent', at, messageId });
  const other = (kind: MailboxMessage['kind'], at: string): MailboxMessage => ({
    kind,
    at,
    messageId: `<${kind}-${at}@them>`,
  });
  const job: JobFacts = { step: 1, origin: 'policy', anchorAt: null, previousDraftAt: null };
  const mine = '2026-06-01T10:00:00.000Z';

  it.each([
    ['proceeds when the user’s message is the latest', [sent(mine)], job, 'proceed'],
    [
      'an out-of-office reply does not stop it',
      [sent(mine), other('auto_reply', '2026-06-01T10:01:00.000Z')],
      job,
      'proceed',
    ],
    ['a real reply stops it', [sent(mine), other('reply', '2026-06-02T08:00:00.000Z')], job, 'skip:reply'],
    ['a bounce stops it', [sent(mine), other('bounce', '2026-06-01T10:02:00.000Z')], job, 'skip:bounce'],
    [
      'a reply answered by the user does not stop it',
      [sent('2026-05-28T10:00:00.000Z'), other('reply', '2026-05-29T10:00:00.000Z'), sent(mine)],
      job,
      'proceed',
    ],
    ['no message of the user', [other('inbound', mine)], job, 'skip:no_user_message'],
    [
      'the user wrote again after the anchor: counted from the new message',
      [sent('2026-05-28T10:00:00.000Z'), sent('2026-06-03T10:00:00.000Z')],
      { ...job, anchorAt: '2026-05-28T10:00:00.000Z' },
      'reschedule',
    ],
    [
      'draft mode: the previous draft was never sent',
      [sent(mine)],
      { ...job, step: 2, previousDraftAt: '2026-06-02T10:00:00.000Z' },
      'skip:previous_draft_unsent',
    ],
    [
      'draft mode: the previous draft was sent',
      [sent(mine), sent('2026-06-02T11:00:00.000Z')],
      { ...job, step: 2, previousDraftAt: '2026-06-02T10:00:00.000Z' },
      'proceed',
    ],
  ])('%s', (_name, messages, facts, expected) => {
    const decision = checkMailbox(messages, facts, policy(), now);
    const label = 'reason' in decision ? `${decision.action}:${decision.reason}` : decision.action;
    expect(expected === 'reschedule' ? decision.action : label).toBe(expected);
  });

  it('replies to the user’s last message, and reschedules from a newer one to a later business day', () => {
    const proceed = checkMailbox(
      [sent(mine, '<a@me>'), other('auto_reply', now.toISOString())],
      job,
      policy(),
      now,
    );
    expect(proceed).toMatchObject({ action: 'proceed', parent: { messageId: '<a@me>' } });
    const moved = checkMailbox(
      [sent('2026-06-03T10:00:00.000Z')],
      { ...job, anchorAt: '2026-05-28T10:00:00.000Z' },
      policy(),
      now,
    );
    expect(moved).toEqual({
      action: 'reschedule',
      at: '2026-06-08T10:00:00.000Z',
      reason: 'user_wrote_again',
    });
  });
});

describe('why a follow-up is scheduled', () => {
  const now = new Date('2026-06-01T12:00:00Z');
  it('explains an engine schedule with its anchor, in the user’s time zone', () => {
    const text = explainSchedule(
      {
        plan: { anchorAt: '2026-05-29T08:00:00Z', anchorKind: 'message', delayBusinessDays: 3 },
        scheduledAt: '2026-06-03T08:00:00Z',
        step: 1,
      },
      policy({ timeZone: 'Europe/Paris' }),
      now,
    );
    expect(text).toBe(
      'No reply 3 business days after your message of Fri 29 May 2026, 10:00 (Europe/Paris); follow-up 1 of 3. It will be drafted in your mailbox unless they reply first.',
    );
  });

  it('explains a schedule set by hand outside the window', () => {
    const text = explainSchedule(
      { plan: null, scheduledAt: '2026-06-06T10:00:00Z', step: 2 },
      policy({ mode: 'send' }),
      now,
    );
    expect(text).toBe(
      'Scheduled by you; follow-up 2; goes out when the send window opens, Mon 8 Jun 2026, 09:00. It will be sent in the thread unless they reply first.',
    );
  });
});
