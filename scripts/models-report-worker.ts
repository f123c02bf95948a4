/** One worker thread of `npm run models:report`: validates its share of a cohort's uploads. */
import { parentPort, workerData } from 'node:worker_threads';
import { getModel } from '../src/models/catalogue/index.ts';
import { cohortUploads } from '../src/models/cohort.ts';
import { compile } from '../src/models/compiler.ts';
import { validate } from '../src/models/validation.ts';
import type { Layout } from '../src/protocol/schema.ts';

const job = workerData as {
  model: string;
  layout: Layout;
  readings: number;
  minUploads: number;
  seed: number;
  part: number;
  parts: number;
};
const model = getModel(job.model);
const plan = compile(model, { layout: job.layout, preset: model.layouts[job.layout] });
const uploads = cohortUploads(plan, {
  readings: job.readings,
  minUploads: job.minUploads,
  seed: job.seed,
}).filter((_, i) => i % job.parts === job.part);
const report = await validate(plan, uploads, {
  progress: (done) => parentPort?.postMessage({ progress: done }),
});
parentPort?.postMessage({ report });
