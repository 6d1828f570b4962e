/**
 * Committed thread events, fanned out after commit (realtime push, cache invalidation on other instances).
 * The database's thread_events table is the source of truth; the bus only carries news of it.
 */
import type { ThreadEvent } from '../domain/thread.ts';

export type EventListener = (event: ThreadEvent) => void;

export interface EventBus {
  publish(events: ThreadEvent[]): void;
  subscribe(listener: EventListener): () => void;
  close(): Promise<void>;
}
