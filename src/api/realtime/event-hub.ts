/** Routes committed events to the live connections of their user: one bus subscription for the whole process. */
import type { ThreadEvent } from '../../domain/thread.ts';
import type { EventBus } from '../../ports/event-bus.ts';

export class EventHub {
  readonly #byUser = new Map<string, Set<(event: ThreadEvent) => void>>();
  readonly #unsubscribe: () => void;

  constructor(bus: EventBus) {
    this.#unsubscribe = bus.subscribe((event) => {
      const listeners = this.#byUser.get(event.userId);
      if (listeners) for (const listener of listeners) listener(event);
    });
  }

  get connections(): number {
    let n = 0;
    for (const set of this.#byUser.values()) n += set.size;
    return n;
  }

  subscribe(userId: string, listener: (event: ThreadEvent) => void): () => void {
    let set = this.#byUser.get(userId);
    if (!set) {
      set = new Set();
      this.#byUser.set(userId, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#byUser.delete(userId);
    };
  }

  close(): void {
    this.#unsubscribe();
    this.#byUser.clear();
  }
}
