/**
 * Exactly once under crashes: three `thread-tracker worker` processes on one PostgreSQL database, 1,000 due
 * follow-ups sent through the Gmail API emulator, a worker killed with SIGKILL at a random moment every few seconds
 * and started again. Counted in the mailbox by Message-ID: every follow-up is there once (0 sent twice, 0 missed).
 * A job whose worker died is taken over once its lease ends (never before: one database clock decides both), and
 * within one poll interval of it (plus the time a busy worker needs to finish its batch and claim again).
 */
import { afterAll, expect, it } from 'vitest';
import { createPostgresDatabase } from '../harness/postgres.ts';
import { describeWithService, sharedPostgresUrl } from '../harness/require-services.ts';
import { type Fleet, prepareFleet, runWithKills, type WorkerProcess } from '../support/followup-fleet.ts';

const FOLLOWUPS = 1000;
const POLL_MS = 200;
const LEASE_S = 3;
const BUSY_SLACK_MS = 1500;

describeWithService('postgres', 'exactly once: three worker processes killed at random', () => {
  let fleet: Fleet | undefined;
  const processes: WorkerProcess[] = [];

  afterAll(async () => {
    for (const w of processes) w.kill('SIGKILL');
    await Promise.all(processes.map((w) => w.exited));
    await fleet?.close();
  });

  it(`sends each of ${FOLLOWUPS} follow-ups once`, async () => {
    const url = await createPostgresDatabase(sharedPostgresUrl(), 'followup_crash');
    fleet = await prepareFleet({
      databaseUrl: url,
      threads: FOLLOWUPS,
      dueAt: () => new Date(Date.now() - 60_000),
    });
    const figures = await runWithKills({
      fleet,
      workers: 3,
      env: {
        ...fleet.env,
        FOLLOWUP_POLL_INTERVAL_MS: String(POLL_MS),
        FOLLOWUP_LEASE_S: String(LEASE_S),
        FOLLOWUP_CONCURRENCY: '4',
      },
      killEveryMs: [1500, 3500],
      deadlineMs: 300_000,
      processes,
    });
    console.log(`follow-up crash test: ${JSON.stringify(figures)}`);
    const logs = processes.map((w) => w.output()).join('\n');
    expect(figures.sentTwice, logs).toBe(0);
    expect(figures.missed, logs).toBe(0);
    expect(figures.jobsByStatus).toEqual({ sent: FOLLOWUPS });
    expect(figures.threadsDone).toBe(FOLLOWUPS);
    expect(figures.kills).toBeGreaterThan(3);
    expect(figures.abandonedAttempts).toBeGreaterThan(0);
    expect(figures.takeoverAfterLeaseMs.min).toBeGreaterThanOrEqual(0);
    expect(figures.takeoverAfterLeaseMs.max).toBeLessThanOrEqual(POLL_MS + BUSY_SLACK_MS);
  }, 420_000);
});
