/**
 * A circuit breaker that opens after `failureThreshold` consecutive failures and then keeps every caller off the
 * dependency: while open, `allow()` is false and callers fail fast. Recovery is probed in the background (half-open)
 * with the dependency's cheapest call, so no request ever pays for finding out that the dependency is still down;
 * the first successful probe closes the breaker. Cool-downs grow from `minCooldownMs` to `maxCooldownMs`.
 *
 * Why not a rolling error-percentage breaker (opossum's model): after a long run of successes it needs many failures
 * before it opens, and with a frozen dependency each of those failures is a full timeout on a request's path.
 */
export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  name: string;
  failureThreshold?: number;
  minCooldownMs?: number;
  maxCooldownMs?: number;
  /** Checks the dependency; resolves when it answers. Run while open, once per cool-down. */
  probe: () => Promise<unknown>;
  /** Runs after a successful probe, before the breaker closes (e.g. replaying queued work). */
  beforeClose?: () => Promise<void>;
  onStateChange?: (state: BreakerState, previous: BreakerState) => void;
}

export class CircuitBreaker {
  readonly name: string;
  readonly #options: Required<Omit<CircuitBreakerOptions, 'onStateChange' | 'beforeClose'>> &
    Pick<CircuitBreakerOptions, 'onStateChange' | 'beforeClose'>;
  #state: BreakerState = 'closed';
  #failures = 0;
  #cooldownMs: number;
  #timer: NodeJS.Timeout | undefined;
  #openedAt = 0;
  #transitions = 0;
  #closed = false;

  constructor(options: CircuitBreakerOptions) {
    this.name = options.name;
    this.#options = { failureThreshold: 1, minCooldownMs: 250, maxCooldownMs: 5_000, ...options };
    this.#cooldownMs = this.#options.minCooldownMs;
  }

  get state(): BreakerState {
    return this.#state;
  }

  /** Times the breaker changed state (for metrics). */
  get transitions(): number {
    return this.#transitions;
  }

  /** Milliseconds since the breaker opened (0 when closed). */
  get openForMs(): number {
    return this.#state === 'closed' ? 0 : Date.now() - this.#openedAt;
  }

  allow(): boolean {
    return this.#state === 'closed';
  }

  success(): void {
    if (this.#state === 'closed') this.#failures = 0;
  }

  failure(): void {
    if (this.#state !== 'closed') return;
    this.#failures++;
    if (this.#failures >= this.#options.failureThreshold) this.#open();
  }

  /** Runs `fn` through the breaker: refuses at once when open, records the outcome when closed. */
  async run<T>(fn: () => Promise<T>, unavailable: () => Error): Promise<T> {
    if (!this.allow()) throw unavailable();
    try {
      const result = await fn();
      this.success();
      return result;
    } catch (error) {
      this.failure();
      throw error;
    }
  }

  /** Forces the breaker open (e.g. a connection-level event says the dependency is gone). */
  trip(): void {
    if (this.#state === 'closed') this.#open();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  #open(): void {
    this.#openedAt = Date.now();
    this.#set('open');
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#probe(), this.#cooldownMs);
    this.#timer.unref();
  }

  async #probe(): Promise<void> {
    if (this.#closed || this.#state === 'closed') return;
    this.#set('half-open');
    try {
      await this.#options.probe();
      await this.#options.beforeClose?.();
      this.#failures = 0;
      this.#cooldownMs = this.#options.minCooldownMs;
      this.#set('closed');
    } catch {
      this.#cooldownMs = Math.min(this.#cooldownMs * 2, this.#options.maxCooldownMs);
      this.#set('open');
      this.#schedule();
    }
  }

  #set(state: BreakerState): void {
    if (state === this.#state) return;
    const previous = this.#state;
    this.#state = state;
    this.#transitions++;
    this.#options.onStateChange?.(state, previous);
  }
}
