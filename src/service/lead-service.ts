/**
 * Leads: the people and companies threads are linked to. Every access is scoped to the caller's user id. Writes
 * honour an idempotency key as thread writes do: the key's claim, the change and the stored response commit in one
 * transaction, so a retry is answered with the first response and never applied twice.
 */
import { AppError } from '../domain/errors.ts';
import type { Lead, LeadCreate, LeadPatch } from '../domain/thread.ts';
import type { Store, StoreScope } from '../ports/store.ts';
import type { WriteOptions } from './thread-tracking-service.ts';

const leadNotFound = (id: string) =>
  new AppError('LEAD_NOT_FOUND', `Lead ${JSON.stringify(id)} was not found`);

export class LeadService {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  async get(userId: string, id: string): Promise<Lead> {
    const lead = await this.#store.leads.get(userId, id);
    if (!lead) throw leadNotFound(id);
    return lead;
  }

  list(userId: string, query: { q?: string; limit?: number; afterId?: string } = {}): Promise<Lead[]> {
    return this.#store.leads.list(userId, { ...query, limit: query.limit ?? 100 });
  }

  create(userId: string, input: LeadCreate, options: WriteOptions = {}): Promise<Lead> {
    return this.#write(userId, options, (scope) => scope.leads.insert(userId, input));
  }

  update(userId: string, id: string, patch: LeadPatch, options: WriteOptions = {}): Promise<Lead> {
    return this.#write(userId, options, async (scope) => {
      const lead = await scope.leads.update(userId, id, patch);
      if (!lead) throw leadNotFound(id);
      return lead;
    });
  }

  async delete(userId: string, id: string, options: WriteOptions = {}): Promise<void> {
    await this.#write(userId, options, async (scope) => {
      if (!(await scope.leads.delete(userId, id))) throw leadNotFound(id);
      return null;
    });
  }

  findByEmails(userId: string, emails: string[]): Promise<Lead[]> {
    return this.#store.leads.findByEmails(userId, emails);
  }

  async #write<T>(
    userId: string,
    options: WriteOptions,
    work: (scope: StoreScope) => Promise<T>,
  ): Promise<T> {
    const key = options.idempotencyKey;
    if (!key) return work(this.#store);
    const requestHash = options.requestHash ?? '';
    let replayed = false;
    const result = await this.#store.transaction(async (scope) => {
      const claim = await scope.idempotency.claim(userId, key, requestHash);
      if (claim.state !== 'claimed' && claim.requestHash !== requestHash) {
        throw new AppError(
          'IDEMPOTENCY_KEY_REUSED',
          'This Idempotency-Key was already used with a different request',
        );
      }
      if (claim.state === 'in_progress') {
        throw new AppError(
          'IDEMPOTENCY_KEY_IN_USE',
          'A request with this Idempotency-Key is still in progress',
          {
            retryAfter: 1,
          },
        );
      }
      if (claim.state === 'completed') {
        replayed = true;
        return claim.response.body as T;
      }
      const done = await work(scope);
      await scope.idempotency.complete(userId, key, { status: options.responseStatus ?? 200, body: done });
      return done;
    });
    if (replayed) options.onReplay?.();
    return result;
  }
}
