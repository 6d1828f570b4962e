export interface Migration {
  /** Strictly increasing, starting at 1. */
  version: number;
  name: string;
  /** SQL run in one transaction. */
  up: string;
  down: string;
}
