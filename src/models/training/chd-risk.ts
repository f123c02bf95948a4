/**
 * Training of `chd-risk`: logistic regression for coronary heart disease on the Western
 * Collaborative Group Study, from the data set's Debian package to the committed weights.json.
 * Shared by `scripts/train-chd.ts` (which writes the file) and the reproducibility test (which
 * retrains and compares), so the two cannot drift apart. Every number that is committed is
 * rounded to 12 significant digits before anything downstream uses it, and the interval, AUC and
 * polynomial error are computed from the rounded values: what is committed is what was checked.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { PROFILE_FIELDS } from '../../protocol/meta-functions.ts';
import { VITALS } from '../../protocol/vitals.ts';
import { fetchDebianFile } from './fetch-debian.ts';
import {
  auc,
  type CalibrationGroup,
  calibration,
  crossValidate,
  fitLogistic,
  linearScore,
} from './logistic.ts';
import { asDataFrame, type RDataFrame, readRDataFile } from './rdata.ts';
import { fitSigmoidPolynomial, scoreInterval, sigmoidPolynomialError } from './sigmoid-poly.ts';

export const WCGS_SOURCE = {
  pkg: 'r-cran-epitools',
  path: 'usr/lib/R/site-library/epitools/data/wcgs.rda',
  object: 'wcgs',
} as const;

/** The committed artefact, relative to the repository root. */
export const WEIGHTS_PATH = fileURLToPath(new URL('../chd-risk/weights.json', import.meta.url));

export const CV_SEED = 2021;
export const CV_FOLDS = 10;
/** The sigmoid interval is the training scores' range widened to multiples of this. */
export const INTERVAL_STEP = 0.25;
export const SIGMOID_DEGREE = 3;

/** Where the client takes a feature from: a wearable vital or a profile field. */
export type FeatureSource = { vital: 'y' | 'z' } | { profile: keyof typeof PROFILE_FIELDS };

interface FeatureDefinition {
  name: string;
  description: string;
  unit: string;
  source: FeatureSource;
  /** How the value is derived from WCGS columns (for the model card). */
  derivation: string;
  value(row: (column: string) => number | null): number | null;
}

// Order matters: it is the order of `coefficients` in weights.json. Wearable vitals first.
const FEATURES: readonly FeatureDefinition[] = [
  {
    name: 'sbp',
    description: 'systolic blood pressure',
    unit: 'mmHg',
    source: { vital: 'z' },
    derivation: 'sbp0',
    value: (c) => c('sbp0'),
  },
  {
    name: 'dbp',
    description: 'diastolic blood pressure',
    unit: 'mmHg',
    source: { vital: 'y' },
    derivation: 'dbp0',
    value: (c) => c('dbp0'),
  },
  {
    name: 'age',
    description: 'age',
    unit: 'years',
    source: { profile: 'age' },
    derivation: 'age0',
    value: (c) => c('age0'),
  },
  {
    name: 'bmi',
    description: 'body-mass index',
    unit: 'kg/m²',
    source: { profile: 'bmi' },
    derivation: '703 · weight0 [lb] / height0 [in]²',
    value: (c) => {
      const lb = c('weight0');
      const inches = c('height0');
      return lb === null || inches === null ? null : (703 * lb) / inches ** 2;
    },
  },
  {
    name: 'cholesterol',
    description: 'total serum cholesterol',
    unit: 'mg/dL',
    source: { profile: 'cholesterol' },
    derivation: 'chol0',
    value: (c) => c('chol0'),
  },
  {
    name: 'smoker',
    description: 'current smoker',
    unit: '0 or 1',
    source: { profile: 'smoker' },
    derivation: 'ncigs0 > 0 (cigarettes per day)',
    value: (c) => {
      const n = c('ncigs0');
      return n === null ? null : n > 0 ? 1 : 0;
    },
  },
];

/** The accepted input range the protocol enforces for a feature (client-side, before encryption). */
export function acceptedRange(source: FeatureSource): [number, number] {
  const spec = 'vital' in source ? VITALS[source.vital] : PROFILE_FIELDS[source.profile];
  return [spec.min, spec.max];
}

