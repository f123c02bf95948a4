import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CkksError } from '../../src/ckks/index.ts';
import { bloodPressure } from '../../src/models/catalogue/blood-pressure.ts';
import { earlyWarning } from '../../src/models/catalogue/early-warning.ts';
import { compile } from '../../src/models/compiler.ts';
import { errorBoundsFor } from '../../src/models/error-bounds.ts';
import type { Model } from '../../src/models/model.ts';
import { news2Score } from '../../src/models/news2.ts';
import { finishedRows, runClear, runSimulated, tupleVectors } from '../../src/models/runtime.ts';
import { validate } from '../../src/models/validation.ts';
import { ProtocolError } from '../../src/protocol/errors.ts';

const readings = [
  { time: 0, x: 72, y: 80, z: 120, w: 14 },
  { time: 1, x: 135, y: 60, z: 88, w: 27 },
  { time: 2, x: 41, y: 70, z: 101, w: 9 },
  { time: 3, x: 110, y: 95, z: 220, w: 21 },
  { time: 4, x: 50, y: 62, z: 110, w: 8 },
];

test('early-warning compiles to the cheapest preset with depth 1 in every layout', () => {
  for (const layout of ['paper', 'packed', 'batch'] as const) {
    const plan = compile(earlyWarning, { layout });
    assert.equal(plan.preset.id, 'secure-4096', layout);
    assert.equal(plan.depth, 1);
    assert.equal(plan.template.layout, layout);
    assert.equal(plan.ciphertextsPerUpload, layout === 'packed' ? 1 : earlyWarning.elements.length);
    assert.equal(plan.multiplications.ciphertext, 0);
  }
  const packed = compile(earlyWarning, { layout: 'packed' });
  assert.deepEqual(packed.galoisSteps, [1, 2, 4, 8]);
  // One Z for the four outputs: the elements written once per output, one 16-slot sum for all.
  assert.equal(packed.sharedZ, true);
  assert.equal(packed.rotations, 4, 'one 16-slot sum, not one per output');
  assert.equal(packed.multiplications.plaintext, 1);
  assert.equal(packed.template.copies, 4);
  assert.deepEqual(
    packed.template.result.map((r) => [r.name, r.output, r.slot]),
    [
      ['rrScore', 0, 0],
      ['sbpScore', 1, 16],
      ['hrScore', 2, 32],
      ['total', 3, 48],
    ],
  );
  const [vector] = tupleVectors(packed, [{ time: 0, x: 135, y: 80, z: 95, w: 22 }], {});
  assert.equal(vector?.length, 48 + earlyWarning.elements.length);
  for (const b of [1, 2, 3]) assert.deepEqual(vector?.slice(16 * b, 16 * b + 13), vector?.slice(0, 13));
  assert.equal(compile(earlyWarning, { layout: 'paper' }).sharedZ, false);
  assert.deepEqual(compile(earlyWarning, { layout: 'paper' }).galoisSteps, []);
});

test('clear and simulated early-warning scores equal the published NEWS2 table', () => {
  for (const layout of ['paper', 'packed'] as const) {
    const plan = compile(earlyWarning, { layout });
    for (const r of readings) {
      const want = news2Score(r.w, r.z, r.x);
      const clear = runClear(plan, tupleVectors(plan, [r], {}));
      assert.deepEqual(
        [clear.rrScore?.[0], clear.sbpScore?.[0], clear.hrScore?.[0], clear.total?.[0]],
        [want.respiratoryRate, want.systolic, want.heartRate, want.total],
        `${layout} ${JSON.stringify(r)}`,
      );
      const simulated = runSimulated(plan, tupleVectors(plan, [r], {}));
      assert.ok(Math.abs((simulated.total?.[0] as number) - want.total) < 1e-6);
    }
  }
  const batch = compile(earlyWarning, { layout: 'batch' });
  const clear = runClear(batch, tupleVectors(batch, readings, {}));
  assert.deepEqual(
    clear.total,
    readings.map((r) => news2Score(r.w, r.z, r.x).total),
  );
});

test('encrypted early-warning equals clear in every layout, diagnoses included', async () => {
  for (const layout of ['paper', 'packed', 'batch'] as const) {
    // Within the committed error bounds: packed sums over slots with rotations, whose
    // key-switching noise varies ~20× between Galois key sets (docs/models.md).
    const bounds = errorBoundsFor('early-warning', layout);
    const plan = compile(earlyWarning, { layout });
    const uploads =
      layout === 'batch'
        ? [{ readings, profile: {} }]
        : readings.map((r) => ({ readings: [r], profile: {} }));
    const report = await validate(plan, uploads);
    assert.equal(report.readings, readings.length);
    assert.deepEqual(report.mismatches, [], layout);
    for (const [name, err] of Object.entries(report.maxAbsError))
      assert.ok(err < (bounds[name] ?? 0), `${layout} ${name}: ${err} (bound ${bounds[name]})`);
  }
});

