/**
 * Reads on read replicas, with read-your-writes for the writing user.
 *
 * Every `pollMs`, the router samples the primary's WAL position (at time T) and each replica's replayed position; a
 * replica that has replayed at least the primary's position holds every write committed before T ("caught up to
 * T"). A read of user U goes to a replica caught up to at least the moment U's last write on this instance returned,
 * so U always reads what U wrote; users without a recent write here read from any replica that is less than
 * `maxLagMs` behind. Anything else, transactions and every write go to the primary, as does a read whose replica
 * fails. Writes from other instances reach readers through the cache invalidation first; a replica only answers
 * cache misses.
 */
import type { Logger } from '../ports/logger.ts';
import type { PoolStats, Store, StoreScope } from '../ports/store.ts';

export interface ReplicaTarget {
  name: string;
  store: Store;
  /** pg_last_wal_replay_lsn() of the replica, as text (e.g. `0/3000148`). */
  replayLsn(): Promise<string | null>;
}

export interface ReplicaRouterOptions {
  /**
   * pg_current_wal_insert_lsn() of the primary, as text: the insert position, not the write position, so a commit
   * made with synchronous_commit off (inserted, not yet written) still counts.
   */
  primaryLsn(): Promise<string>;
  pollMs?: number;
  maxLagMs?: number;
  logger?: Logger;
}

/** Repository methods that only read (their first argument is the user id, except `recent`). */
const READS: Record<keyof StoreScope, ReadonlySet<string>> = {
  threads: new Set(['get', 'list', 'listJson', 'listEvents', 'lastEventId', 'aggregate', 'recent']),
  leads: new Set(['get', 'list', 'findByEmails']),
  idempotency: new Set(),
};

interface ReplicaState {
  target: ReplicaTarget;
  caughtUpTo: number;
  failedUntil: number;
}

export function parseLsn(lsn: string): bigint {
  const [high, low] = lsn.split('/');
  return (BigInt(`0x${high ?? '0'}`) << 32n) + BigInt(`0x${low ?? '0'}`);
}

export class ReplicaRoutingStore implements Store {
  readonly threads: StoreScope['threads'];
  readonly leads: StoreScope['leads'];
  readonly idempotency: StoreScope['idempotency'];
  readonly #primary: Store;
  readonly #replicas: ReplicaState[];
  readonly #options: Required<Omit<ReplicaRouterOptions, 'logger'>> & Pick<ReplicaRouterOptions, 'logger'>;
  readonly #lastWrite = new Map<string, number>();
  readonly #timer: NodeJS.Timeout;
  readonly #routed = { primary: 0, replica: 0 };
  #next = 0;

  constructor(primary: Store, replicas: ReplicaTarget[], options: ReplicaRouterOptions) {
    this.#primary = primary;
    this.#replicas = replicas.map((target) => ({ target, caughtUpTo: 0, failedUntil: 0 }));
    this.#options = { pollMs: 100, maxLagMs: 5_000, ...options };
    this.threads = this.#wrap(primary.threads, 'threads', true);
    this.leads = this.#wrap(primary.leads, 'leads', true);
    this.idempotency = primary.idempotency;
    this.#timer = setInterval(() => void this.poll(), this.#options.pollMs);
    this.#timer.unref();
  }

