// @vitest-environment happy-dom
import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/http.ts';
import type { Account } from '../api/types.ts';
import { deferred, fakeApi } from '../testing/fixtures.ts';
import { createAccountsStore } from './accounts-store.ts';
import { createFollowupsStore } from './followups-store.ts';
import { createNoticesStore } from './notices-store.ts';

const account = (overrides: Partial<Account> = {}): Account => ({
  id: 'a1',
  provider: 'gmail',
  email: 'me@gmail.example',
  status: 'active',
  lastSyncAt: null,
  lastError: null,
  throttledUntil: null,
  progress: null,
  ...overrides,
});

const routeMissing = () =>
  new ApiError({ status: 404, code: 'NOT_FOUND', message: 'No route for GET /api/v1/accounts' });

describe('accounts store', () => {
  it('says "unavailable" while the server has no account routes', async () => {
    const api = fakeApi();
    api.accounts.list.mockRejectedValue(routeMissing());
    const store = createAccountsStore({ api: api.accounts });
    await store.getState().load();
    expect(store.getState().status).toBe('unavailable');
  });

  it('removes at once and puts the account back where it was when refused', async () => {
    const api = fakeApi();
    const notices = createNoticesStore();
    const items = [account({ id: 'a1' }), account({ id: 'a2', email: 'me@imap.example', provider: 'imap' })];
    api.accounts.list.mockResolvedValue({ items });
    const store = createAccountsStore({ api: api.accounts, notify: notices.getState().push });
    await store.getState().load();
    const answer = deferred<void>();
    api.accounts.remove.mockReturnValueOnce(answer.promise);
    const done = store.getState().remove('a1');
    expect(store.getState().items.map((a) => a.id)).toEqual(['a2']);
    answer.reject(new ApiError({ status: 500, code: 'INTERNAL', message: 'Try later' }));
    await done;
    expect(store.getState().items.map((a) => a.id)).toEqual(['a1', 'a2']);
    expect(notices.getState().notices[0]?.message).toBe('Could not remove me@gmail.example: Try later');
  });

  it('shows a sync as started at once and reverts the status when refused', async () => {
    const api = fakeApi();
    api.accounts.list.mockResolvedValue({ items: [account({ status: 'error' })] });
    const store = createAccountsStore({ api: api.accounts });
    await store.getState().load();
    const answer = deferred<unknown>();
    api.accounts.sync.mockReturnValueOnce(answer.promise);
    const done = store.getState().sync('a1');
    expect(store.getState().items[0]!.status).toBe('syncing');
    answer.reject(new ApiError({ status: 409, code: 'SYNC_RUNNING', message: 'Already syncing' }));
    await done;
    expect(store.getState().items[0]!.status).toBe('error');
  });

  it('returns the field errors of a refused IMAP account', async () => {
    const api = fakeApi();
    api.accounts.addImap.mockRejectedValueOnce(
      new ApiError({
        status: 400,
        code: 'VALIDATION_FAILED',
        message: 'The body is not valid',
        fieldErrors: [{ path: 'body.imapHost', message: 'is required' }],
      }),
    );
    const store = createAccountsStore({ api: api.accounts });
    const result = await store.getState().addImap({
      email: 'a@b.c',
      imapHost: '',
      imapPort: 993,
      imapSecure: true,
      smtpHost: 's',
      smtpPort: 465,
      smtpSecure: true,
      username: 'a',
      password: 'p',
    });
    expect(result).toEqual({
      ok: false,
      message: 'The body is not valid (imapHost is required)',
      fields: [{ path: 'body.imapHost', message: 'is required' }],
    });
  });
});

describe('follow-ups store', () => {
  it('sorts the schedule soonest first', async () => {
    const api = fakeApi();
    const item = (threadId: string, scheduledAt: string) => ({
      threadId,
      subject: threadId,
      participants: [],
      scheduledAt,
      due: false,
      followupCount: 0,
      reason: 'no reply',
    });
    api.followups.list.mockResolvedValue({
      items: [item('later', '2026-12-10T09:00:00Z'), item('sooner', '2026-12-05T09:00:00Z')],
    });
    const store = createFollowupsStore({ api: api.followups });
    await store.getState().load();
    expect(store.getState().items.map((i) => i.threadId)).toEqual(['sooner', 'later']);
  });

  it('says "unavailable" while the server has no schedule route', async () => {
    const api = fakeApi();
    api.followups.list.mockRejectedValue(routeMissing());
    const store = createFollowupsStore({ api: api.followups });
    await store.getState().load();
    expect(store.getState().status).toBe('unavailable');
  });
});
