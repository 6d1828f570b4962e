import { describe, expect, it } from 'vitest';
import { bulkCommand, planCommand, planCreate, type ThreadCommand, type ThreadMutation } from './commands.ts';
import { AppError } from './errors.ts';

const NOW = '2026-12-03T14:00:00.000Z';
const LATER = '2026-12-04T09:30:00.000Z';

describe('planCommand', () => {
  const cases: { name: string; command: ThreadCommand; expected: ThreadMutation }[] = [
    {
      name: 'hide sets hidden and hiddenAt',
      command: { type: 'hide', threadId: 't' },
      expected: { set: { hidden: true, hiddenAt: NOW }, event: { type: 'hidden', data: {} } },
    },
    {
      name: 'unhide clears hidden and hiddenAt',
      command: { type: 'unhide', threadId: 't' },
      expected: { set: { hidden: false, hiddenAt: null }, event: { type: 'unhidden', data: {} } },
    },
    {
      name: 'archive sets the status, archivedAt, and drops the follow-up; needs active or archived',
      command: { type: 'archive', threadId: 't' },
      expected: {
        set: { status: 'archived', archivedAt: NOW, followupScheduled: false, followupScheduledAt: null },
        requireStatus: ['active', 'archived'],
        event: { type: 'archived', data: {} },
      },
    },
    {
      name: 'unarchive returns to active and clears archivedAt',
      command: { type: 'unarchive', threadId: 't' },
      expected: {
        set: { status: 'active', archivedAt: null },
        requireStatus: ['active', 'archived'],
        event: { type: 'unarchived', data: {} },
      },
    },
    {
      name: 'markSystemGenerated without aiGenerated leaves aiGenerated alone',
      command: { type: 'markSystemGenerated', threadId: 't', emailType: 'application' },
      expected: {
        set: { systemGenerated: true, emailType: 'application' },
        event: { type: 'marked_system_generated', data: { emailType: 'application' } },
      },
    },
    {
      name: 'markSystemGenerated with aiGenerated=false sets it',
      command: { type: 'markSystemGenerated', threadId: 't', emailType: 'followup', aiGenerated: false },
      expected: {
        set: { systemGenerated: true, emailType: 'followup', aiGenerated: false },
        event: { type: 'marked_system_generated', data: { emailType: 'followup' } },
      },
    },
    {
      name: 'scheduleFollowup in the future sets the schedule on active threads only',
      command: { type: 'scheduleFollowup', threadId: 't', scheduledAt: LATER },
      expected: {
        set: { followupScheduled: true, followupScheduledAt: LATER },
        requireStatus: ['active'],
        event: { type: 'followup_scheduled', data: { scheduledAt: LATER } },
      },
    },
    {
      name: 'cancelFollowup defaults its reason to user',
      command: { type: 'cancelFollowup', threadId: 't' },
      expected: {
        set: { followupScheduled: false, followupScheduledAt: null },
        event: { type: 'followup_cancelled', data: { reason: 'user' } },
      },
    },
    {
      name: 'cancelFollowup keeps a given reason',
      command: { type: 'cancelFollowup', threadId: 't', reason: 'replied' },
      expected: {
        set: { followupScheduled: false, followupScheduledAt: null },
        event: { type: 'followup_cancelled', data: { reason: 'replied' } },
      },
    },
    {
      name: 'incrementFollowupCount is an atomic increment whose event carries the new count',
      command: { type: 'incrementFollowupCount', threadId: 't' },
      expected: {
        set: {},
        increment: { followupCount: 1 },
        event: { type: 'followup_count_incremented', data: {}, includeFields: ['followupCount'] },
      },
    },
    {
      name: 'delete is soft and drops the follow-up',
      command: { type: 'delete', threadId: 't' },
      expected: {
        set: { status: 'deleted', followupScheduled: false, followupScheduledAt: null },
        event: { type: 'deleted', data: {} },
      },
    },
    {
      name: 'update copies the patch and records it as the change',
      command: { type: 'update', threadId: 't', patch: { subject: 'Re: hello', messageCount: 3 } },
      expected: {
        set: { subject: 'Re: hello', messageCount: 3 },
        event: { type: 'updated', data: { changes: { subject: 'Re: hello', messageCount: 3 } } },
      },
    },
    {
      name: 'update to archived sets archivedAt and drops the follow-up',
      command: { type: 'update', threadId: 't', patch: { status: 'archived' } },
      expected: {
        set: { status: 'archived', archivedAt: NOW, followupScheduled: false, followupScheduledAt: null },
        event: { type: 'updated', data: { changes: { status: 'archived' } } },
      },
    },
    {
      name: 'update to active clears archivedAt and keeps the follow-up',
      command: { type: 'update', threadId: 't', patch: { status: 'active' } },
      expected: {
        set: { status: 'active', archivedAt: null },
        event: { type: 'updated', data: { changes: { status: 'active' } } },
      },
    },
    {
      name: 'update to spam clears archivedAt and drops the follow-up',
      command: { type: 'update', threadId: 't', patch: { status: 'spam' } },
      expected: {
        set: { status: 'spam', archivedAt: null, followupScheduled: false, followupScheduledAt: null },
        event: { type: 'updated', data: { changes: { status: 'spam' } } },
      },
    },
  ];

  it.each(cases)('$name', ({ command, expected }) => {
    expect(planCommand(command, NOW)).toEqual(expected);
  });

  it('does not let the planned set alias the caller patch', () => {
    const patch = { subject: 'a' };
    const mutation = planCommand({ type: 'update', threadId: 't', patch }, NOW);
    mutation.set.subject = 'b';
    expect(patch.subject).toBe('a');
  });

  it.each([
    ['the same instant', NOW],
    ['one millisecond earlier', '2026-12-03T13:59:59.999Z'],
    ['a year earlier', '2025-12-03T14:00:00.000Z'],
    ['the same instant written with an offset', '2026-12-03T15:00:00.000+01:00'],
  ])('refuses a follow-up at %s with FOLLOWUP_IN_PAST', (_name, scheduledAt) => {
    let caught: unknown;
    try {
      planCommand({ type: 'scheduleFollowup', threadId: 't', scheduledAt }, NOW);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(AppError);
    expect((caught as AppError).code).toBe('FOLLOWUP_IN_PAST');
    expect((caught as AppError).status).toBe(422);
    expect((caught as AppError).details?.[0]?.path).toBe('scheduledAt');
  });

  it('accepts a follow-up one millisecond in the future', () => {
    const scheduledAt = '2026-12-03T14:00:00.001Z';
    expect(planCommand({ type: 'scheduleFollowup', threadId: 't', scheduledAt }, NOW).set).toEqual({
      followupScheduled: true,
      followupScheduledAt: scheduledAt,
    });
  });
});

describe('bulkCommand', () => {
  it.each(['hide', 'unhide', 'archive', 'unarchive'] as const)('builds a %s command', (action) => {
    expect(bulkCommand(action, 'abc')).toEqual({ type: action, threadId: 'abc' });
  });
});

describe('planCreate', () => {
  it('fills every default with the service clock', () => {
    expect(planCreate({ threadId: 'abc' }, NOW)).toEqual({
      threadId: 'abc',
      leadId: null,
      tracked: true,
      hidden: false,
      hiddenAt: null,
      systemGenerated: false,
      emailType: null,
      status: 'active',
      archivedAt: null,
      subject: null,
      participants: [],
      messageCount: 1,
      lastActivity: NOW,
      aiGenerated: false,
      followupScheduled: false,
      followupScheduledAt: null,
      followupCount: 0,
      openRate: null,
      replyRate: null,
      responseTimeHours: null,
    });
  });

  const cases = [
    { name: 'hidden sets hiddenAt', input: { hidden: true }, expected: { hidden: true, hiddenAt: NOW } },
    { name: 'hidden=false leaves hiddenAt null', input: { hidden: false }, expected: { hiddenAt: null } },
    {
      name: 'archived status sets archivedAt',
      input: { status: 'archived' as const },
      expected: { status: 'archived', archivedAt: NOW },
    },
    {
      name: 'spam status leaves archivedAt null',
      input: { status: 'spam' as const },
      expected: { status: 'spam', archivedAt: null },
    },
    {
      name: 'a follow-up time marks the follow-up scheduled',
      input: { followupScheduledAt: LATER },
      expected: { followupScheduled: true, followupScheduledAt: LATER },
    },
    {
      name: 'a null follow-up time leaves it unscheduled',
      input: { followupScheduledAt: null },
      expected: { followupScheduled: false, followupScheduledAt: null },
    },
    {
      name: 'an explicit null lastActivity stays null (not the clock)',
      input: { lastActivity: null },
      expected: { lastActivity: null },
    },
    {
      name: 'a given lastActivity is kept',
      input: { lastActivity: LATER },
      expected: { lastActivity: LATER },
    },
    {
      name: 'messageCount 0 is kept (not replaced by the default 1)',
      input: { messageCount: 0 },
      expected: { messageCount: 0 },
    },
    {
      name: 'tracked=false is kept',
      input: { tracked: false },
      expected: { tracked: false },
    },
    {
      name: 'rates of 0 are kept (not turned into null)',
      input: { openRate: 0, replyRate: 0, responseTimeHours: 0 },
      expected: { openRate: 0, replyRate: 0, responseTimeHours: 0 },
    },
  ];

  it.each(cases)('$name', ({ input, expected }) => {
    expect(planCreate({ threadId: 'abc', ...input }, NOW)).toMatchObject(expected);
  });
});
