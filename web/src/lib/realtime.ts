// Live updates over the WebSocket at /api/v1/events. Invariants:
// - The last event id seen is kept across reconnects and sent as `afterId`, so the server replays what was missed.
// - Reconnects back off exponentially with jitter; a `hello` (catch-up complete) resets the backoff.
// - Nothing here touches the stores: events go to `onEvent`, connection state to `onStatus`.
import type { LiveThreadEvent } from '../api/types.ts';
import { backoffDelay } from './backoff.ts';

export type LiveStatus = 'connecting' | 'live' | 'reconnecting' | 'offline';

interface SocketLike {
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  close(code?: number, reason?: string): void;
}

export interface RealtimeOptions {
  /** ws:// or wss:// URL of the endpoint, without query. */
  url: string;
  getToken?: () => string | null;
  initialLastEventId?: string | null;
  onEvent: (event: LiveThreadEvent) => void;
  onHello?: (lastEventId: string | null) => void;
  onStatus?: (status: LiveStatus, detail: { attempt: number; retryInMs: number | null }) => void;
  createSocket?: (url: string) => SocketLike;
  random?: () => number;
  /** Attempts in a row without a hello before the status reads "offline" rather than "reconnecting". */
  offlineAfter?: number;
}

export interface RealtimeConnection {
  close(): void;
  /** Reconnects now (e.g. when the browser comes back online), keeping the resume point. */
  reconnectNow(): void;
  lastEventId(): string | null;
}

/** Event ids are decimal integers up to 19 digits: longer is larger, equal lengths compare as text. */
export function compareEventIds(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function realtimeUrl(location: { protocol: string; host: string }): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/events`;
}

export function connectRealtime(options: RealtimeOptions): RealtimeConnection {
  const createSocket = options.createSocket ?? ((url: string) => new WebSocket(url) as unknown as SocketLike);
  const offlineAfter = options.offlineAfter ?? 3;
  let lastEventId = options.initialLastEventId ?? null;
  let socket: SocketLike | null = null;
  let attempt = 0;
  let retryTimer: ReturnType<typeof setTimeout> | null = null;
  let closed = false;
  // Until the endpoint has answered once, a failure means "not available", not "connection lost".
  let everLive = false;

  const status = (value: LiveStatus, retryInMs: number | null = null) =>
    options.onStatus?.(value, { attempt, retryInMs });

  function buildUrl(): string {
    const params = new URLSearchParams();
    if (lastEventId) params.set('afterId', lastEventId);
    const token = options.getToken?.();
    if (token) params.set('access_token', token);
    const query = params.toString();
    return query ? `${options.url}?${query}` : options.url;
  }

  function scheduleReconnect() {
    if (closed || retryTimer) return;
    const delay = backoffDelay(attempt, options.random);
    attempt += 1;
    status(!everLive || attempt >= offlineAfter ? 'offline' : 'reconnecting', delay);
    retryTimer = setTimeout(() => {
      retryTimer = null;
      open();
    }, delay);
  }

  function open() {
    if (closed) return;
    if (attempt === 0) status('connecting');
    let current: SocketLike;
    try {
      current = createSocket(buildUrl());
    } catch {
      scheduleReconnect();
      return;
    }
    socket = current;
    current.onmessage = (message) => {
      if (socket !== current || typeof message.data !== 'string') return;
      let parsed: { type?: unknown; lastEventId?: unknown; event?: LiveThreadEvent };
      try {
        parsed = JSON.parse(message.data);
      } catch {
        return;
      }
      if (parsed.type === 'hello') {
        attempt = 0;
        everLive = true;
        const helloId = typeof parsed.lastEventId === 'string' ? parsed.lastEventId : null;
        if (helloId && (!lastEventId || compareEventIds(helloId, lastEventId) > 0)) lastEventId = helloId;
        status('live');
        options.onHello?.(lastEventId);
      } else if (parsed.type === 'event' && parsed.event && typeof parsed.event.id === 'string') {
        const event = parsed.event;
        // Replays after a reconnect can overlap what was already applied; ids only grow.
        if (lastEventId && compareEventIds(event.id, lastEventId) <= 0) return;
        lastEventId = event.id;
        options.onEvent(event);
      }
    };
    current.onerror = () => {
      // A close always follows an error; reconnecting happens there.
    };
    current.onclose = () => {
      if (socket !== current) return;
      socket = null;
      scheduleReconnect();
    };
  }

  open();

  return {
    close() {
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = null;
      const current = socket;
      socket = null;
      current?.close(1000, 'closed by the app');
    },
    reconnectNow() {
      if (closed) return;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = null;
      const current = socket;
      socket = null;
      current?.close(1000, 'reconnecting');
      open();
    },
    lastEventId: () => lastEventId,
  };
}
