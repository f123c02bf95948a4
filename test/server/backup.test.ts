/**
 * Backups (issue 18): `pmhe server backup DIR` while the server runs and a person uploads,
 * `pmhe server restore DIR` into a new data folder, `pmhe ledger verify` on it, and the server
 * started on it serves every result the backup holds; on PGlite and on PostgreSQL (pg_dump,
 * pg_restore). An altered backup is refused before anything is written.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { PmheClient } from '../../src/client/app.ts';
import { FolderStore } from '../../src/client/node/folder-store.ts';
import { FAST_KDF_FOR_TESTS } from '../../src/client/vault.ts';
import { simulatePerson } from '../../src/device/index.ts';
import { exited, freePort, spawnServer } from '../../src/server/spawn.ts';
import { pmhe } from '../cli/run.ts';
import { tempDir } from '../ledger/fixtures.ts';
import { postgresBin, startPostgres } from './postgres.ts';

const PASSPHRASE = 'a passphrase for backups';

for (const database of ['pglite', 'postgresql'] as const) {
  test(`BACKUP (${database}): taken while the server runs and a person uploads; restored, verified, every result served`, {
    skip: database === 'postgresql' && !process.env.CI && !(await postgresBin()),
  }, async (t) => {
    const pgServer = database === 'postgresql' ? await startPostgres() : undefined;
    t.after(() => pgServer?.stop());
    const dir = await tempDir(`backup-${database}`);
    const original = join(dir, 'original');
    const env: Record<string, string> = pgServer ? { DATABASE_URL: pgServer.url } : {};
    const port = await freePort();
    const child = await spawnServer(original, port, [], { env });
    t.after(() => child.kill('SIGKILL'));
    const url = `http://127.0.0.1:${port}`;
    const store = new FolderStore(join(dir, 'client'));
    using client = await PmheClient.init(store, {
      userId: `backup-${database}`,
      modelId: 'early-warning',
      layout: 'packed',
      passphrase: PASSPHRASE,
      server: url,
      kdf: FAST_KDF_FOR_TESTS,
    });
    await client.register();
    const readings = simulatePerson({ persona: 'healthy', seed: 8, days: 1 }).slice(-6);
    await client.queue(readings.slice(0, 3));
    await client.flush();
    const before = await client.collect({ timeoutMs: 60_000 });
    assert.equal(before.length, 3);

    // The backup, while more readings are being uploaded and evaluated.
    await client.queue(readings.slice(3));
    const uploading = client.flush().then(() => client.collect({ timeoutMs: 60_000 }));
    const backupDir = join(dir, 'backup');
    // A folder that cannot be made, and one that is not empty: refused with a code, not a 500.
    for (const [where, code] of [
      ['/proc/pmhe-backup', 'BAD_FIELD'],
      [original, 'BACKUP_EXISTS'],
    ] as const) {
      const refused = await pmhe(['server', 'backup', where, '--url', url, '--data-dir', original]);
      assert.equal(refused.code, 1, refused.stdout);
      assert.match(refused.stderr, new RegExp(`(400|409) ${code}: `));
    }
    const taken = await pmhe(['server', 'backup', backupDir, '--url', url, '--data-dir', original]);
    assert.equal(taken.code, 0, taken.stderr);
    assert.match(
      taken.stdout,
      new RegExp(`backup in ${backupDir}: ${database} database and embedded ledger \\(\\d+ blocks\\)`),
    );
    assert.equal((await uploading).length, 3, 'uploads went on during the backup');
    child.kill('SIGTERM');
    await exited(child);

    const restoredDir = join(dir, 'restored');
    let restoreUrl: string | undefined;
    if (pgServer) {
      const admin = new pg.Client({ connectionString: pgServer.url });
      await admin.connect();
      await admin.query('create database restored');
      await admin.end();
      restoreUrl = pgServer.url.replace(/\/postgres$/, '/restored');
    }
    const restored = await pmhe([
      'server',
      'restore',
      backupDir,
      '--data-dir',
      restoredDir,
      ...(restoreUrl ? ['--database-url', restoreUrl] : []),
    ]);
    assert.equal(restored.code, 0, restored.stderr);
    assert.match(restored.stdout, /restored the backup of .* into .*\(\d+ blocks/);
    const verified = await pmhe(['ledger', 'verify', join(restoredDir, 'ledger')]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);

    // The server on the restored folder serves every result the backup holds, checked and decrypted.
    const port2 = await freePort();
    const child2 = await spawnServer(restoredDir, port2, [], {
      env: restoreUrl ? { DATABASE_URL: restoreUrl } : {},
    });
    t.after(() => child2.kill('SIGKILL'));
    using again = await PmheClient.open(store, PASSPHRASE, { server: `http://127.0.0.1:${port2}` });
    const listed = await again.api.results({ limit: 500 });
    assert.ok(listed.length >= 3, `${listed.length} results in the backup`);
    for (const entry of before)
      assert.ok(
        listed.some((r) => r.id === entry.resultId),
        `result ${entry.resultId} restored`,
      );
    for (const summary of listed) {
      const result = await again.api.result(summary.id);
      assert.ok(Object.keys(result.z).length > 0, `result ${summary.id} served from the restored ledger`);
    }
    // The restored server takes new readings.
    await again.queue(readings.map((r) => ({ ...r, time: r.time + 3_600_000 })).slice(0, 1));
    await again.flush();
    assert.equal((await again.collect({ timeoutMs: 60_000 })).length, 1);
    child2.kill('SIGTERM');
    await exited(child2);

    // A backup file changed afterwards: refused before anything is written.
    await writeFile(join(backupDir, 'ledger', 'identity.pem'), 'changed');
    const refused = await pmhe(['server', 'restore', backupDir, '--data-dir', join(dir, 'again')]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /ledger\/identity\.pem: altered since the backup/);
  });
}
