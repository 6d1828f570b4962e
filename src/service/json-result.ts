/**
 * A read result that carries its JSON text: a cache hit is sent to the client as stored, without parsing and
 * serializing it again; code that needs the object parses it once, on demand.
 */
export class JsonResult<T> {
  readonly json: string;
  /** Set when the database could not be asked: how old the cached data is. */
  staleAgeMs: number | undefined;
  /** Set when the user's queued writes (not yet in the database) are part of this answer. */
  pendingWrites: number | undefined;
  #value: T | undefined;

  constructor(json: string, value?: T) {
    this.json = json;
    this.#value = value;
  }

  static of<T>(value: T): JsonResult<T> {
    return new JsonResult(JSON.stringify(value), value);
  }

  get value(): T {
    if (this.#value === undefined) this.#value = JSON.parse(this.json) as T;
    return this.#value;
  }
}