export interface WcgsData {
  frame: RDataFrame;
  pkg: string;
  version: string;
  /** The path inside the package. */
  path: string;
  sha256: string;
}

export async function loadWcgs(cacheDir?: string): Promise<WcgsData> {
  const fetched = await fetchDebianFile({ pkg: WCGS_SOURCE.pkg, path: WCGS_SOURCE.path, cacheDir });
  const sha256 = createHash('sha256')
    .update(await readFile(fetched.file))
    .digest('hex');
  const object = (await readRDataFile(fetched.file)).get(WCGS_SOURCE.object);
  if (object === undefined) throw new Error(`${fetched.file} has no object "${WCGS_SOURCE.object}"`);
  return {
    frame: asDataFrame(object, WCGS_SOURCE.object),
    pkg: fetched.pkg,
    version: fetched.version,
    path: WCGS_SOURCE.path,
    sha256,
  };
}

export interface ChdDataset {
  featureNames: string[];
  x: number[][];
  y: number[];
  /** WCGS `id` of each kept row. */
  ids: number[];
  sourceRows: number;
  excluded: { reason: string; rows: number; ids: number[] }[];
}

/**
 * Rows with a missing feature are dropped, and so are rows with a feature outside the range the
 * protocol accepts from a user: the deployed model can never be applied to such values, and in
 * WCGS they are one recording error (78 lb at 70 in, BMI 11.2) and one extreme cholesterol
 * (645 mg/dL) that Vittinghoff et al. also set aside as an outlier.
 */
export function chdDataset(frame: RDataFrame): ChdDataset {
  const numeric = (name: string): (number | null)[] => {
    const column = frame.columns.get(name);
    if (column === undefined) throw new Error(`WCGS has no column "${name}" (has ${frame.names.join(', ')})`);
    if (column.type !== 'integer' && column.type !== 'double') {
      throw new Error(`WCGS column "${name}" is ${column.type}, expected numbers`);
    }
    return column.values;
  };
  const cache = new Map<string, (number | null)[]>();
  const columnOf = (name: string) => {
    let values = cache.get(name);
    if (values === undefined) {
      values = numeric(name);
      cache.set(name, values);
    }
    return values;
  };
  const ids = columnOf('id');
  const outcome = columnOf('chd69');
  const out: ChdDataset = {
    featureNames: FEATURES.map((f) => f.name),
    x: [],
    y: [],
    ids: [],
    sourceRows: frame.rowCount,
    excluded: [],
  };
  const exclude = (reason: string, id: number) => {
    let entry = out.excluded.find((e) => e.reason === reason);
    if (entry === undefined) {
      entry = { reason, rows: 0, ids: [] };
      out.excluded.push(entry);
    }
    entry.rows++;
    entry.ids.push(id);
  };
  for (let i = 0; i < frame.rowCount; i++) {
    const cell = (name: string) => columnOf(name)[i] ?? null;
    const id = ids[i] ?? Number.NaN;
    const y = outcome[i];
    if (y !== 0 && y !== 1) {
      exclude('chd69 missing or not 0/1', id);
      continue;
    }
    const row: number[] = [];
    let reason: string | undefined;
    for (const f of FEATURES) {
      const v = f.value(cell);
      const [lo, hi] = acceptedRange(f.source);
      if (v === null) reason ??= `${f.name} missing (${f.derivation})`;
      else if (!(v >= lo && v <= hi))
        reason ??= `${f.name} outside the accepted range [${lo}, ${hi}] ${f.unit}`;
      row.push(v ?? Number.NaN);
    }
    if (reason !== undefined) {
      exclude(reason, id);
      continue;
    }
    out.x.push(row);
    out.y.push(y);
    out.ids.push(id);
  }
  return out;
}

/** 12 significant digits: far below any statistical uncertainty, and stable across platforms. */
export function round(v: number): number {
  return Number.isInteger(v) ? v : Number(v.toPrecision(12));
}

