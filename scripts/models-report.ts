/**
 * `npm run models:report`: every catalogue model in every layout it supports, compiled and run
 * clear, simulated and encrypted on a simulated cohort; prints the plan, sizes, time and the
 * errors, and checks that every encrypted diagnosis outside the borderline band equals the clear
 * one. `--readings N` sets the cohort size (default 10,000), `--min-uploads N` the fewest uploads
 * per model and layout (default 200: a batch upload holds many readings), `--out FILE` writes the
 * Markdown, `--write-bounds` commits the measured bounds.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { header, table } from '../bench/report.ts';
import { CATALOGUE } from '../src/models/catalogue/index.ts';
import chdWeights from '../src/models/chd-risk/weights.json' with { type: 'json' };
import { cohortUploads } from '../src/models/cohort.ts';
import { compile } from '../src/models/compiler.ts';
import { ERROR_BOUND_MARGIN, roundUpBound } from '../src/models/error-bounds.ts';
import { mergeReports, type ValidationReport } from '../src/models/validation.ts';
import type { Layout } from '../src/protocol/schema.ts';

const { values: args } = parseArgs({
  options: {
    readings: { type: 'string', default: '10000' },
    // Error bounds are measured over at least this many uploads (fresh keys, whole input range).
    'min-uploads': { type: 'string', default: '200' },
    out: { type: 'string' },
    seed: { type: 'string', default: '2021' },
    model: { type: 'string' },
    'write-bounds': { type: 'boolean', default: false },
  },
});
const measuredBounds: Record<string, Record<string, number>> = {};
const READINGS = Number(args.readings);
const MIN_UPLOADS = Number(args['min-uploads']);
const THREADS = Math.max(1, Math.min(2, os.availableParallelism()));
const rows: (string | number)[][] = [];
const errorRows: (string | number)[][] = [];
let failures = 0;
for (const model of CATALOGUE) {
  if (args.model && model.id !== args.model) continue;
  for (const layout of Object.keys(model.layouts) as Layout[]) {
    const plan = compile(model, { layout, preset: model.layouts[layout] });
    const total = cohortUploads(plan, {
      readings: READINGS,
      minUploads: MIN_UPLOADS,
      seed: Number(args.seed),
    }).length;
    const started = performance.now();
    // Two cores: each worker validates every other upload with its own keys.
    const parts = Math.min(THREADS, total);
    const done = new Array<number>(parts).fill(0);
    const report = mergeReports(
      await Promise.all(
        Array.from({ length: parts }, (_, part) => {
          const worker = new Worker(new URL('./models-report-worker.ts', import.meta.url), {
            workerData: {
              model: model.id,
              layout,
              readings: READINGS,
              minUploads: MIN_UPLOADS,
              seed: Number(args.seed),
              part,
              parts,
            },
            execArgv: ['--import', 'tsx'],
          });
          return new Promise<ValidationReport>((resolve, reject) => {
            worker.on('message', (m: { progress?: number; report?: ValidationReport }) => {
              if (m.report) resolve(m.report);
              if (m.progress !== undefined) {
                done[part] = m.progress;
                const sum = done.reduce((a, b) => a + b, 0);
                if (sum % Math.max(1, Math.floor(total / 20)) === 0 || sum === total) {
                  process.stderr.write(`\r${model.id} ${layout}: ${sum}/${total} uploads`);
                }
              }
            });
            worker.on('error', reject);
            worker.on('exit', (code) => {
              if (code !== 0) reject(new Error(`worker exited with ${code}`));
            });
          });
        }),
      ),
    );
    process.stderr.write(` (${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
    failures += report.mismatches.length + (args['write-bounds'] ? 0 : report.exceeded.length);
    measuredBounds[`${model.id}/${layout}`] = Object.fromEntries(
      Object.entries(report.maxAbsError).map(([name, err]) => [name, roundUpBound(ERROR_BOUND_MARGIN * err)]),
    );
    rows.push([
      model.id,
      layout,
      plan.preset.id,
      plan.depth,
      `${plan.multiplications.ciphertext} / ${plan.multiplications.plaintext}`,
      plan.rotations,
      plan.galoisSteps.join(', ') || '–',
      report.bytesPerUpload.toLocaleString('en-US'),
      Math.round(report.bytesPerUpload / plan.readingsPerUpload).toLocaleString('en-US'),
      report.resultBytes.toLocaleString('en-US'),
      report.msPerEvaluation.toFixed(1),
      report.maxRelError.toExponential(1),
      model.id.startsWith('chd-risk')
        ? `${chdWeights.discrimination.crossValidated.pooledAuc.toFixed(3)} (10-fold CV)`
        : '–',
      report.readings.toLocaleString('en-US'),
      report.borderline,
      report.mismatches.length,
    ]);
    for (const [name, err] of Object.entries(report.maxAbsError)) {
      errorRows.push([
        model.id,
        layout,
        name,
        err.toExponential(2),
        (report.maxAbsErrorSimulated[name] ?? 0).toExponential(2),
        report.errorBounds[name]?.toExponential(0) ?? '–',
      ]);
    }
  }
}

const markdown = `${header(`npm run models:report${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`)}  
Worker threads: ${THREADS} of ${os.availableParallelism()} cores

${table(
  [
    'model',
    'layout',
    'preset',
    'depth',
    'ct×ct / ct×pt mults',
    'rotations',
    'Galois steps',
    'bytes per upload',
    'bytes per reading',
    'result bytes',
    'ms per evaluation',
    'max rel. error',
    'AUC',
    'readings',
    'borderline',
    'mismatches',
  ],
  rows,
)}

Max absolute error of each finished value against float64, encrypted and simulated:

${table(['model', 'layout', 'value', 'encrypted', 'simulated', 'committed bound'], errorRows)}
`;
console.log(markdown);
if (args.out) writeFileSync(args.out, markdown);
if (args['write-bounds']) {
  const path = new URL('../src/models/error-bounds.json', import.meta.url);
  // Merge: a run restricted with --model rewrites only that model's bounds.
  const previous = JSON.parse(readFileSync(path, 'utf8')) as Record<string, Record<string, number>>;
  writeFileSync(path, `${JSON.stringify({ ...previous, ...measuredBounds }, null, 2)}\n`);
  console.error(
    `wrote ${path.pathname} (${ERROR_BOUND_MARGIN}× the measured maxima, one significant digit up)`,
  );
}
if (failures > 0) {
  console.error(
    `${failures} failures: encrypted diagnoses differing outside the borderline band, or errors above their bound`,
  );
  process.exitCode = 1;
}
