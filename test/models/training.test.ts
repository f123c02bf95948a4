import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import {
  type ChdRiskWeights,
  chdDataset,
  loadWcgs,
  renderWeights,
  trainChdRisk,
  WCGS_SOURCE,
  type WcgsData,
  WEIGHTS_PATH,
} from '../../src/models/training/chd-risk.ts';
import { FetchDebianError, fetchDebianFile } from '../../src/models/training/fetch-debian.ts';
import {
  auc,
  calibration,
  chiSquareSurvival,
  fitLogistic,
  LogisticError,
  seededRandom,
  sigmoid,
  stratifiedFolds,
} from '../../src/models/training/logistic.ts';
import { asDataFrame, parseRData, RDataError, readRDataFile } from '../../src/models/training/rdata.ts';
import {
  evaluatePolynomial,
  fitSigmoidPolynomial,
  scoreInterval,
} from '../../src/models/training/sigmoid-poly.ts';

// The real data set is fetched once (from the .data cache after the first run) and shared, lazily so
// that a failed fetch fails the tests that need it rather than the whole file.
let loaded: Promise<WcgsData> | undefined;
const wcgs = () => {
  loaded ??= loadWcgs();
  return loaded;
};

test('logistic fit of a 2×2 table equals the closed form (log odds, Woolf standard error)', () => {
  // x = 0: 30 events in 100; x = 1: 60 events in 120.
  const x: number[][] = [];
  const y: number[] = [];
  const add = (value: number, events: number, total: number) => {
    for (let i = 0; i < total; i++) {
      x.push([value]);
      y.push(i < events ? 1 : 0);
    }
  };
  add(0, 30, 100);
  add(1, 60, 120);
  const fit = fitLogistic(x, y, { standardErrors: true });
  assert.ok(Math.abs(fit.intercept - Math.log(30 / 70)) < 1e-12);
  assert.ok(Math.abs((fit.coefficients[0] as number) - (Math.log(60 / 60) - Math.log(30 / 70))) < 1e-12);
  const woolf = Math.sqrt(1 / 30 + 1 / 70 + 1 / 60 + 1 / 60);
  assert.ok(Math.abs((fit.standardErrors?.[1] as number) - woolf) < 1e-10);
  assert.ok(Math.abs((fit.standardErrors?.[0] as number) - Math.sqrt(1 / 30 + 1 / 70)) < 1e-10);
});

test('logistic fit recovers known coefficients from simulated data, in raw units of different scales', () => {
  const random = seededRandom(7);
  const normal = (mean: number, sd: number) =>
    mean + sd * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const truth = { intercept: -9, coefficients: [0.04, 0.012, 0.7] };
  const x: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const row = [normal(130, 18), normal(220, 40), random() < 0.4 ? 1 : 0];
    const p = sigmoid(
      truth.intercept + truth.coefficients.reduce((s, b, j) => s + b * (row[j] as number), 0),
    );
    x.push(row);
    y.push(random() < p ? 1 : 0);
  }
  const fit = fitLogistic(x, y, { standardErrors: true });
  const estimates = [fit.intercept, ...fit.coefficients];
  const truths = [truth.intercept, ...truth.coefficients];
  estimates.forEach((b, j) => {
    const se = fit.standardErrors?.[j] as number;
    assert.ok(
      Math.abs(b - (truths[j] as number)) < 4 * se,
      `coefficient ${j}: ${b} vs ${truths[j]} (se ${se})`,
    );
  });
  // A maximum of the likelihood: the score equations hold to rounding.
  for (let j = 0; j <= 3; j++) {
    let gradient = 0;
    x.forEach((row, i) => {
      const residual =
        (y[i] as number) -
        sigmoid(fit.intercept + fit.coefficients.reduce((s, b, k) => s + b * (row[k] as number), 0));
      gradient += (j === 0 ? 1 : (row[j - 1] as number)) * residual;
    });
    assert.ok(Math.abs(gradient) < 1e-6, `score equation ${j}: ${gradient}`);
  }
});

test('logistic fit refuses separated outcomes and constant features', () => {
  assert.throws(
    () => fitLogistic([[1], [2], [3], [4]], [0, 0, 1, 1]),
    (e: unknown) => e instanceof LogisticError && /separated/.test(e.message),
  );
  assert.throws(
    () =>
      fitLogistic(
        [
          [1, 2],
          [2, 4],
          [3, 6],
          [4, 8],
        ],
        [0, 1, 0, 1],
      ),
    (e: unknown) => e instanceof LogisticError && /collinear/.test(e.message),
  );
  assert.throws(
    () => fitLogistic([[5], [5], [5]], [0, 1, 0]),
    (e: unknown) => e instanceof LogisticError && /constant/.test(e.message),
  );
});