test('blood-pressure is batch-only, and the compiler says why other layouts fail', () => {
  assert.throws(
    () => compile(bloodPressure, { layout: 'packed' }),
    (e: unknown) => e instanceof ProtocolError && e.code === 'LAYOUT',
  );
  const plan = compile(bloodPressure, { layout: 'batch' });
  assert.equal(plan.preset.id, 'secure-4096');
  assert.equal(plan.readingsPerUpload, 672);
  assert.deepEqual(plan.galoisSteps, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]);
});

test('a model deeper than any pinned preset is refused with the depth it needs', () => {
  const deep: Model = {
    ...earlyWarning,
    id: 'deep',
    outputs: [
      {
        name: 'p',
        unit: '',
        description: '',
        criteria: 'none',
        range: [0, 1],
        expr: {
          op: 'poly',
          arg: { op: 'element', name: 'xBand0' },
          coefficients: [0, 0, 0, 1],
          domain: [0, 1],
        },
      },
    ],
  };
  assert.throws(
    () => compile(deep, { layout: 'paper', preset: 'secure-4096' }),
    (e: unknown) => e instanceof CkksError && e.code === 'DEPTH_EXHAUSTED' && /depth 1 < 2/.test(e.message),
  );
  assert.equal(compile(deep, { layout: 'paper' }).preset.id, 'paper-p1');
});

test("chd-risk-paper (the paper's encrypted cubic) needs three levels: paper-p2, and the encrypted risk equals the clear one", async () => {
  const { chdRiskPaper } = await import('../../src/models/catalogue/chd-risk.ts');
  const profile = { age: 50, bmi: 25, cholesterol: 230, smoker: 1 };
  for (const layout of ['paper', 'packed'] as const) {
    const plan = compile(chdRiskPaper, { layout });
    assert.equal(plan.preset.id, 'paper-p2');
    assert.equal(plan.depth, 3);
    const uploads = readings.slice(0, 2).map((r) => ({ readings: [r], profile }));
    const report = await validate(plan, uploads);
    assert.deepEqual(report.mismatches, []);
    assert.ok((report.maxAbsError.risk as number) < 1e-3, `${layout}: ${report.maxAbsError.risk}`);
  }
  const plan = compile(chdRiskPaper, { layout: 'paper' });
  assert.throws(
    () =>
      tupleVectors(plan, [readings[0] as (typeof readings)[number]], {
        age: 59,
        bmi: 39,
        cholesterol: 414,
        smoker: 1,
      }),
    (e: unknown) =>
      e instanceof ProtocolError && e.code === 'OUT_OF_RANGE' && /linear score .* is outside/.test(e.message),
  );
});

test('chd-risk: the score encrypted on secure-4096 (one level), σ exact on the client: the highest-risk profiles are diagnosed, not refused', async () => {
  const { chdRisk } = await import('../../src/models/catalogue/chd-risk.ts');
  // 190/105 mmHg, 59 years, BMI 31, cholesterol 330, smoker: refused (OUT_OF_RANGE) by the cubic.
  const severe = { z: 190, y: 105 };
  const profile = { age: 59, bmi: 31, cholesterol: 330, smoker: 1 };
  for (const layout of ['paper', 'packed'] as const) {
    const plan = compile(chdRisk, { layout });
    assert.deepEqual([plan.preset.id, plan.depth], ['secure-4096', 1]);
    const report = await validate(plan, [
      { readings: [{ ...(readings[0] as (typeof readings)[number]), ...severe }], profile },
    ]);
    assert.deepEqual(report.mismatches, []);
    // Within the committed bound (σ's slope is at most 1/4 of the score's error).
    assert.ok(
      (report.maxAbsError.risk as number) <= (errorBoundsFor('chd-risk', layout).risk as number),
      `${layout}: ${report.maxAbsError.risk}`,
    );
    const [row] = finishedRows(
      plan,
      runClear(
        plan,
        tupleVectors(plan, [{ ...(readings[0] as (typeof readings)[number]), ...severe }], profile),
      ),
      1,
    );
    assert.ok((row?.risk as number) > 0.7, `risk ${row?.risk}`);
    assert.equal(chdRisk.diagnose(row as Record<string, number>, {}).level, 'high');
  }
});

test('chd-risk: the ATP III edges fall exactly at 10% and 20% of the fitted model', async () => {
  const { chdRisk, logistic } = await import('../../src/models/catalogue/chd-risk.ts');
  const logit = (p: number) => Math.log(p / (1 - p));
  for (const [p, below, at] of [
    [0.1, 'normal', 'medium'],
    [0.2, 'medium', 'high'],
  ] as const) {
    const s = logit(p);
    const just = (v: number) => chdRisk.diagnose(chdRisk.finish({ score: v }), {}).level;
    // The score whose σ is the edge, and one ulp-sized step either side of it.
    assert.equal(just(s + 1e-12), at, `σ just above ${p}`);
    assert.equal(just(s - 1e-12), below, `σ just below ${p}`);
    assert.ok(Math.abs(logistic(s) - p) < 1e-15);
  }
  // With the score's error bound, a score near an edge is borderline: both categories named.
  const near = chdRisk.diagnose(chdRisk.finish({ score: logit(0.2) }), { score: 1e-3 });
  assert.match(JSON.stringify(near), /intermediate[\s\S]*high|high[\s\S]*intermediate/);
});

