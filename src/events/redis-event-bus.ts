/**
 * Committed events fanned out to every API instance through Redis pub/sub. Listeners on this instance hear an event
 * at once (no round trip); other instances hear it from Redis. Redis being down only delays other instances'
 * listeners: a web client that misses a live event catches up from thread_events when it resumes.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { ThreadEvent } from '../domain/thread.ts';
import type { EventBus, EventListener } from '../ports/event-bus.ts';
import { LocalEventBus } from './local-event-bus.ts';

export const EVENTS_CHANNEL = 'tt:1:events';

export class RedisEventBus implements EventBus {
  readonly #local: LocalEventBus;
  readonly #publisher: Redis;
  readonly #subscriber: Redis;
  readonly #instance = randomUUID();

  constructor(url: string, onError: (error: unknown) => void = () => {}) {
    this.#local = new LocalEventBus(onError);
    const options = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 250,
      lazyConnect: false,
    };
    this.#publisher = new Redis(url, options);
    this.#subscriber = new Redis(url, { lazyConnect: false });
    this.#publisher.on('error', () => {});
    this.#subscriber.on('error', () => {});
    void this.#subscriber.subscribe(EVENTS_CHANNEL).catch(onError);
    this.#subscriber.on('message', (_channel: string, raw: string) => {
      try {
        const message = JSON.parse(raw) as { i: string; e: ThreadEvent[] };
        if (message.i !== this.#instance) this.#local.publish(message.e);
      } catch (error) {
        onError(error);
      }
    });
  }

  publish(events: ThreadEvent[]): void {
    if (events.length === 0) return;
    this.#local.publish(events);
    this.#publisher.publish(EVENTS_CHANNEL, JSON.stringify({ i: this.#instance, e: events })).catch(() => {
      // Other instances miss this news; their clients catch up from the database when they resume.
    });
  }

  subscribe(listener: EventListener): () => void {
    return this.#local.subscribe(listener);
  }

  async close(): Promise<void> {
    await this.#local.close();
    this.#subscriber.disconnect();
    this.#publisher.disconnect();
  }
}