test('AUC is the Mann–Whitney probability, ties counting one half', () => {
  // Positives 0.35, 0.8 against negatives 0.1, 0.4: 3 of 4 pairs ordered correctly.
  assert.equal(auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75);
  // Positives 0.5, 0.9 against negatives 0.5, 0.2: 3 wins and one tie of 4 pairs.
  assert.equal(auc([0.5, 0.5, 0.2, 0.9], [1, 0, 0, 1]), 0.875);
  assert.equal(auc([3, 2, 1], [1, 0, 0]), 1);
  assert.throws(() => auc([1, 2], [1, 1]), LogisticError);
});

test('stratified folds are seeded and spread the events evenly', () => {
  const y = Array.from({ length: 1003 }, (_, i) => (i % 12 === 0 ? 1 : 0));
  const folds = stratifiedFolds(y, 10, 42);
  assert.deepEqual(stratifiedFolds(y, 10, 42), folds);
  assert.notDeepEqual(stratifiedFolds(y, 10, 43), folds);
  const events = Array.from({ length: 10 }, (_, f) => y.filter((v, i) => v === 1 && folds[i] === f).length);
  const sizes = Array.from({ length: 10 }, (_, f) => folds.filter((g) => g === f).length);
  assert.ok(Math.max(...events) - Math.min(...events) <= 1, `events per fold ${events}`);
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `rows per fold ${sizes}`);
});

test('chi-square tail and calibration of a perfectly specified model', () => {
  assert.ok(Math.abs(chiSquareSurvival(2, 2) - Math.exp(-1)) < 1e-14);
  assert.ok(Math.abs(chiSquareSurvival(15.507313055865453, 8) - 0.05) < 1e-12); // qchisq(0.95, 8)
  assert.ok(Math.abs(chiSquareSurvival(3.84145882069412, 1) - 0.05) < 1e-12); // qchisq(0.95, 1)
  // Outcomes drawn from the scores' own probabilities: intercept ≈ 0, slope ≈ 1.
  const random = seededRandom(3);
  const scores = Array.from({ length: 20_000 }, () => -4 + 4 * random());
  const y = scores.map((s) => (random() < sigmoid(s) ? 1 : 0));
  const c = calibration(scores, y);
  assert.equal(c.groups.length, 10);
  assert.equal(
    c.groups.reduce((s, g) => s + g.rows, 0),
    20_000,
  );
  assert.ok(Math.abs(c.intercept) < 0.05, `intercept ${c.intercept}`);
  assert.ok(Math.abs(c.slope - 1) < 0.05, `slope ${c.slope}`);
  assert.ok(c.hosmerLemeshow.pValue > 0.001, `HL p ${c.hosmerLemeshow.pValue}`);
  // Scores that are twice too extreme are detected.
  assert.ok(
    Math.abs(
      calibration(
        scores.map((s) => 2 * s + 2),
        y,
      ).slope - 0.5,
    ) < 0.05,
  );
});

test('sigmoid polynomial: least squares on its nodes, error below the reported bound everywhere', () => {
  const poly = fitSigmoidPolynomial([-5.25, 0.25]);
  assert.equal(poly.coefficients.length, 4);
  // Least squares: residuals at the nodes are orthogonal to 1, t, t², t³.
  const nodes = Array.from(
    { length: poly.nodes },
    (_, i) => -2.5 + 2.75 * Math.cos((Math.PI * (2 * i + 1)) / (2 * poly.nodes)),
  );
  for (let k = 0; k <= 3; k++) {
    const inner = nodes.reduce(
      (s, t) => s + (evaluatePolynomial(poly.coefficients, t) - sigmoid(t)) * t ** k,
      0,
    );
    const scale = nodes.reduce((s, t) => s + Math.abs(t) ** k, 0);
    assert.ok(Math.abs(inner) < 1e-14 * scale, `residual ⟂ t^${k}: ${inner}`);
  }
  const random = seededRandom(11);
  let worst = 0;
  for (let i = 0; i < 200_000; i++) {
    const t = -5.25 + 5.5 * random();
    worst = Math.max(worst, Math.abs(evaluatePolynomial(poly.coefficients, t) - sigmoid(t)));
  }
  assert.ok(worst <= poly.maxError, `${worst} > ${poly.maxError}`);
  assert.ok(worst > 0.9 * poly.maxError, 'the bound is tight, not a blanket');
  // σ − ½ is odd: on a symmetric interval the fit has no even terms beyond the constant ½.
  const odd = fitSigmoidPolynomial([-4, 4]);
  assert.ok(
    Math.abs((odd.coefficients[0] as number) - 0.5) < 1e-15 &&
      Math.abs(odd.coefficients[2] as number) < 1e-15,
  );
  const covered = scoreInterval([-1.2, 0.3, 2.6], { step: 0.5 });
  assert.deepEqual(covered.interval, [-1.5, 3]);
  assert.equal(covered.covered, 1);
});

