/**
 * One sync run of one account: pages of changes from the provider → the mirror (with the cursor, one transaction
 * per page) → threads computed from the mirror → ThreadTrackingService (so every change gets its event and its
 * cache update) → reply, auto-reply and bounce events, and follow-ups cancelled by a reply.
 *
 * Invariants:
 * - Threads are a function of the mirror, which is a copy of the mailbox: a page applied twice, a run stopped at
 *   any point and started again, converge on the same rows. What was last written for each thread is stored
 *   (mail_threads) and only what changed is written again, so the user's own edits stay.
 * - A run that starts from a freshly loaded mirror first brings every thread up to date (a crash may have stopped
 *   the previous run between its page and its thread writes).
 * - Events for a message are recorded once: the event rows and the message's `announced` flag commit together;
 *   a follow-up is cancelled before that commit, so a crash in between cancels it (again) on the next run.
 */
import {
  DEFAULT_EMAIL_TYPE_RULES,
  type DetectionContext,
  type EmailTypeRule,
  matchLead,
  type Projection,
  planThreadWrite,
  projectedFields,
  summarizeThread,
  type ThreadSummary,
  type ThreadWrite,
} from '../domain/detection.ts';
import { AppError } from '../domain/errors.ts';
import type { SyncCursor, SyncProgress } from '../domain/mail-sync.ts';
import { type Thread, type ThreadCreate, threadCreateSchema } from '../domain/thread.ts';
import { threadLinks } from '../domain/threading.ts';
import type { Clock } from '../ports/clock.ts';
import type { EventBus } from '../ports/event-bus.ts';
import { type Logger, silentLogger } from '../ports/logger.ts';
import type {
  MailAccount,
  MailAccountRepository,
  MailMirrorRepository,
  MirrorMessage,
  ProjectionCommit,
} from '../ports/mail-account-store.ts';
import type { ChangePage, MailProvider } from '../ports/mail-provider.ts';
import type { Store } from '../ports/store.ts';
import { imapThreadGroups } from './sync-threads.ts';
import type { ThreadTrackingService } from './thread-tracking-service.ts';

export interface SyncEngineSettings {
  rules?: readonly EmailTypeRule[];
  /** Days before the first sync that it reaches back. */
  initialDays: number;
  /** Largest ThreadTrackingService batch. */
  batchSize: number;
}

export interface SyncEngineDeps {
  service: ThreadTrackingService;
  store: Store;
  mirror: MailMirrorRepository;
  accounts: MailAccountRepository;
  events: EventBus;
  clock: Clock;
  settings: SyncEngineSettings;
}

export interface RunHooks {
  signal?: AbortSignal;
  log?: Logger;
  onProgress?: (progress: SyncProgress) => void;
}

export interface RunResult {
  pages: number;
  messages: number;
  threadsWritten: number;
  events: number;
}

/** The mirror of one account held in memory between runs, valid while its version matches the stored one. */
interface Mirror {
  version: number;
  messages: Map<string, MirrorMessage>;
  projections: Map<string, Projection>;
  /** The threads of the mirror: thread id → message keys, and each key's thread. */
  groups: Map<string, Set<string>>;
  threadOf: Map<string, string>;
  /** IMAP: threading links (Message-IDs, base subjects) → the keys naming them, and each key's links. */
  links: Map<string, Set<string>>;
  linksOf: Map<string, string[]>;
  /** Whether every thread was brought up to date since this copy was loaded. */
  projected: boolean;
}

const EVENT_OF = {
  reply: 'reply_detected',
  auto_reply: 'auto_reply_received',
  bounce: 'bounce_received',
} as const;

export class SyncEngine {
  readonly #deps: SyncEngineDeps;
  readonly #mirrors = new Map<string, Mirror>();

  constructor(deps: SyncEngineDeps) {
    this.#deps = deps;
  }

  /** Forgets the in-memory mirror of an account (removed). */
  forget(accountId: string): void {
    this.#mirrors.delete(accountId);
  }

  async run(account: MailAccount, provider: MailProvider, hooks: RunHooks = {}): Promise<RunResult> {
    const { clock, settings } = this.#deps;
    const log = hooks.log ?? silentLogger;
    const result: RunResult = { pages: 0, messages: 0, threadsWritten: 0, events: 0 };
    const mirror = await this.#mirrorOf(account.id);
    if (!mirror.projected) {
      await this.#project(account, mirror, null, result, log);
      mirror.projected = true;
    }
    let cursor: SyncCursor | null = account.cursor;
    const since = cursor
      ? new Date(cursor.since)
      : new Date(clock.now().getTime() - settings.initialDays * 86_400_000);
    const pages = provider.listChanges(cursor, {
      since,
      ...(hooks.signal ? { signal: hooks.signal } : {}),
      staleThreads: (generation) => this.#deps.mirror.staleThreads(account.id, generation),
    });
    for await (const page of pages) {
      const { version, removed } = await this.#deps.mirror.commitPage(account.id, page, cursor);
      cursor = page.cursor;
      const touched = this.#apply(mirror, page, removed);
      // A failed projection leaves the copy marked, so the next run brings every thread up to date.
      mirror.projected = false;
      mirror.version = version;
      await this.#project(account, mirror, touched, result, log);
      mirror.projected = true;
      result.pages++;
      result.messages += page.messages.length;
      hooks.onProgress?.(page.progress);
      if (hooks.signal?.aborted) break;
    }
    return result;
  }

