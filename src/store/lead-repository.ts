import { type Kysely, type SqlBool, sql } from 'kysely';
import type { LeadCreate, LeadPatch } from '../domain/thread.ts';
import type { LeadRepository } from '../ports/store.ts';
import { rowToLead } from './row-mapper.ts';
import type { Database } from './schema.ts';

const escapeLike = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

export class KyselyLeadRepository implements LeadRepository {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async get(userId: string, id: string) {
    const row = await this.#db
      .selectFrom('leads')
      .selectAll()
      .where('user_id', '=', userId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? rowToLead(row) : undefined;
  }

  async list(userId: string, query: { q?: string; limit: number; afterId?: string }) {
    let qb = this.#db.selectFrom('leads').selectAll().where('user_id', '=', userId);
    if (query.afterId) qb = qb.where('id', '>', query.afterId);
    if (query.q) {
      const pattern = `%${escapeLike(query.q)}%`;
      qb = qb.where(
        sql<SqlBool>`(name ilike ${pattern} or email ilike ${pattern} or company ilike ${pattern})`,
      );
    }
    const rows = await qb.orderBy('id').limit(query.limit).execute();
    return rows.map(rowToLead);
  }

  async insert(userId: string, lead: LeadCreate) {
    const row = await this.#db
      .insertInto('leads')
      .values({
        user_id: userId,
        name: lead.name ?? null,
        email: lead.email ?? null,
        company: lead.company ?? null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return rowToLead(row);
  }

  async update(userId: string, id: string, patch: LeadPatch) {
    const row = await this.#db
      .updateTable('leads')
      .set({
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.email !== undefined ? { email: patch.email } : {}),
        ...(patch.company !== undefined ? { company: patch.company } : {}),
      })
      .where('user_id', '=', userId)
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    return row ? rowToLead(row) : undefined;
  }

  async delete(userId: string, id: string) {
    const result = await this.#db
      .deleteFrom('leads')
      .where('user_id', '=', userId)
      .where('id', '=', id)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async findByEmails(userId: string, emails: string[]) {
    if (emails.length === 0) return [];
    const rows = await this.#db
      .selectFrom('leads')
      .selectAll()
      .where('user_id', '=', userId)
      .where(sql<SqlBool>`lower(email) = any(${emails.map((e) => e.toLowerCase())}::text[])`)
      .execute();
    return rows.map(rowToLead);
  }
}
