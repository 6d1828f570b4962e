/** Leads: the people and companies threads are linked to. Every access is scoped to the caller's user id. */
import { AppError } from '../domain/errors.ts';
import type { Lead, LeadCreate, LeadPatch } from '../domain/thread.ts';
import type { Store } from '../ports/store.ts';

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

  create(userId: string, input: LeadCreate): Promise<Lead> {
    return this.#store.leads.insert(userId, input);
  }

  async update(userId: string, id: string, patch: LeadPatch): Promise<Lead> {
    const lead = await this.#store.leads.update(userId, id, patch);
    if (!lead) throw leadNotFound(id);
    return lead;
  }

  async delete(userId: string, id: string): Promise<void> {
    if (!(await this.#store.leads.delete(userId, id))) throw leadNotFound(id);
  }

  findByEmails(userId: string, emails: string[]): Promise<Lead[]> {
    return this.#store.leads.findByEmails(userId, emails);
  }
}
