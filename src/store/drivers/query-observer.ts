/** What a driver reports about each statement; metrics and slow-query logs hang off this one hook. */
export interface QueryInfo {
  sql: string;
  durationMs: number;
  error?: unknown;
}

export type QueryObserver = (info: QueryInfo) => void;
