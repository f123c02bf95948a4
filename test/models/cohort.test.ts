/**
 * The acceptance in small: on a simulated cohort across the personas, for every model and
 * layout, every encrypted value stays within its committed (measured) error bound and every
 * encrypted diagnosis outside the borderline band equals the clear one. The full 10,000-reading
 * cohort runs in `npm run models:report`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CATALOGUE } from '../../src/models/catalogue/index.ts';
import { cohortUploads } from '../../src/models/cohort.ts';
import { compile } from '../../src/models/compiler.ts';
import { validate } from '../../src/models/validation.ts';
import type { Layout } from '../../src/protocol/schema.ts';

/** Readings per model and layout in CI (batch layouts take whole uploads). */
const READINGS = 48;
const MAX_BYTES_PER_READING_IN_A_BATCH = 400;

for (const model of CATALOGUE) {
  for (const layout of Object.keys(model.layouts) as Layout[]) {
    test(`${model.id} (${layout}): encrypted diagnoses equal clear ones outside the borderline band`, async () => {
      const plan = compile(model, { layout, preset: model.layouts[layout] });
      const uploads = cohortUploads(plan, { readings: READINGS, seed: 11 });
      const personas = new Set(uploads.map((u) => u.profile));
      assert.ok(personas.size >= Math.min(4, uploads.length), 'several people');
      const report = await validate(plan, uploads);
      assert.ok(report.readings >= Math.min(READINGS, plan.readingsPerUpload), `${report.readings} readings`);
      assert.deepEqual(report.mismatches, []);
      assert.deepEqual(
        report.exceeded,
        [],
        JSON.stringify({ measured: report.maxAbsError, bounds: report.errorBounds }),
      );
      assert.ok(Object.keys(report.errorBounds).length > 0, 'committed error bounds exist');
      if (layout === 'packed') assert.equal(plan.ciphertextsPerUpload, 1);
      if (layout === 'batch') {
        const perReading = report.bytesPerUpload / plan.readingsPerUpload;
        assert.ok(
          perReading <= MAX_BYTES_PER_READING_IN_A_BATCH,
          `${perReading.toFixed(0)} bytes per reading`,
        );
      }
    });
  }
}
