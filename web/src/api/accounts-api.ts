import type { HttpClient } from './http.ts';
import type { Account, ImapAccountInput } from './types.ts';

export function createAccountsApi(http: HttpClient) {
  return {
    list: (signal?: AbortSignal) => http.get<{ items: Account[] }>('/accounts', { signal }),
    connectGmail: () => http.post<{ url: string }>('/accounts/gmail/connect', {}),
    addImap: (input: ImapAccountInput) => http.post<Account>('/accounts/imap', input),
    sync: (accountId: string) => http.post<unknown>(`/accounts/${encodeURIComponent(accountId)}/sync`, {}),
    remove: (accountId: string) => http.delete<void>(`/accounts/${encodeURIComponent(accountId)}`),
  };
}

export type AccountsApi = ReturnType<typeof createAccountsApi>;
