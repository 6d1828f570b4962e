import { migration0001 } from './0001-thread-tracking.ts';
import { migration0002 } from './0002-operation-ids.ts';
import { migration0003 } from './0003-mail-accounts.ts';
import { migration0004 } from './0004-maintenance-runs.ts';
import { migration0005 } from './0005-followups.ts';
import { migration0006 } from './0006-followup-daily-counts.ts';
import type { Migration } from './migration.ts';

/** Every migration, in order. Append only; never edit one that has shipped. */
export const migrations: readonly Migration[] = [
  migration0001,
  migration0002,
  migration0003,
  migration0004,
  migration0005,
  migration0006,
];
