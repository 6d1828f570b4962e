/**
 * Mail accounts: list with sync status, connect Gmail (consent URL, then Google's redirect back), add an IMAP
 * account, ask for a sync, remove. Passwords and tokens are accepted, never returned. The callback and the Gmail
 * push endpoint are public routes that authenticate themselves (a sealed OAuth state; a Google-signed token).
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../../domain/errors.ts';
import { imapAccountSchema, MAIL_ACCOUNT_STATUSES, MAIL_PROVIDERS } from '../../domain/mail-sync.ts';
import type { SyncAccountService } from '../../service/sync-account-service.ts';
import { errorResponses } from '../schemas.ts';

const accountSchema = z
  .object({
    id: z.uuid(),
    provider: z.enum(MAIL_PROVIDERS),
    email: z.string(),
    status: z.enum([...MAIL_ACCOUNT_STATUSES, 'syncing']),
    lastSyncAt: z.string().nullable(),
    lastError: z.string().nullable(),
    lastErrorCode: z.string().nullable(),
    throttledUntil: z.string().nullable().describe('The provider asked to wait until then'),
    progress: z.object({ phase: z.string(), done: z.number(), total: z.number().nullable() }).nullable(),
    cursor: z.record(z.string(), z.unknown()).nullable().describe('How far the sync reaches (no secrets)'),
    createdAt: z.string(),
  })
  .meta({ id: 'MailAccount' });

const accountParams = z.strictObject({ accountId: z.uuid() });
const tags = ['accounts'];

export function mailAccountRoutes(accounts: SyncAccountService) {
  return async (app: FastifyInstance) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    r.get(
      '/accounts',
      {
        schema: {
          tags,
          summary: 'Connected mail accounts and how their sync is going',
          response: { 200: z.object({ items: z.array(accountSchema) }), ...errorResponses },
        },
      },
      async (request) => ({ items: await accounts.list(request.principal.userId) }),
    );
    r.get(
      '/accounts/:accountId',
      {
        schema: {
          tags,
          summary: 'One mail account',
          params: accountParams,
          response: { 200: accountSchema, ...errorResponses },
        },
      },
      async (request) => accounts.get(request.principal.userId, request.params.accountId),
    );
    r.post(
      '/accounts/gmail/connect',
      {
        schema: {
          tags,
          summary: "Google's consent page for connecting Gmail (read, send, compose; offline access)",
          body: z.strictObject({}).nullish(),
          response: { 200: z.object({ url: z.url() }), ...errorResponses },
        },
      },
      async (request) => ({ url: accounts.gmailConsentUrl(request.principal.userId) }),
    );
    r.post(
      '/accounts/imap',
      {
        schema: {
          tags,
          summary: 'Add an IMAP account (or reconnect it with a new password); the logins are checked first',
          body: imapAccountSchema,
          response: { 200: accountSchema, 201: accountSchema, ...errorResponses },
        },
      },
      async (request, reply) => {
        const { account, created } = await accounts.addImap(request.principal.userId, request.body);
        return reply.status(created ? 201 : 200).send(account);
      },
    );
    r.post(
      '/accounts/:accountId/sync',
      {
        schema: {
          tags,
          summary: 'Sync the account now (answers at once; the sync runs in the background)',
          params: accountParams,
          body: z.strictObject({}).nullish(),
          response: { 202: accountSchema, ...errorResponses },
        },
      },
      async (request, reply) =>
        reply
          .status(202)
          .send(await accounts.requestSync(request.principal.userId, request.params.accountId)),
    );
    r.delete(
      '/accounts/:accountId',
      {
        schema: {
          tags,
          summary: 'Remove the account and its sync state (its threads stay)',
          params: accountParams,
          response: { 204: z.null(), ...errorResponses },
        },
      },
      async (request, reply) => {
        await accounts.remove(request.principal.userId, request.params.accountId);
        return reply.status(204).send(null);
      },
    );
  };
}

/** Where the browser goes after Google's consent page: the accounts page, with the outcome in the query. */
const ACCOUNTS_PAGE = '/accounts';

export function mailAccountPublicRoutes(accounts: SyncAccountService) {
  return async (app: FastifyInstance) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    r.get(
      '/accounts/gmail/callback',
      {
        schema: {
          tags,
          summary:
            "Google's redirect after the consent page (public: the state parameter is sealed by this server)",
          querystring: z
            .object({
              code: z.string().max(2000).optional(),
              state: z.string().max(4000).optional(),
              error: z.string().max(200).optional(),
            })
            .loose(),
          response: { 302: z.null() },
        },
      },
      async (request, reply) => {
        const { code, state, error } = request.query;
        let target: string;
        try {
          if (error) throw new AppError('MAIL_AUTH_REVOKED', `Google said: ${error}`);
          if (!code || !state)
            throw new AppError('OAUTH_STATE_INVALID', 'The callback lacks its code or state');
          const { account } = await accounts.completeGmail(state, code);
          target = `${ACCOUNTS_PAGE}?connected=${encodeURIComponent(account.email)}`;
        } catch (failure) {
          if (!(failure instanceof AppError)) throw failure;
          request.log.warn({ code: failure.code }, 'connecting Gmail failed');
          target = `${ACCOUNTS_PAGE}?error=${encodeURIComponent(failure.code)}`;
        }
        return reply.redirect(target, 302);
      },
    );
    r.post(
      '/accounts/gmail/push',
      {
        schema: {
          tags,
          summary: 'Gmail push notifications from Cloud Pub/Sub (public: each carries a Google-signed token)',
          body: z.unknown(),
          response: { 204: z.null(), ...errorResponses },
        },
      },
      async (request, reply) => {
        await accounts.handlePush(request.headers.authorization, request.body);
        return reply.status(204).send(null);
      },
    );
  };
}
