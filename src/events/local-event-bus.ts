/** In-process fan-out of committed events. Listener errors are isolated: one bad subscriber cannot stop the others. */
import type { ThreadEvent } from '../domain/thread.ts';
import type { EventBus, EventListener } from '../ports/event-bus.ts';

export class LocalEventBus implements EventBus {
  readonly #listeners = new Set<EventListener>();
  readonly #onError: (error: unknown) => void;

  constructor(onError: (error: unknown) => void = () => {}) {
    this.#onError = onError;
  }

  publish(events: ThreadEvent[]): void {
    for (const event of events) {
      for (const listener of this.#listeners) {
        try {
          listener(event);
        } catch (error) {
          this.#onError(error);
        }
      }
    }
  }

  subscribe(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
  }
}
