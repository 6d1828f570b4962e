// The API client: one service per resource over one HTTP client.
import { type AccountsApi, createAccountsApi } from './accounts-api.ts';
import { type AnalyticsApi, createAnalyticsApi } from './analytics-api.ts';
import { createFollowupsApi, type FollowupsApi } from './followups-api.ts';
import { createHttpClient, type HttpClientOptions } from './http.ts';
import { createLeadsApi, type LeadsApi } from './leads-api.ts';
import { createSystemApi, type SystemApi } from './system-api.ts';
import { createThreadsApi, type ThreadsApi } from './threads-api.ts';

export interface Api {
  threads: ThreadsApi;
  leads: LeadsApi;
  analytics: AnalyticsApi;
  accounts: AccountsApi;
  followups: FollowupsApi;
  system: SystemApi;
}

export function createApi(options: HttpClientOptions = {}): Api {
  const http = createHttpClient(options);
  return {
    threads: createThreadsApi(http),
    leads: createLeadsApi(http),
    analytics: createAnalyticsApi(http),
    accounts: createAccountsApi(http),
    followups: createFollowupsApi(http),
    system: createSystemApi(http),
  };
}