  /** Where reads went so far (for /ready and tests). */
  get routed(): { primary: number; replica: number } {
    return { ...this.#routed };
  }

  /**
   * Each replica as the router sees it: how long ago it last had everything the primary had (`null`: never), and
   * whether it is left out (failing, or further behind than `maxLagMs`).
   */
  status(): { name: string; inUse: boolean; behindMs: number | null }[] {
    const now = Date.now();
    return this.#replicas.map((r) => ({
      name: r.target.name,
      inUse: r.failedUntil <= now && now - r.caughtUpTo <= this.#options.maxLagMs,
      behindMs: r.caughtUpTo === 0 ? null : now - r.caughtUpTo,
    }));
  }

  get available(): boolean {
    return (this.#primary as { available?: boolean }).available ?? true;
  }

  get breaker(): unknown {
    return (this.#primary as { breaker?: unknown }).breaker;
  }

  /** One sample of every replica's position against the primary's. */
  async poll(): Promise<void> {
    const sampledAt = Date.now();
    let primary: bigint;
    try {
      primary = parseLsn(await this.#options.primaryLsn());
    } catch {
      return;
    }
    await Promise.all(
      this.#replicas.map(async (replica) => {
        try {
          const replayed = await replica.target.replayLsn();
          if (replayed !== null && parseLsn(replayed) >= primary) replica.caughtUpTo = sampledAt;
        } catch {
          replica.failedUntil = Date.now() + 1_000;
        }
      }),
    );
  }

  transaction<T>(fn: (scope: StoreScope) => Promise<T>): Promise<T> {
    // Transactions run on the primary; their writes still pin the user's reads to fresh data.
    return this.#primary.transaction((scope) =>
      fn({
        threads: this.#wrap(scope.threads, 'threads', false),
        leads: this.#wrap(scope.leads, 'leads', false),
        idempotency: scope.idempotency,
      }),
    );
  }

  ping(): Promise<number> {
    return this.#primary.ping();
  }

  poolStats(): PoolStats {
    return this.#primary.poolStats();
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await Promise.all(this.#replicas.map((r) => r.target.store.close()));
    await this.#primary.close();
  }

  /** Records a write of a user that went around this router (e.g. a transaction). */
  noteWrite(userId: string): void {
    this.#lastWrite.set(userId, Date.now());
    if (this.#lastWrite.size > 100_000) this.#forgetOldWrites();
  }

  #replicaFor(userId: string | undefined): ReplicaState | undefined {
    const now = Date.now();
    const wrote = userId === undefined ? 0 : (this.#lastWrite.get(userId) ?? 0);
    for (let i = 0; i < this.#replicas.length; i++) {
      const replica = this.#replicas[(this.#next + i) % this.#replicas.length]!;
      if (replica.failedUntil > now) continue;
      if (now - replica.caughtUpTo > this.#options.maxLagMs) continue;
      if (replica.caughtUpTo < wrote) continue;
      this.#next = (this.#next + i + 1) % this.#replicas.length;
      return replica;
    }
    return undefined;
  }

  /** The repository with its reads routed (when `routeReads`) and its writes noted for read-your-writes. */
  #wrap<K extends 'threads' | 'leads'>(
    repository: StoreScope[K],
    scope: K,
    routeReads: boolean,
  ): StoreScope[K] {
    const primary = repository as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    const routed: Record<string, unknown> = {};
    let proto: object | null = primary;
    while (proto && proto !== Object.prototype) {
      for (const key of Object.getOwnPropertyNames(proto)) {
        const method = primary[key];
        if (key === 'constructor' || key in routed || typeof method !== 'function') continue;
        routed[key] = !READS[scope].has(key)
          ? async (...args: unknown[]) => {
              const result = await method.apply(primary, args);
              if (typeof args[0] === 'string') this.noteWrite(args[0]);
              return result;
            }
          : !routeReads
            ? method.bind(primary)
            : async (...args: unknown[]) => {
                const replica = this.#replicaFor(typeof args[0] === 'string' ? args[0] : undefined);
                if (replica) {
                  const target = replica.target.store[scope] as unknown as Record<
                    string,
                    (...a: unknown[]) => Promise<unknown>
                  >;
                  try {
                    const result = await target[key]!(...args);
                    this.#routed.replica++;
                    return result;
                  } catch (error) {
                    replica.failedUntil = Date.now() + 1_000;
                    this.#options.logger?.warn(
                      { err: error, replica: replica.target.name },
                      'replica read failed',
                    );
                  }
                }
                this.#routed.primary++;
                return method.apply(primary, args);
              };
      }
      proto = Object.getPrototypeOf(proto);
    }
    return routed as unknown as StoreScope[K];
  }

  #forgetOldWrites(): void {
    const oldest = Math.min(...this.#replicas.map((r) => r.caughtUpTo));
    for (const [user, at] of this.#lastWrite) if (at <= oldest) this.#lastWrite.delete(user);
  }
}