  // ---------------------------------------------------------------------------------------------------------

  async #mirrorOf(accountId: string): Promise<Mirror> {
    const held = this.#mirrors.get(accountId);
    if (held && held.version === (await this.#deps.mirror.version(accountId))) return held;
    const state = await this.#deps.mirror.load(accountId);
    const mirror: Mirror = {
      version: state.version,
      messages: new Map(state.messages.map((m) => [m.key, m])),
      projections: state.projections,
      groups: new Map(),
      threadOf: new Map(),
      links: new Map(),
      linksOf: new Map(),
      projected: false,
    };
    this.#mirrors.set(accountId, mirror);
    return mirror;
  }

  /** Applies a committed page to the copy in memory; the keys whose threads may have changed. */
  #apply(mirror: Mirror, page: ChangePage, removed: string[]): Set<string> {
    const touched = new Set<string>();
    for (const message of page.messages) {
      const before = mirror.messages.get(message.key);
      mirror.messages.set(message.key, { ...message, announced: before?.announced ?? false });
      touched.add(message.key);
    }
    for (const key of removed) {
      mirror.messages.delete(key);
      touched.add(key);
    }
    return touched;
  }

  /**
   * Regroups the mirror's messages into threads after a change to `touched` (null: everything), and returns the
   * ids of the threads that may have changed (those the touched messages were in, and are in now).
   * Gmail names each message's thread. IMAP threads by headers (domain/threading.ts); threading is separable along
   * shared Message-IDs and base subjects, so only the messages linked to a touched one are threaded again.
   */
  #regroup(account: MailAccount, mirror: Mirror, touched: Set<string> | null): Set<string> {
    const changed = new Set<string>();
    const keys = touched ?? new Set([...mirror.messages.keys(), ...mirror.threadOf.keys()]);
    if (touched === null) {
      mirror.groups.clear();
      mirror.threadOf.clear();
      mirror.links.clear();
      mirror.linksOf.clear();
    }
    const place = (key: string, threadId: string) => {
      mirror.threadOf.set(key, threadId);
      let group = mirror.groups.get(threadId);
      if (!group) {
        group = new Set();
        mirror.groups.set(threadId, group);
      }
      group.add(key);
      changed.add(threadId);
    };
    const unplace = (key: string) => {
      const threadId = mirror.threadOf.get(key);
      if (threadId === undefined) return;
      mirror.threadOf.delete(key);
      const group = mirror.groups.get(threadId);
      group?.delete(key);
      if (group?.size === 0) mirror.groups.delete(threadId);
      changed.add(threadId);
    };
    if (account.provider === 'gmail') {
      for (const key of keys) {
        unplace(key);
        const m = mirror.messages.get(key);
        if (m?.providerThreadId) place(key, m.providerThreadId);
      }
      return changed;
    }

    // Every message linked to a touched one, through the links before and after the change.
    const component = new Set<string>(keys);
    const queue: string[] = [];
    for (const key of keys) {
      queue.push(...(mirror.linksOf.get(key) ?? []));
      for (const link of mirror.linksOf.get(key) ?? []) mirror.links.get(link)?.delete(key);
      mirror.linksOf.delete(key);
      const m = mirror.messages.get(key);
      if (!m) continue;
      const links = threadLinks(m);
      mirror.linksOf.set(key, links);
      for (const link of links) {
        let holders = mirror.links.get(link);
        if (!holders) {
          holders = new Set();
          mirror.links.set(link, holders);
        }
        holders.add(key);
        queue.push(link);
      }
    }
    const seenLinks = new Set<string>();
    while (queue.length > 0) {
      const link = queue.pop()!;
      if (seenLinks.has(link)) continue;
      seenLinks.add(link);
      for (const key of mirror.links.get(link) ?? []) {
        if (component.has(key)) continue;
        component.add(key);
        queue.push(...(mirror.linksOf.get(key) ?? []));
      }
    }
    for (const key of component) unplace(key);

