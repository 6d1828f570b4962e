import type { HttpClient } from './http.ts';
import type { Me, PublicConfig } from './types.ts';

export function createSystemApi(http: HttpClient) {
  return {
    /** Public: what the app needs before anyone signs in. */
    config: () => http.get<PublicConfig>('/api/config', { raw: true }),
    me: () => http.get<Me>('/me'),
  };
}

export type SystemApi = ReturnType<typeof createSystemApi>;