// An R 4.2 `save(df, version = 3, compress = FALSE)` of
// data.frame(n = 1:3, x = c(1.5, NA, NaN), s = c("a", NA, "é"),
//            f = factor(c("lo", "hi", NA), levels = c("lo", "hi")), b = c(TRUE, NA, FALSE)):
// RDX3 header, an ALTREP compact_intseq, NA_real_ next to NaN, UTF-8, a factor, a back-reference,
// compact row.names.
const FIXTURE = Buffer.from(
  '524458330a580a000000030004020200030500000000055554462d3800000402000000010004000900000002646600000313' +
    '00000005000000ee0000000200000001000400090000000e636f6d706163745f696e74736571000000020000000100040009' +
    '0000000462617365000000020000000d000000010000000d000000fe0000000e0000000340080000000000003ff000000000' +
    '00003ff0000000000000000000fe0000000e000000033ff80000000000007ff00000000007a27ff800000000000000000010' +
    '0000000300040009000000016100000009ffffffff0000800900000002c3a90000030d000000030000000100000002800000' +
    '00000004020000000100040009000000066c6576656c73000000100000000200040009000000026c6f000400090000000268' +
    '6900000402000000010004000900000005636c61737300000010000000010004000900000006666163746f72000000fe0000' +
    '000a00000003000000018000000000000000000004020000000100040009000000056e616d65730000001000000005000400' +
    '09000000016e00040009000000017800040009000000017300040009000000016600040009000000016200000402000005ff' +
    '0000001000000001000400090000000a646174612e6672616d6500000402000000010004000900000009726f772e6e616d65' +
    '730000000d0000000280000000fffffffd000000fe000000fe',
  'hex',
);

test('RData reader: every column kind R writes, and errors that say where', async () => {
  const df = asDataFrame(parseRData(FIXTURE).get('df') ?? { type: 'null' }, 'df');
  assert.equal(df.rowCount, 3);
  assert.deepEqual(df.names, ['n', 'x', 's', 'f', 'b']);
  assert.deepEqual(df.columns.get('n'), { type: 'integer', values: [1, 2, 3] });
  const x = df.columns.get('x');
  assert.equal(x?.type, 'double');
  assert.equal(x?.values[0], 1.5);
  assert.equal(x?.values[1], null); // NA
  assert.ok(Number.isNaN(x?.values[2])); // NaN is not NA
  assert.deepEqual(df.columns.get('s'), { type: 'string', values: ['a', null, 'é'] });
  assert.deepEqual(df.columns.get('f'), {
    type: 'factor',
    levels: ['lo', 'hi'],
    ordered: false,
    codes: [1, 2, null],
    values: ['lo', 'hi', null],
  });
  assert.deepEqual(df.columns.get('b'), { type: 'logical', values: [true, null, false] });

  // R's default compression is gzip; the reader takes that too (xz is exercised by WCGS).
  const gz = join(await mkdtemp(join(tmpdir(), 'pmhe-rdata-')), 'df.rda');
  await writeFile(gz, gzipSync(FIXTURE));
  assert.deepEqual(await readRDataFile(gz), parseRData(FIXTURE));
  await rm(dirname(gz), { recursive: true });

  // A list nested 2000 deep: refused by name instead of overflowing the stack.
  const nested = Buffer.alloc(7 + 4 * 3 + 2000 * 8 + 4);
  nested.write('RDX2\nX\n', 'latin1');
  nested.writeInt32BE(2, 7);
  for (let i = 0; i < 2000; i++) {
    nested.writeInt32BE(19, 19 + 8 * i); // VECSXP
    nested.writeInt32BE(1, 23 + 8 * i); // of length 1
  }
  assert.throws(
    () => parseRData(nested),
    (e: unknown) => e instanceof RDataError && /nested more than 1000 deep/.test(e.message),
  );

  assert.throws(
    () => parseRData(FIXTURE.subarray(0, 300)),
    (e: unknown) => e instanceof RDataError && /at byte \d+: .*truncated/.test(e.message),
  );
  assert.throws(
    () => parseRData(Buffer.from('RDA2\nA\n')),
    (e: unknown) => e instanceof RDataError && /not an R workspace/.test(e.message),
  );
  const ascii = Buffer.concat([Buffer.from('RDX2\nA\n'), FIXTURE.subarray(7)]);
  assert.throws(
    () => parseRData(ascii),
    (e: unknown) => e instanceof RDataError && /format "A\\n" is not supported/.test(e.message),
  );
});