    const present = [...component].flatMap((key) => mirror.messages.get(key) ?? []);
    for (const [threadId, items] of imapThreadGroups(account, present)) {
      for (const m of items) place(m.key, threadId);
    }
    return changed;
  }

  /**
   * Brings threads up to date: those holding a `touched` message (or every thread, with null), and those whose
   * messages all left.
   */
  async #project(
    account: MailAccount,
    mirror: Mirror,
    touched: Set<string> | null,
    result: RunResult,
    log: Logger,
  ): Promise<void> {
    const { service, store, settings } = this.#deps;
    const candidates = this.#regroup(account, mirror, touched);
    // Threads written before and gone now (all messages left, or merged into another thread).
    if (touched === null) for (const id of mirror.projections.keys()) candidates.add(id);
    if (candidates.size === 0) return;
    const groupOf = (threadId: string) =>
      [...(mirror.groups.get(threadId) ?? [])].map((key) => mirror.messages.get(key)!);

    const ctx: DetectionContext = {
      userAddresses: [account.email.toLowerCase()],
      rules: settings.rules ?? DEFAULT_EMAIL_TYPE_RULES,
    };
    const summaries = new Map<string, ThreadSummary>();
    for (const threadId of candidates) {
      const items = groupOf(threadId);
      if (items.length > 0) summaries.set(threadId, summarizeThread(items, ctx));
    }
    const participants = new Set<string>();
    for (const s of summaries.values()) if (s.tracked) for (const p of s.participants) participants.add(p);
    const leads =
      participants.size > 0 ? await store.leads.findByEmails(account.userId, [...participants]) : [];

    const plans = new Map<string, ThreadWrite>();
    for (const threadId of candidates) {
      const summary = summaries.get(threadId);
      const next =
        summary?.tracked === true ? projectedFields(summary, matchLead(summary.participants, leads)) : null;
      plans.set(threadId, planThreadWrite(threadId, mirror.projections.get(threadId), next));
    }

    // Threads first: events and follow-up cancellations refer to rows that exist.
    const upserts: ThreadCreate[] = [];
    for (const [threadId, plan] of plans) {
      if (plan.kind !== 'upsert') continue;
      const checked = threadCreateSchema.safeParse(plan.input);
      if (checked.success) upserts.push(checked.data);
      else {
        plans.set(threadId, { kind: 'none' });
        log.warn(
          { threadId, issues: checked.error.issues.length },
          'thread from mail left out: invalid fields',
        );
      }
    }
    const written = new Map<string, Thread>();
    for (let i = 0; i < upserts.length; i += settings.batchSize) {
      const batch = await service.batchUpsert(account.userId, upserts.slice(i, i + settings.batchSize));
      for (const thread of batch.threads ?? []) written.set(thread.threadId, thread);
    }
    for (const [threadId, plan] of plans) {
      if (plan.kind !== 'retire') continue;
      try {
        await service.deleteThread(account.userId, threadId);
      } catch (error) {
        if (!(error instanceof AppError && error.code === 'THREAD_NOT_FOUND')) throw error;
      }
    }
    result.threadsWritten += upserts.length;

    const commit: ProjectionCommit = { projections: [], announced: [], events: [] };
    const replied: string[] = [];
    for (const [threadId, plan] of plans) {
      if (plan.kind !== 'none') commit.projections.push({ threadId, projection: plan.projection });
      const summary = summaries.get(threadId);
      if (!summary?.tracked) continue;
      for (const m of summary.messages) {
        if (m.kind !== 'reply' && m.kind !== 'auto_reply' && m.kind !== 'bounce') continue;
        if (m.keys.every((key) => mirror.messages.get(key)?.announced)) continue;
        commit.announced.push(...m.keys);
        commit.events.push({
          threadId,
          type: EVENT_OF[m.kind],
          data: { accountId: account.id, messageId: m.messageId, from: m.from, subject: m.subject, at: m.at },
        });
        if (m.kind === 'reply' && !replied.includes(threadId)) replied.push(threadId);
      }
    }
    for (const threadId of replied)
      await this.#cancelFollowup(account.userId, threadId, written.get(threadId));
    if (commit.projections.length === 0 && commit.events.length === 0) return;
    const stored = await this.#deps.mirror.commitProjection(account.id, account.userId, commit);
    for (const { threadId, projection } of commit.projections) mirror.projections.set(threadId, projection);
    for (const key of commit.announced) {
      const m = mirror.messages.get(key);
      if (m) m.announced = true;
    }
    result.events += stored.length;
    if (stored.length > 0) this.#deps.events.publish(stored);
  }

  /** A real reply stops the thread's scheduled follow-up (`known`: the row as just written, when it was). */
  async #cancelFollowup(userId: string, threadId: string, known: Thread | undefined): Promise<void> {
    try {
      const thread = known ?? (await this.#deps.service.getThread(userId, threadId));
      if (thread.followupScheduled) {
        await this.#deps.service.cancelFollowup(userId, threadId, { reason: 'reply' });
      }
    } catch (error) {
      if (!(error instanceof AppError && error.code === 'THREAD_NOT_FOUND')) throw error;
    }
  }
}