/** For published bounds: 12 significant digits, never below `v`. */
export function roundUp(v: number): number {
  const r = round(v);
  if (r >= v) return r;
  const unit = 10 ** (Math.floor(Math.log10(Math.abs(v))) - 11);
  return round(r + unit);
}

export interface ChdRiskWeights {
  model: 'chd-risk';
  description: string;
  outcome: { name: string; description: string };
  features: {
    name: string;
    description: string;
    unit: string;
    source: FeatureSource;
    derivation: string;
    acceptedRange: [number, number];
    trainingRange: [number, number];
  }[];
  intercept: number;
  /** Raw units, in the order of `features`. */
  coefficients: number[];
  standardErrors: { intercept: number; coefficients: number[] };
  training: {
    method: string;
    sourceRows: number;
    rows: number;
    events: number;
    excluded: { reason: string; rows: number; ids: number[] }[];
    iterations: number;
    deviance: number;
  };
  discrimination: {
    apparentAuc: number;
    crossValidated: {
      folds: number;
      seed: number;
      stratified: true;
      meanAuc: number;
      sdAuc: number;
      pooledAuc: number;
      foldAuc: number[];
    };
  };
  calibration: {
    method: string;
    deciles: CalibrationGroup[];
    hosmerLemeshow: { statistic: number; df: number; pValue: number };
    intercept: number;
    slope: number;
    apparentHosmerLemeshow: { statistic: number; df: number; pValue: number };
  };
  sigmoid: {
    method: string;
    degree: number;
    /** Ascending powers of the linear score t. */
    coefficients: number[];
    interval: [number, number];
    maxAbsError: number;
    maxAbsErrorOnGrid: number;
    gridPoints: number;
    /** Multiplicative levels: the linear score, then the polynomial (⌈log2(degree + 1)⌉). */
    levels: { linear: number; polynomial: number; total: number };
    trainingScoreRange: [number, number];
    trainingScoresInside: number;
    outOfFoldScoresInside: number;
  };
  provenance: {
    dataset: string;
    debianPackage: string;
    debianVersion: string;
    file: string;
    object: string;
    sha256: string;
    script: string;
  };
  crossCheck?: CrossCheck;
}

export interface CrossCheck {
  tool: string;
  version: string;
  rows: number;
  events: number;
  maxRelativeDifference: number;
  maxRelativeDifferenceStandardErrors: number;
}

const deepRound = <T>(value: T): T =>
  JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' ? round(v) : v))) as T;