test("a plan's multiplication and rotation counts are what the encrypted run performs", async () => {
  const { chdRisk } = await import('../../src/models/catalogue/chd-risk.ts');
  const { CkksContext, Encryptor, Evaluator, SecretKey } = await import('../../src/ckks/index.ts');
  const { encryptTuple, evaluate, loadTuple } = await import('../../src/models/runtime.ts');
  const profile = { age: 50, bmi: 25, cholesterol: 230, smoker: 1 };
  for (const [model, layout, upload] of [
    [chdRisk, 'paper', readings.slice(0, 1)],
    [chdRisk, 'packed', readings.slice(0, 1)],
    [earlyWarning, 'packed', readings.slice(1, 2)],
  ] as const) {
    const plan = compile(model, { layout });
    const context = await CkksContext.create(plan.preset.id);
    using secret = SecretKey.generate(context);
    using relinKeys = secret.relinKeys();
    using galoisKeys = secret.galoisKeys(plan.galoisSteps.length ? plan.galoisSteps : [1]);
    using encryptor = Encryptor.withSecretKey(secret);
    using evaluator = new Evaluator(context, { relinKeys, galoisKeys });
    const bytes = encryptTuple(plan, encryptor, tupleVectors(plan, [...upload], profile));
    const inputs = loadTuple(plan, context, bytes);
    const seal = context.sealEvaluator;
    const counts = { ciphertext: 0, plaintext: 0, rotations: 0 };
    const originals = {
      multiply: seal.multiply,
      square: seal.square,
      multiplyPlain: seal.multiplyPlain,
      rotateVector: seal.rotateVector,
    };
    const counting =
      <A extends unknown[]>(kind: keyof typeof counts, f: (...a: A) => void) =>
      (...a: A) => {
        counts[kind] += 1;
        f.apply(seal, a);
      };
    seal.multiply = counting('ciphertext', originals.multiply);
    seal.square = counting('ciphertext', originals.square);
    seal.multiplyPlain = counting('plaintext', originals.multiplyPlain);
    seal.rotateVector = counting('rotations', originals.rotateVector);
    try {
      for (const z of evaluate(plan, evaluator, inputs)) z.dispose();
    } finally {
      Object.assign(seal, originals);
      for (const c of inputs) c.dispose();
    }
    assert.deepEqual(counts, { ...plan.multiplications, rotations: plan.rotations }, `${model.id} ${layout}`);
  }
});

test('blood-pressure in clear mode: a week exactly on the thresholds lands where ACC/AHA and O’Brien put it', async () => {
  const { bloodPressure } = await import('../../src/models/catalogue/blood-pressure.ts');
  const plan = compile(bloodPressure, { layout: 'batch' });
  const MINUTE = 60_000;
  // Per day (96 slots of 15 min): 09–21 h 130/79; 01–06 h 117/60 (a dip of exactly 10%); the 28
  // other slots chosen so the 24-hour mean is exactly 125/74: 12 at 122/75, 16 at 122.25/75.75.
  let other = 0;
  const week = Array.from({ length: plan.readingsPerUpload }, (_, i) => {
    const minute = (i * 15) % (24 * 60);
    const day = minute >= 9 * 60 && minute < 21 * 60;
    const night = minute >= 60 && minute < 6 * 60;
    const first12 = !day && !night && other++ % 28 < 12;
    const [z, y] = day ? [130, 79] : night ? [117, 60] : first12 ? [122, 75] : [122.25, 75.75];
    return { time: i * 15 * MINUTE, x: 70, y, z, w: 14 };
  });
  const [row] = finishedRows(plan, runClear(plan, tupleVectors(plan, week, {})), week.length).slice(-1);
  const v = row as Record<string, number>;
  assert.deepEqual([v.daySbp, v.dayDbp, v.allSbp, v.allDbp, v.dipPercent], [130, 79, 125, 74, 10]);
  const diagnosis = bloodPressure.diagnose(v, {});
  assert.equal(diagnosis.borderline, false, JSON.stringify(diagnosis));
  const text = JSON.stringify(diagnosis);
  // SBP ≥ 130 by day and ≥ 125 over 24 h is hypertensive (ACC/AHA 2017 Table 11); a 10% dip is
  // a dipper (ratio 0.9, O'Brien et al. 2013).
  assert.match(text, /ambulatory hypertension \(daytime, nighttime, 24-hour\)/);
  assert.match(text, /dipper \(/);
  assert.doesNotMatch(text, /non-dipper/);
  // Decrypted, the same week is borderline within its error bound, and the guideline's side is
  // among the candidates.
  const bounds = errorBoundsFor('blood-pressure', 'batch');
  const near = {
    ...v,
    daySbp: 130 - (bounds.daySbp ?? 0) / 2,
    dipPercent: 10 - (bounds.dipPercent ?? 0) / 2,
  };
  const decrypted = JSON.stringify(bloodPressure.diagnose(near, bounds));
  assert.match(decrypted, /borderline/);
  assert.match(decrypted, /ambulatory hypertension \(daytime/);
});
