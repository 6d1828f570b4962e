/**
 * Write operations as data. Every write the service accepts is one of these: it is applied to the database, or —
 * while the database is unavailable — kept in the outage journal and replayed later, exactly as it was accepted
 * (with the time it was accepted). `projectThread` is the pure reading of an operation's effect on a thread, used
 * to show a user their own queued writes before the database has them.
 */
import {
  type BulkAction,
  planCommand,
  planCreate,
  type ThreadCommand,
  type ThreadFields,
} from './commands.ts';
import type { Thread, ThreadCreate } from './thread.ts';

export type WriteOp =
  | { kind: 'command'; command: ThreadCommand }
  | { kind: 'create'; input: ThreadCreate; upsert: boolean }
  | { kind: 'purge'; threadId: string }
  | { kind: 'batchUpsert'; inputs: ThreadCreate[] }
  | { kind: 'bulk'; action: BulkAction; threadIds: string[] };

/** The thread ids an operation touches. */
export function threadIdsOf(op: WriteOp): string[] {
  switch (op.kind) {
    case 'command':
      return [op.command.threadId];
    case 'create':
      return [op.input.threadId];
    case 'purge':
      return [op.threadId];
    case 'batchUpsert':
      return op.inputs.map((i) => i.threadId);
    case 'bulk':
      return op.threadIds;
  }
}

export interface ProjectionContext {
  userId: string;
  opId: string;
  /** When the operation was accepted (ISO 8601). */
  at: string;
}

/**
 * The thread as it will be once `op` is applied to `base` (undefined: the thread does not exist, or not any more).
 * Operations that would be refused (a follow-up in the past, a missing thread) leave the thread as it was.
 */
export function projectThread(
  base: Thread | undefined,
  op: WriteOp,
  ctx: ProjectionContext,
): Thread | undefined {
  try {
    switch (op.kind) {
      case 'purge':
        return undefined;
      case 'create':
        if (base && !op.upsert) return base;
        return upsertProjection(base, op.input, ctx);
      case 'batchUpsert': {
        // A thread that does not exist yet is projected by projectNew, which knows the thread id.
        if (!base) return undefined;
        const input = op.inputs.find((i) => i.threadId === base.threadId);
        return input ? upsertProjection(base, input, ctx) : base;
      }
      case 'bulk':
        if (!base) return undefined;
        return applyFields(
          base,
          planCommand({ type: op.action, threadId: base.threadId }, ctx.at).set,
          ctx.at,
        );
      case 'command': {
        if (!base) return undefined;
        const mutation = planCommand(op.command, ctx.at);
        if (mutation.requireStatus && !mutation.requireStatus.includes(base.status)) return base;
        const next = applyFields(base, mutation.set, ctx.at);
        if (mutation.increment?.followupCount) next.followupCount += mutation.increment.followupCount;
        return next;
      }
    }
  } catch {
    return base;
  }
}

/** Projection of a batch upsert for a thread id that may not exist yet. */
export function projectNew(op: WriteOp, threadId: string, ctx: ProjectionContext): Thread | undefined {
  if (op.kind === 'create' && op.input.threadId === threadId)
    return upsertProjection(undefined, op.input, ctx);
  if (op.kind === 'batchUpsert') {
    const input = op.inputs.find((i) => i.threadId === threadId);
    return input ? upsertProjection(undefined, input, ctx) : undefined;
  }
  return undefined;
}

function upsertProjection(base: Thread | undefined, input: ThreadCreate, ctx: ProjectionContext): Thread {
  const planned = planCreate(input, ctx.at);
  if (!base) {
    return {
      id: ctx.opId,
      userId: ctx.userId,
      threadId: input.threadId,
      createdAt: ctx.at,
      updatedAt: ctx.at,
      ...(planned as Required<ThreadFields>),
    };
  }
  const given: ThreadFields = {};
  for (const key of Object.keys(input) as (keyof ThreadCreate)[]) {
    if (key === 'threadId' || input[key] === undefined) continue;
    (given as Record<string, unknown>)[key] = planned[key as keyof ThreadFields];
    if (key === 'hidden') given.hiddenAt = planned.hiddenAt ?? null;
    if (key === 'status') given.archivedAt = planned.archivedAt ?? null;
    if (key === 'followupScheduledAt') given.followupScheduled = planned.followupScheduled ?? false;
  }
  return applyFields(base, given, ctx.at);
}

function applyFields(base: Thread, fields: ThreadFields, at: string): Thread {
  const next: Thread = { ...base, updatedAt: at };
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) (next as unknown as Record<string, unknown>)[key] = value;
  }
  return next;
}
