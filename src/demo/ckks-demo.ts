/**
 * `npm run demo`: the CKKS part of PMHE end to end, in one process. A client encrypts a few
 * vital-sign readings, an evaluator that holds no secret key computes on them encrypted, and
 * the client decrypts and compares with the same computation in plaintext.
 * Later issues grow this into the whole system (server, ledger, contract).
 */
import Table from 'cli-table3';
import {
  CkksContext,
  Decryptor,
  Encryptor,
  Evaluator,
  loadCiphertext,
  loadKey,
  SecretKey,
} from '../ckks/index.ts';

// Five readings: heart rate x (bpm), diastolic y and systolic z (mmHg), respiratory rate w (/min).
const readings = [
  { x: 72, y: 78, z: 121, w: 14 },
  { x: 88, y: 92, z: 148, w: 18 },
  { x: 54, y: 64, z: 108, w: 12 },
  { x: 118, y: 58, z: 92, w: 26 },
  { x: 65, y: 84, z: 134, w: 16 },
];

// A small model: mean arterial pressure (linear) and a quadratic deviation score
// S = ((x−75)/25)² + ((z−120)/20)² + ((w−14)/6)², each written as a polynomial in one vital.
const deviation = (v: number, mid: number, spread: number) => ((v - mid) / spread) ** 2;
const plainMap = (r: (typeof readings)[number]) => (r.z + 2 * r.y) / 3;
const plainScore = (r: (typeof readings)[number]) =>
  deviation(r.x, 75, 25) + deviation(r.z, 120, 20) + deviation(r.w, 14, 6);
/** Coefficients of ((v − mid)/spread)² as c0 + c1·v + c2·v². */
const quadratic = (mid: number, spread: number) => [
  (mid * mid) / spread ** 2,
  (-2 * mid) / spread ** 2,
  1 / spread ** 2,
];

const ms = (start: number) => `${(performance.now() - start).toFixed(1)} ms`;
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

async function main() {
  const timings = new Table({ head: ['step', 'time', 'bytes'] });
  let t = performance.now();
  const context = await CkksContext.create('paper-p2');
  timings.push(['load SEAL and create the paper-p2 context', ms(t), '']);

  // Client: keys stay on the device; only the public evaluation keys travel.
  t = performance.now();
  using secret = SecretKey.generate(context);
  const relinBytes = secret.saveRelinKeys();
  timings.push(['client: secret key + seeded relinearization keys', ms(t), kib(relinBytes.length)]);

  t = performance.now();
  using encryptor = Encryptor.withSecretKey(secret);
  const column = (key: 'x' | 'y' | 'z' | 'w') => readings.map((r) => r[key]);
  const uploads = (['x', 'y', 'z', 'w'] as const).map((k) => encryptor.encryptToBytes(column(k)));
  const uploaded = uploads.reduce((sum, u) => sum + u.length, 0);
  timings.push(['client: encode + encrypt 4 vitals × 5 readings (seeded)', ms(t), kib(uploaded)]);

  // Evaluator side: sees only bytes; validates them at the door.
  t = performance.now();
  using relinKeys = loadKey(context, 'relinKeys', relinBytes);
  using evaluator = new Evaluator(context, { relinKeys });
  const [x, y, z, w] = uploads.map((bytes) => loadCiphertext(context, bytes));
  if (!x || !y || !z || !w) throw new Error('four uploads expected');
  using twoY = evaluator.multiply(y, 2);
  using zPlus = evaluator.add(z, twoY);
  using map = evaluator.multiply(zPlus, 1 / 3);
  using sx = evaluator.polyval(x, quadratic(75, 25), { outputBound: 64 });
  using sz = evaluator.polyval(z, quadratic(120, 20), { outputBound: 64 });
  using sw = evaluator.polyval(w, quadratic(14, 6), { outputBound: 64 });
  using s1 = evaluator.add(sx, sz);
  using s2 = evaluator.add(s1, sw);
  using score = evaluator.dropToLevel(s2);
  using mapOut = evaluator.dropToLevel(map);
  const results = [mapOut.save(), score.save()];
  for (const c of [x, y, z, w]) c.dispose();
  timings.push([
    'evaluator: validate, MAP and deviation score encrypted',
    ms(t),
    kib(results.reduce((s, r) => s + r.length, 0)),
  ]);

  // Client: decrypt Z to Q.
  t = performance.now();
  using decryptor = new Decryptor(secret);
  const [mapBytes, scoreBytes] = results as [Uint8Array, Uint8Array];
  using mapBack = loadCiphertext(context, mapBytes);
  using scoreBack = loadCiphertext(context, scoreBytes);
  const mapQ = decryptor.decrypt(mapBack, readings.length);
  const scoreQ = decryptor.decrypt(scoreBack, readings.length);
  timings.push(['client: decrypt + decode results', ms(t), '']);

  const table = new Table({
    head: [
      'HR',
      'DBP',
      'SBP',
      'RR',
      'MAP (encrypted)',
      'MAP (plain)',
      'score (encrypted)',
      'score (plain)',
      'max rel. err',
    ],
  });
  readings.forEach((r, i) => {
    const m = mapQ[i] as number;
    const s = scoreQ[i] as number;
    const err = Math.max(
      Math.abs(m - plainMap(r)) / plainMap(r),
      Math.abs(s - plainScore(r)) / plainScore(r),
    );
    table.push([
      r.x,
      r.y,
      r.z,
      r.w,
      m.toFixed(4),
      plainMap(r).toFixed(4),
      s.toFixed(5),
      plainScore(r).toFixed(5),
      `${(err * 100).toExponential(1)} %`,
    ]);
  });
  console.log(
    'PMHE demo: CKKS on vital signs (preset paper-p2: N = 8192, q = {50,30,30,30,50} bits, Δ = 2^30)\n',
  );
  console.log(table.toString());
  console.log(timings.toString());
}

await main();
