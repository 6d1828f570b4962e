/**
 * Every change to a thread is a command. A command is planned into a ThreadMutation by pure code (here), and the
 * store applies a mutation and its event in one statement or transaction. Keeping writes as data means the same
 * command can be validated, applied, journaled during an outage and replayed later without any other code path.
 */
import { AppError } from './errors.ts';
import type {
  EmailType,
  Thread,
  ThreadCreate,
  ThreadEventType,
  ThreadPatch,
  ThreadStatus,
} from './thread.ts';

export type ThreadCommand =
  | { type: 'update'; threadId: string; patch: ThreadPatch }
  | { type: 'hide'; threadId: string }
  | { type: 'unhide'; threadId: string }
  | { type: 'archive'; threadId: string }
  | { type: 'unarchive'; threadId: string }
  | { type: 'markSystemGenerated'; threadId: string; emailType: EmailType; aiGenerated?: boolean }
  | { type: 'scheduleFollowup'; threadId: string; scheduledAt: string }
  | { type: 'cancelFollowup'; threadId: string; reason?: string }
  | { type: 'incrementFollowupCount'; threadId: string }
  | { type: 'delete'; threadId: string };

export type BulkAction = 'hide' | 'unhide' | 'archive' | 'unarchive';

/** Columns a mutation may set, by their domain names. */
export type ThreadFields = Partial<Omit<Thread, 'id' | 'userId' | 'threadId' | 'createdAt' | 'updatedAt'>>;

export interface ThreadMutation {
  set: ThreadFields;
  /** Atomic increments (`col = col + n`), so concurrent increments never lose an update. */
  increment?: { followupCount?: number };
  /** The update applies only while the thread has one of these statuses; otherwise THREAD_STATE_CONFLICT. */
  requireStatus?: readonly ThreadStatus[];
  event: {
    type: ThreadEventType;
    data: Record<string, unknown>;
    /** Fields of the updated row copied into the event data (values known only after the update). */
    includeFields?: readonly (keyof Thread)[];
  };
}

/** Plans a command into a mutation. `now` is the service clock, as ISO 8601. */
export function planCommand(command: ThreadCommand, now: string): ThreadMutation {
  switch (command.type) {
    case 'update': {
      const set: ThreadFields = { ...command.patch };
      if (command.patch.status !== undefined)
        set.archivedAt = command.patch.status === 'archived' ? now : null;
      if (command.patch.status !== undefined && command.patch.status !== 'active') {
        // A thread that leaves the active state takes its scheduled follow-up with it.
        set.followupScheduled = false;
        set.followupScheduledAt = null;
      }
      return { set, event: { type: 'updated', data: { changes: command.patch } } };
    }
    case 'hide':
      return { set: { hidden: true, hiddenAt: now }, event: { type: 'hidden', data: {} } };
    case 'unhide':
      return { set: { hidden: false, hiddenAt: null }, event: { type: 'unhidden', data: {} } };
    case 'archive':
      return {
        set: { status: 'archived', archivedAt: now, followupScheduled: false, followupScheduledAt: null },
        requireStatus: ['active', 'archived'],
        event: { type: 'archived', data: {} },
      };
    case 'unarchive':
      return {
        set: { status: 'active', archivedAt: null },
        requireStatus: ['active', 'archived'],
        event: { type: 'unarchived', data: {} },
      };
    case 'markSystemGenerated': {
      const set: ThreadFields = { systemGenerated: true, emailType: command.emailType };
      if (command.aiGenerated !== undefined) set.aiGenerated = command.aiGenerated;
      return {
        set,
        event: { type: 'marked_system_generated', data: { emailType: command.emailType } },
      };
    }
    case 'scheduleFollowup':
      if (Date.parse(command.scheduledAt) <= Date.parse(now)) {
        throw new AppError('FOLLOWUP_IN_PAST', 'scheduledAt must be in the future', {
          details: [{ path: 'scheduledAt', message: `must be later than ${now}` }],
        });
      }
      return {
        set: { followupScheduled: true, followupScheduledAt: command.scheduledAt },
        requireStatus: ['active'],
        event: { type: 'followup_scheduled', data: { scheduledAt: command.scheduledAt } },
      };
    case 'cancelFollowup':
      return {
        set: { followupScheduled: false, followupScheduledAt: null },
        event: { type: 'followup_cancelled', data: { reason: command.reason ?? 'user' } },
      };
    case 'incrementFollowupCount':
      return {
        set: {},
        increment: { followupCount: 1 },
        event: { type: 'followup_count_incremented', data: {}, includeFields: ['followupCount'] },
      };
    case 'delete':
      return {
        set: { status: 'deleted', followupScheduled: false, followupScheduledAt: null },
        event: { type: 'deleted', data: {} },
      };
  }
}

export function bulkCommand(action: BulkAction, threadId: string): ThreadCommand {
  return { type: action, threadId };
}

/** Fills the defaults of a new thread, as the table's column defaults would, but with the service clock. */
export function planCreate(input: ThreadCreate, now: string): ThreadFields & { threadId: string } {
  const scheduledAt = input.followupScheduledAt ?? null;
  return {
    threadId: input.threadId,
    leadId: input.leadId ?? null,
    tracked: input.tracked ?? true,
    hidden: input.hidden ?? false,
    hiddenAt: input.hidden ? now : null,
    systemGenerated: input.systemGenerated ?? false,
    emailType: input.emailType ?? null,
    status: input.status ?? 'active',
    archivedAt: input.status === 'archived' ? now : null,
    subject: input.subject ?? null,
    participants: input.participants ?? [],
    messageCount: input.messageCount ?? 1,
    lastActivity: input.lastActivity === undefined ? now : input.lastActivity,
    aiGenerated: input.aiGenerated ?? false,
    followupScheduled: scheduledAt !== null,
    followupScheduledAt: scheduledAt,
    followupCount: input.followupCount ?? 0,
    openRate: input.openRate ?? null,
    replyRate: input.replyRate ?? null,
    responseTimeHours: input.responseTimeHours ?? null,
  };
}
