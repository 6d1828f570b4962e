/**
 * Reads on a real streaming replica (pg_basebackup from the test primary), with read-your-writes: the writing user
 * reads from the primary until the replica has replayed the write; everyone else reads from the replica; a replica
 * that fails or lags too far is left out.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { planCommand, planCreate } from '../../src/domain/commands.ts';
import { type DatabaseHandle, openDatabase } from '../../src/store/database.ts';
import { KyselyStore } from '../../src/store/kysely-store.ts';
import { migrations } from '../../src/store/migrations/index.ts';
import { Migrator } from '../../src/store/migrator.ts';
import { parseLsn, ReplicaRoutingStore } from '../../src/store/replica-router.ts';
import { primaryInsertLsn, replicaReplayLsn } from '../../src/store/wal-position.ts';
import {
  type PostgresReplica,
  type PostgresServer,
  startPostgres,
  startReplica,
} from '../harness/postgres.ts';
import { describeWithService } from '../harness/require-services.ts';
import { startApiServer } from '../support/server-process.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const open = (url: string) =>
  openDatabase({ engine: 'postgres', url, poolSize: 4, queryTimeoutMs: 5_000, connectTimeoutMs: 2_000 });

describeWithService('postgres', 'read replicas', () => {
  let primary: PostgresServer;
  let replica: PostgresReplica;
  let primaryHandle: DatabaseHandle;
  let replicaHandle: DatabaseHandle;
  let router: ReplicaRoutingStore;
  const now = () => new Date().toISOString();

  beforeAll(async () => {
    primary = await startPostgres();
    primaryHandle = await open(primary.url);
    await new Migrator(primaryHandle.db, migrations).migrateTo();
    replica = await startReplica(primary);
    replicaHandle = await open(replica.url);
    router = new ReplicaRoutingStore(
      new KyselyStore(primaryHandle),
      [
        {
          name: 'replica',
          store: new KyselyStore(replicaHandle),
          replayLsn: () => replicaReplayLsn(replicaHandle.db),
        },
      ],
      {
        primaryLsn: () => primaryInsertLsn(primaryHandle.db),
        pollMs: 20,
        maxLagMs: 2_000,
      },
    );
  }, 60_000);

  afterAll(async () => {
    await router?.close();
    await replica?.stop();
    await primary?.stop();
  });

  /** Until the replica has replayed everything the primary has written so far (and the router has seen it). */
  const waitForCatchUp = async () => {
    const target = parseLsn(await primaryInsertLsn(primaryHandle.db));
    for (let i = 0; i < 250; i++) {
      const replayed = await replicaReplayLsn(replicaHandle.db);
      if (replayed && parseLsn(replayed) >= target) {
        await router.poll();
        return;
      }
      await sleep(20);
    }
    throw new Error('the replica did not catch up');
  };

  it('sends reads to the replica once it has caught up', async () => {
    await new KyselyStore(primaryHandle).threads.insert(
      'reader',
      planCreate({ threadId: 'r1', subject: 'one' }, now()),
    );
    await waitForCatchUp();
    const before = router.routed;
    expect((await router.threads.get('reader', 'r1'))?.subject).toBe('one');
    expect(router.routed.replica).toBe(before.replica + 1);
  });

  it('lets the writing user read its own writes while the replica lags, and no one else is held back', async () => {
    await waitForCatchUp();
    await sql`select pg_wal_replay_pause()`.execute(replicaHandle.db);
    try {
      // Another user's change reaches the primary; the paused replica does not have it.
      await new KyselyStore(primaryHandle).threads.update(
        'reader',
        'r1',
        planCommand({ type: 'update', threadId: 'r1', patch: { subject: 'changed on the primary' } }, now()),
      );
      await router.threads.insert('writer', planCreate({ threadId: 'w1', subject: 'mine' }, now()));
      await router.threads.update('writer', 'w1', planCommand({ type: 'hide', threadId: 'w1' }, now()));
      await sleep(100);
      // The writer reads its writes (from the primary)...
      const primaryReads = router.routed.primary;
      expect(await router.threads.get('writer', 'w1')).toMatchObject({ subject: 'mine', hidden: true });
      expect(
        (await router.threads.list('writer', { sort: 'lastActivity', order: 'desc', limit: 10 })).items,
      ).toHaveLength(1);
      expect(router.routed.primary).toBe(primaryReads + 2);
      // ...while another user is served by the replica, which has not replayed the change yet.
      expect((await router.threads.get('reader', 'r1'))?.subject).toBe('one');
    } finally {
      await sql`select pg_wal_replay_resume()`.execute(replicaHandle.db);
    }
    // Once the replica has replayed the writes, the writer reads from it too.
    await waitForCatchUp();
    const replicaReads = router.routed.replica;
    for (let i = 0; i < 50 && router.routed.replica === replicaReads; i++) {
      await sleep(20);
      await router.threads.get('writer', 'w1');
    }
    expect(router.routed.replica).toBeGreaterThan(replicaReads);
    expect((await router.threads.get('reader', 'r1'))?.subject).toBe('changed on the primary');
  });

  it('serves through `thread-tracker serve` with DATABASE_READ_URL: own writes read back, reads on the replica, /ready tells', async () => {
    const server = await startApiServer({
      DATABASE_URL: primary.url,
      DATABASE_READ_URL: replica.url,
      FOLLOWUP_WORKER: 'false',
      MAIL_SYNC_INTERVAL_S: '0',
    });
    try {
      for (let i = 0; i < 20; i++) {
        const created = await fetch(`${server.url}/api/v1/threads`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ threadId: `served-${i}`, subject: `served ${i}` }),
        });
        expect(created.status).toBe(201);
        // Read back at once, before the replica can be relied on to have it.
        const read = await fetch(`${server.url}/api/v1/threads/served-${i}`);
        expect(read.status).toBe(200);
        expect((await read.json()).subject).toBe(`served ${i}`);
      }
      // Once the replica has everything, reads that miss the cache go to it.
      await waitForCatchUp();
      await sleep(300);
      for (let i = 0; i < 5; i++)
        expect((await fetch(`${server.url}/api/v1/threads/absent-${i}`)).status).toBe(404);
      const ready = await (await fetch(`${server.url}/ready`)).json();
      expect(ready.checks.replicas).toMatchObject({
        status: 'ok',
        replicas: [{ name: 'replica-1', inUse: true }],
      });
      expect(ready.checks.replicas.readsRouted.replica).toBeGreaterThanOrEqual(5);
    } finally {
      await server.stop();
    }
  }, 60_000);

  it('reads from the primary when the replica lags beyond the limit, and when it is down', async () => {
    await waitForCatchUp();
    await sql`select pg_wal_replay_pause()`.execute(replicaHandle.db);
    await new KyselyStore(primaryHandle).threads.insert('reader', planCreate({ threadId: 'r2' }, now()));
    await sleep(2_300);
    await router.poll();
    expect((await router.threads.get('reader', 'r2'))?.threadId).toBe('r2');
    await sql`select pg_wal_replay_resume()`.execute(replicaHandle.db);
    await waitForCatchUp();
    await replica.stopImmediate();
    const before = router.routed.primary;
    expect((await router.threads.get('reader', 'r2'))?.threadId).toBe('r2');
    expect(router.routed.primary).toBe(before + 1);
  }, 30_000);
});