test('RData reader on the real WCGS file from Debian', async () => {
  const { file, version } = await fetchDebianFile(WCGS_SOURCE);
  assert.match(version, /^1:0\.5-/);
  const objects = await readRDataFile(file);
  assert.deepEqual([...objects.keys()], ['wcgs']);
  const df = asDataFrame(objects.get('wcgs') ?? { type: 'null' }, 'wcgs');
  assert.equal(df.rowCount, 3154);
  assert.deepEqual(df.names, [
    'id',
    'age0',
    'height0',
    'weight0',
    'sbp0',
    'dbp0',
    'chol0',
    'behpat0',
    'ncigs0',
    'dibpat0',
    'chd69',
    'typechd',
    'time169',
    'arcus0',
  ]);
  const chol = df.columns.get('chol0');
  assert.equal(chol?.type, 'integer');
  assert.equal(chol?.values.filter((v) => v === null).length, 12);
  const chd = df.columns.get('chd69')?.values ?? [];
  assert.equal(chd.filter((v) => v === 1).length, 257);
  assert.deepEqual(df.columns.get('id')?.values.slice(0, 3), [2001, 2002, 2003]);
  await assert.rejects(
    fetchDebianFile({ pkg: WCGS_SOURCE.pkg, path: 'usr/share/no/such/file' }),
    (e: unknown) => e instanceof FetchDebianError && /has no file usr\/share\/no\/such\/file/.test(e.message),
  );
  await assert.rejects(
    fetchDebianFile({ pkg: WCGS_SOURCE.pkg, path: '../../etc/passwd' }),
    (e: unknown) => e instanceof FetchDebianError && /inside the package/.test(e.message),
  );
});

test('the training rows: missing cholesterol and values outside the accepted input ranges are excluded', async () => {
  const set = chdDataset((await wcgs()).frame);
  assert.equal(set.x.length, 3140);
  assert.equal(set.y.filter((v) => v === 1).length, 256);
  assert.deepEqual(
    set.excluded.map((e) => [e.rows, e.ids.length]),
    [
      [12, 12],
      [1, 1],
      [1, 1],
    ],
  );
  assert.deepEqual(set.excluded[1]?.ids, [12237]); // cholesterol 645 mg/dL
  assert.deepEqual(set.excluded[2]?.ids, [12453]); // 78 lb at 70 in
  // BMI from pounds and inches: the first WCGS man, 150 lb at 73 in.
  assert.equal(set.ids[0], 2001);
  assert.ok(Math.abs((set.x[0]?.[3] as number) - (703 * 150) / 73 ** 2) < 1e-12);
});

test('REPRODUCIBILITY: retraining from the Debian package gives the committed weights.json byte for byte', async () => {
  const committedText = await readFile(WEIGHTS_PATH, 'utf8');
  const committed = JSON.parse(committedText) as ChdRiskWeights;
  const trained = trainChdRisk(await wcgs());
  const { crossCheck, ...withoutCrossCheck } = committed;
  assert.deepStrictEqual(trained, withoutCrossCheck);
  assert.equal(await renderWeights({ ...trained, crossCheck }), committedText);
  // The committed claims hold for the committed numbers.
  assert.ok(
    crossCheck !== undefined && crossCheck.maxRelativeDifference <= 1e-6,
    'R cross-check recorded and passed',
  );
  assert.equal(trained.sigmoid.trainingScoresInside, 1);
  const [a, b] = trained.sigmoid.interval;
  for (let t = a; t <= b; t += (b - a) / 1000) {
    assert.ok(
      Math.abs(evaluatePolynomial(trained.sigmoid.coefficients, t) - sigmoid(t)) <=
        trained.sigmoid.maxAbsError,
    );
  }
  assert.ok(
    trained.discrimination.crossValidated.meanAuc > 0.7 &&
      trained.discrimination.crossValidated.meanAuc < 0.76,
  );
});
