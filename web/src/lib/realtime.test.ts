import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { LiveThreadEvent } from '../api/types.ts';
import { backoffDelay } from './backoff.ts';
import { compareEventIds, connectRealtime, type LiveStatus } from './realtime.ts';

class FakeSocket {
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: unknown) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  closed = false;
  constructor(readonly url: string) {}
  close() {
    this.closed = true;
  }
  send(message: unknown) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  drop() {
    this.onerror?.({});
    this.onclose?.({});
  }
}

const event = (id: string): LiveThreadEvent => ({
  id,
  userId: 'me',
  threadId: `t${id}`,
  type: 'updated',
  data: {},
  createdAt: '2026-12-01T00:00:00Z',
});

describe('connectRealtime', () => {
  let sockets: FakeSocket[];
  let events: string[];
  let statuses: LiveStatus[];

  beforeEach(() => {
    vi.useFakeTimers();
    sockets = [];
    events = [];
    statuses = [];
  });
  afterEach(() => vi.useRealTimers());

  const connect = (token: string | null = null) =>
    connectRealtime({
      url: 'ws://app.test/api/v1/events',
      getToken: () => token,
      onEvent: (e) => events.push(e.id),
      onStatus: (s) => statuses.push(s),
      createSocket: (url) => {
        const socket = new FakeSocket(url);
        sockets.push(socket);
        return socket;
      },
      random: () => 0.5,
    });

  it('resumes from the last event it saw, with the token, after a drop', () => {
    const connection = connect('tok en');
    expect(sockets[0]!.url).toBe('ws://app.test/api/v1/events?access_token=tok+en');
    sockets[0]!.send({ type: 'hello', lastEventId: '7' });
    sockets[0]!.send({ type: 'event', event: event('8') });
    sockets[0]!.send({ type: 'event', event: event('9') });
    expect(statuses.at(-1)).toBe('live');
    sockets[0]!.drop();
    expect(statuses.at(-1)).toBe('reconnecting');
    vi.advanceTimersByTime(backoffDelay(0, () => 0.5));
    expect(sockets[1]!.url).toBe('ws://app.test/api/v1/events?afterId=9&access_token=tok+en');
    // The catch-up may repeat what was already applied.
    sockets[1]!.send({ type: 'event', event: event('9') });
    sockets[1]!.send({ type: 'event', event: event('10') });
    expect(events).toEqual(['8', '9', '10']);
    expect(connection.lastEventId()).toBe('10');
    connection.close();
  });

  it('backs off exponentially while the endpoint stays away, and says it is offline', () => {
    const connection = connect();
    sockets[0]!.drop();
    expect(statuses.at(-1)).toBe('offline');
    const waits = [0, 1, 2, 3].map((attempt) => backoffDelay(attempt, () => 0.5));
    for (const [i, wait] of waits.entries()) {
      vi.advanceTimersByTime(wait - 1);
      expect(sockets).toHaveLength(i + 1);
      vi.advanceTimersByTime(1);
      expect(sockets).toHaveLength(i + 2);
      sockets.at(-1)!.drop();
    }
    connection.close();
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(5);
  });

  it('stops for good when closed', () => {
    const connection = connect();
    connection.close();
    expect(sockets[0]!.closed).toBe(true);
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(1);
  });
});

describe('backoffDelay', () => {
  it('doubles up to the cap, with half of it random', () => {
    expect(backoffDelay(0, () => 0)).toBe(250);
    expect(backoffDelay(0, () => 1)).toBe(500);
    expect(backoffDelay(3, () => 0)).toBe(2000);
    expect(backoffDelay(30, () => 1)).toBe(30_000);
    expect(backoffDelay(30, () => 0)).toBe(15_000);
  });
});

it('compares event ids numerically', () => {
  expect(compareEventIds('9', '10')).toBeLessThan(0);
  expect(compareEventIds('100', '99')).toBeGreaterThan(0);
  expect(compareEventIds('42', '42')).toBe(0);
});