/** Fits, evaluates and packages the model. Deterministic: same data, same object. */
export function trainChdRisk(data: WcgsData): ChdRiskWeights {
  const set = chdDataset(data.frame);
  const { x, y } = set;
  const fit = fitLogistic(x, y, { standardErrors: true });
  const intercept = round(fit.intercept);
  const coefficients = fit.coefficients.map(round);
  const committed = { intercept, coefficients };
  const scores = x.map((row) => linearScore(committed, row));

  const cv = crossValidate(x, y, { folds: CV_FOLDS, seed: CV_SEED });
  const outOfFold = calibration(cv.outOfFoldScores, y);
  const apparent = calibration(scores, y);

  const { interval, covered, range } = scoreInterval(scores, { step: INTERVAL_STEP });
  const poly = fitSigmoidPolynomial(interval, { degree: SIGMOID_DEGREE });
  const polyCoefficients = poly.coefficients.map(round);
  const error = sigmoidPolynomialError(polyCoefficients, interval, poly.gridPoints);
  const [a, b] = interval;
  const polynomialLevels = Math.ceil(Math.log2(SIGMOID_DEGREE + 1));

  return deepRound<ChdRiskWeights>({
    model: 'chd-risk',
    description:
      'Logistic regression for a coronary heart disease event within about 8.5 years, from blood pressure and a ' +
      'once-entered profile; risk = σ(intercept + Σ coefficient·feature), evaluated encrypted as a polynomial of the score.',
    outcome: {
      name: 'chd69',
      description:
        'coronary heart disease event (myocardial infarction, coronary death or angina) during WCGS follow-up',
    },
    features: FEATURES.map((f, j) => {
      const column = x.map((row) => row[j] as number);
      return {
        name: f.name,
        description: f.description,
        unit: f.unit,
        source: f.source,
        derivation: f.derivation,
        acceptedRange: acceptedRange(f.source),
        trainingRange: [Math.min(...column), Math.max(...column)],
      };
    }),
    intercept,
    coefficients,
    standardErrors: {
      intercept: fit.standardErrors?.[0] as number,
      coefficients: fit.standardErrors?.slice(1) ?? [],
    },
    training: {
      method:
        'maximum likelihood by IRLS (Newton) on centred and scaled features, coefficients mapped back to raw units',
      sourceRows: set.sourceRows,
      rows: x.length,
      events: y.reduce((s, v) => s + v, 0),
      excluded: set.excluded,
      iterations: fit.iterations,
      deviance: fit.deviance,
    },
    discrimination: {
      apparentAuc: auc(scores, y),
      crossValidated: {
        folds: cv.folds,
        seed: cv.seed,
        stratified: true,
        meanAuc: cv.meanAuc,
        sdAuc: cv.sdAuc,
        pooledAuc: cv.pooledAuc,
        foldAuc: cv.foldAuc,
      },
    },
    calibration: {
      method:
        'out-of-fold predictions of the 10-fold cross-validation, rows sorted by predicted risk into 10 groups of equal size; ' +
        'Hosmer–Lemeshow χ² with 8 degrees of freedom; intercept: a in logit P = a + score; slope: b in logit P = a + b·score',
      deciles: outOfFold.groups,
      hosmerLemeshow: outOfFold.hosmerLemeshow,
      intercept: outOfFold.intercept,
      slope: outOfFold.slope,
      apparentHosmerLemeshow: apparent.hosmerLemeshow,
    },
    sigmoid: {
      method: `least squares on ${poly.nodes} Chebyshev nodes of [a, b]; interval: training scores' range widened to multiples of ${INTERVAL_STEP}`,
      degree: SIGMOID_DEGREE,
      coefficients: polyCoefficients,
      interval,
      maxAbsError: roundUp(error.maxError),
      maxAbsErrorOnGrid: error.maxErrorOnGrid,
      gridPoints: error.gridPoints,
      levels: { linear: 1, polynomial: polynomialLevels, total: 1 + polynomialLevels },
      trainingScoreRange: range,
      trainingScoresInside: covered,
      outOfFoldScoresInside: cv.outOfFoldScores.filter((s) => s >= a && s <= b).length / y.length,
    },
    provenance: {
      dataset:
        'Western Collaborative Group Study (Rosenman et al., JAMA 1975;233:872–877), 3154 employed men aged 39–59, ' +
        'as distributed in the epitools R package',
      debianPackage: data.pkg,
      debianVersion: data.version,
      file: data.path,
      object: WCGS_SOURCE.object,
      sha256: data.sha256,
      script: 'scripts/train-chd.ts',
    },
  });
}

const BIOME = fileURLToPath(new URL('../../../node_modules/@biomejs/biome/bin/biome', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * The committed text: JSON formatted by the repository's own formatter, so `npm run lint` accepts
 * the file as written and a retrain can be compared byte for byte.
 */
export async function renderWeights(weights: ChdRiskWeights): Promise<string> {
  const child = execFile(process.execPath, [BIOME, 'format', '--stdin-file-path=weights.json'], {
    cwd: REPO_ROOT,
    maxBuffer: 16 << 20,
    encoding: 'utf8',
  });
  const done = new Promise<string>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: string) => {
      stdout += d;
    });
    child.stderr?.on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(stdout) : reject(new Error(`biome format exited with ${code}: ${stderr.trim()}`)),
    );
  });
  child.stdin?.end(`${JSON.stringify(weights, null, 2)}\n`);
  return done;
}
