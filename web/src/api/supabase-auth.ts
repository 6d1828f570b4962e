// Supabase Auth's password grant and refresh, called directly with the project's public anon key. The access
// token it returns is what the API verifies (SUPABASE_URL / SUPABASE_JWT_SECRET on the server).

export interface SupabaseSession {
  accessToken: string;
  refreshToken: string | null;
  /** Epoch ms. */
  expiresAt: number | null;
}

interface TokenResponse {
  access_token?: string;
  refresh_token?: string;
  expires_in?: number;
  expires_at?: number;
  error?: string;
  error_description?: string;
  msg?: string;
  message?: string;
}

async function grant(
  supabaseUrl: string,
  anonKey: string,
  grantType: 'password' | 'refresh_token',
  body: Record<string, string>,
  fetchImpl: typeof fetch,
): Promise<SupabaseSession> {
  let response: Response;
  try {
    response = await fetchImpl(`${supabaseUrl.replace(/\/$/, '')}/auth/v1/token?grant_type=${grantType}`, {
      method: 'POST',
      headers: { apikey: anonKey, authorization: `Bearer ${anonKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  } catch {
    throw new Error('The sign-in service cannot be reached.');
  }
  let data: TokenResponse = {};
  try {
    data = (await response.json()) as TokenResponse;
  } catch {
    data = {};
  }
  if (!response.ok || !data.access_token) {
    const reason = data.error_description || data.msg || data.message || data.error;
    throw new Error(reason ? `Sign-in failed: ${reason}` : `Sign-in failed (HTTP ${response.status}).`);
  }
  return {
    accessToken: data.access_token,
    refreshToken: data.refresh_token ?? null,
    expiresAt: data.expires_at
      ? data.expires_at * 1000
      : data.expires_in
        ? Date.now() + data.expires_in * 1000
        : null,
  };
}

export function signInWithPassword(
  config: { supabaseUrl: string; supabaseAnonKey: string },
  email: string,
  password: string,
  fetchImpl: typeof fetch = (...args) => globalThis.fetch(...args),
): Promise<SupabaseSession> {
  return grant(config.supabaseUrl, config.supabaseAnonKey, 'password', { email, password }, fetchImpl);
}

export function refreshSession(
  config: { supabaseUrl: string; supabaseAnonKey: string },
  refreshToken: string,
  fetchImpl: typeof fetch = (...args) => globalThis.fetch(...args),
): Promise<SupabaseSession> {
  return grant(
    config.supabaseUrl,
    config.supabaseAnonKey,
    'refresh_token',
    { refresh_token: refreshToken },
    fetchImpl,
  );
}
