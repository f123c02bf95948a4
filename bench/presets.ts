/**
 * `npm run bench:presets`: what each preset costs and keeps, measured (docs/ckks.md quotes it).
 * Precision is in bits: −log2 of the largest absolute error over 4,096 inputs in [−1, 1]
 * (so a fresh ciphertext and one product can be compared across presets). Baseline for the
 * time ratios is paper-p2, measured in the same run.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  CkksContext,
  Decryptor,
  Encryptor,
  Evaluator,
  PRESET_IDS,
  PRESETS,
  SecretKey,
} from '../src/ckks/index.ts';
import { fmt, header, table, time } from './report.ts';

const { values: args } = parseArgs({
  options: { out: { type: 'string' }, reps: { type: 'string', default: '10' } },
});
const REPS = Number(args.reps);

function bits(got: Float64Array, want: number[]): number {
  const err = want.reduce((m, w, i) => Math.max(m, Math.abs((got[i] as number) - w)), 0);
  return -Math.log2(err);
}

const rows: (string | number)[][] = [];
const sizeRows: (string | number)[][] = [];
const timings = new Map<string, { encrypt: number; multiply: number }>();
for (const id of PRESET_IDS) {
  process.stderr.write(`measuring ${id}…\n`);
  const preset = PRESETS[id];
  const start = performance.now();
  const context = await CkksContext.create(id);
  const created = performance.now() - start;
  using secret = SecretKey.generate(context);
  using publicKey = secret.publicKey();
  using relinKeys = secret.relinKeys();
  using encryptor = Encryptor.withPublicKey(publicKey);
  using symmetric = Encryptor.withSecretKey(secret);
  using decryptor = new Decryptor(secret);
  using evaluator = new Evaluator(context, { relinKeys });
  const inputs = Array.from({ length: Math.min(4096, preset.slots) }, (_, i) => Math.sin(i * 0.37));
  using x = encryptor.encrypt(inputs);
  using squared = evaluator.square(x);
  using last = evaluator.dropToLevel(squared, 0);
  const encrypt = time(REPS, () => encryptor.encrypt(inputs).dispose()).median;
  const multiply = time(REPS, () => evaluator.multiply(x, x).dispose()).median;
  timings.set(id, { encrypt, multiply });
  rows.push([
    id,
    preset.polyModulusDegree,
    `{${preset.coeffModulusBits.join(', ')}}`,
    `2^${preset.scaleBits}`,
    preset.slots,
    preset.depth,
    `${preset.totalModulusBits} / ${preset.maxSecureBits}`,
    bits(decryptor.decrypt(x, inputs.length), inputs).toFixed(1),
    bits(
      decryptor.decrypt(squared, inputs.length),
      inputs.map((v) => v * v),
    ).toFixed(1),
    (created / 1000).toFixed(2),
  ]);
  sizeRows.push([
    id,
    fmt.bytes(secret.savePublicKey().length),
    fmt.bytes(secret.saveRelinKeys().length),
    fmt.bytes(encryptor.encryptToBytes(inputs).length),
    fmt.bytes(symmetric.encryptToBytes(inputs).length),
    fmt.bytes(last.save().length),
  ]);
}
const base = timings.get('paper-p2') as { encrypt: number; multiply: number };
const timeRows = PRESET_IDS.map((id) => {
  const t = timings.get(id) as { encrypt: number; multiply: number };
  return [
    id,
    fmt.us(t.encrypt),
    fmt.ratio(t.encrypt / base.encrypt),
    fmt.us(t.multiply),
    fmt.ratio(t.multiply / base.multiply),
  ];
});

const report = `${[
  `# Presets measured\n\n${header(`npm run bench:presets${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`)}`,
  `## Shape and precision\n\nPrecision: bits kept, −log2(max |error|) over ${4096} inputs in [−1, 1].\n\n${table(
    [
      'preset',
      'N',
      'coeff modulus bits',
      'Δ',
      'slots',
      'depth',
      'bits used / 128-bit bound',
      'fresh precision',
      'after one product',
      'context s',
    ],
    rows,
  )}`,
  `## Sizes (bytes, zstd)\n\n${table(
    [
      'preset',
      'public key (seeded)',
      'relin keys (seeded)',
      'ciphertext (public key)',
      'ciphertext (seeded symmetric)',
      'ciphertext at last level',
    ],
    sizeRows,
  )}`,
  `## Time (median of ${REPS}, µs; ratio to paper-p2 in the same run)\n\n${table(
    ['preset', 'encode + encrypt', 'vs paper-p2', 'multiply + relinearize + rescale', 'vs paper-p2'],
    timeRows,
  )}`,
].join('\n\n')}\n`;
console.log(report);
if (args.out) writeFileSync(args.out, report);
