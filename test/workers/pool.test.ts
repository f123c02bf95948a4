import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WorkerDiedError, WorkerJobError, WorkerPool } from '../../src/workers/pool.ts';

test('a worker that dies fails only its job; the pool replaces it and keeps serving', async () => {
  const pool = new WorkerPool<string, string>(new URL('./crashy-worker.ts', import.meta.url), { size: 2 });
  try {
    assert.equal(await pool.run('a'), 'echo a');
    await assert.rejects(
      pool.run('throw'),
      (e: unknown) => e instanceof WorkerJobError && e.code === 'BAD_INPUT',
    );
    await assert.rejects(
      pool.run('abort'),
      (e: unknown) => e instanceof WorkerJobError && /unreachable/.test(e.message),
    );
    await assert.rejects(
      pool.run('die'),
      (e: unknown) => e instanceof WorkerDiedError && /code 3/.test(e.message),
    );
    // A job in hand on a worker that dies fails; jobs on the other worker do not.
    const [dying, fine] = await Promise.allSettled([pool.run('hang-and-die'), pool.run('b')]);
    assert.equal(fine.status === 'fulfilled' ? fine.value : fine.reason, 'echo b');
    assert.equal(dying.status, 'fulfilled', 'the job answered before its worker died');
    await new Promise((r) => setTimeout(r, 200)); // let the pool notice the exit
    const after = await Promise.all(['c', 'd', 'e', 'f'].map((x) => pool.run(x)));
    assert.deepEqual(after, ['echo c', 'echo d', 'echo e', 'echo f']);
    assert.ok(pool.restarts >= 2, `restarts: ${pool.restarts}`);
  } finally {
    await pool.close();
  }
});
