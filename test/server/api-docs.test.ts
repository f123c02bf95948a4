/**
 * The published API is enough to write a client from: every route has an operationId and a
 * summary, CBOR bodies are published as schemas (not opaque binary), every refusal status lists
 * its codes, the catalogue says which keys each plan needs, and every code the server's source
 * can answer with is in the published table.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { errorCatalogue } from '../../src/server/errors.ts';
import { startServer } from '../../src/server/server.ts';
import { tempDir } from '../ledger/fixtures.ts';

interface Operation {
  operationId?: string;
  summary?: string;
  requestBody?: {
    content: Record<string, { schema: { type?: string; properties?: object; items?: object } }>;
  };
  responses: Record<string, { description?: string }>;
}

test('API DOCS: operationIds, CBOR body schemas, error codes per status, key requirements per plan', async (t) => {
  const server = await startServer({
    dataDir: await tempDir('apidocs'),
    port: 0,
    log: false,
    adminToken: 'x',
  });
  t.after(() => server.close());
  const doc = (await (await fetch(`${server.url}/docs/json`)).json()) as {
    info: { description: string };
    paths: Record<string, Record<string, Operation>>;
  };
  const ids = new Set<string>();
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      assert.ok(op.operationId, `${method} ${path}: operationId`);
      assert.ok(!ids.has(op.operationId), `${op.operationId} is unique`);
      ids.add(op.operationId);
      assert.ok(op.summary, `${method} ${path}: summary`);
      const cbor = op.requestBody?.content['application/cbor'];
      if (cbor) {
        assert.ok(
          cbor.schema.properties ?? cbor.schema.items,
          `${method} ${path}: the CBOR body has a schema`,
        );
        assert.doesNotMatch(JSON.stringify(cbor.schema), /Uint8Array/);
      }
      for (const [status, response] of Object.entries(op.responses)) {
        if (Number(status) >= 400 && path.startsWith('/v1')) {
          assert.match(response.description ?? '', /^Refused: [A-Z_]+/, `${method} ${path} ${status}`);
        }
      }
    }
  }
  for (const id of [
    'register',
    'submit',
    'issueLater',
    'submissionStatus',
    'listResults',
    'getResult',
    'events',
    'catalogue',
    'issueEnrolment',
  ]) {
    assert.ok(ids.has(id), `operation ${id}`);
  }
  for (const { code } of errorCatalogue()) assert.ok(doc.info.description.includes(`| ${code} |`), code);

  const catalogue = (await (await fetch(`${server.url}/v1/catalogue`)).json()) as {
    models: {
      id: string;
      plans: { layout: string; relinKeys: boolean; galoisSteps: number[]; inputScaleBits: number[] }[];
    }[];
  };
  const packed = catalogue.models
    .find((m) => m.id === 'early-warning')
    ?.plans.find((p) => p.layout === 'packed');
  assert.ok(
    packed && packed.galoisSteps.length > 0 && packed.inputScaleBits.length === 1,
    JSON.stringify(packed),
  );
});

test('ERROR CODES: every code the server source answers with is in the published table', async () => {
  const published = new Set(errorCatalogue().map((e) => e.code));
  const files: string[] = [];
  const walk = async (dir: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (path.endsWith('.ts')) files.push(path);
    }
  };
  await walk('src/server');
  const missing: string[] = [];
  for (const file of files) {
    const source = await readFile(file, 'utf8');
    for (const m of source.matchAll(
      /HttpError\(\s*\d{3},\s*'([A-Z_]+)'|statusCode:\s*\d{3},\s*code:\s*'([A-Z_]+)'|\[\d{3}, '([A-Z_]+)', `/g,
    )) {
      const code = m[1] ?? m[2] ?? m[3] ?? '';
      if (!published.has(code)) missing.push(`${file}: ${code}`);
    }
  }
  assert.deepEqual(missing, []);
  // And docs/protocol.md, the specification, names each (CKKS_<code> through its list).
  const spec = await readFile('docs/protocol.md', 'utf8');
  const undocumented = [...published].filter(
    (code) => !code.startsWith('CKKS_') && !spec.includes(`\`${code}\``),
  );
  assert.deepEqual(undocumented, [], 'codes missing from docs/protocol.md §13');
});
