/**
 * `npm run train`: trains `chd-risk` on WCGS (fetched from Debian's r-cran-epitools) and writes
 * src/models/chd-risk/weights.json. Deterministic: a rerun on the same package writes the same
 * bytes, and test/models/training.test.ts checks that the committed file is such a rerun.
 *
 * `--cross-check` also fits the same model with R's glm() on the same rows (R loads the .rda
 * itself and derives the features in its own code), installs R from Debian if it is missing, and
 * records the largest relative difference of the coefficients in weights.json; it fails above 1e-6.
 * Without it, a cross-check already in the file is kept only if the coefficients are unchanged.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import {
  type ChdRiskWeights,
  type CrossCheck,
  loadWcgs,
  renderWeights,
  round,
  trainChdRisk,
  WEIGHTS_PATH,
} from '../src/models/training/chd-risk.ts';
import { fetchDebianFile } from '../src/models/training/fetch-debian.ts';

const run = promisify(execFile);
const TOLERANCE = 1e-6;

const { values: args } = parseArgs({
  options: {
    'cross-check': { type: 'boolean', default: false },
    out: { type: 'string', default: WEIGHTS_PATH },
  },
});

const data = await loadWcgs();
const weights = trainChdRisk(data);
const previous = await readPrevious(args.out);

if (args['cross-check']) {
  const check = await crossCheckWithR(weights);
  if (!(check.maxRelativeDifference <= TOLERANCE)) {
    console.error(
      `cross-check FAILED: max relative difference ${check.maxRelativeDifference} > ${TOLERANCE}`,
    );
    process.exit(1);
  }
  weights.crossCheck = check;
} else if (previous?.crossCheck !== undefined) {
  const same =
    previous.intercept === weights.intercept &&
    previous.training.rows === weights.training.rows &&
    previous.coefficients.length === weights.coefficients.length &&
    previous.coefficients.every((c, i) => c === weights.coefficients[i]);
  if (same) weights.crossCheck = previous.crossCheck;
  else console.error('coefficients changed: the recorded cross-check is dropped; rerun with --cross-check');
}

await mkdir(dirname(args.out), { recursive: true });
await writeFile(args.out, await renderWeights(weights));

const w = weights;
const cv = w.discrimination.crossValidated;
console.log(`chd-risk trained on ${w.training.rows} rows (${w.training.events} events) of WCGS`);
console.log(
  `  from ${w.provenance.debianPackage} ${w.provenance.debianVersion}, sha256 ${w.provenance.sha256}`,
);
console.log(`  intercept ${w.intercept}`);
w.features.forEach((f, i) => {
  console.log(`  ${f.name.padEnd(12)} ${String(w.coefficients[i]).padEnd(20)} per ${f.unit}`);
});
console.log(`  apparent AUC ${w.discrimination.apparentAuc}`);
console.log(
  `  ${cv.folds}-fold CV AUC ${cv.meanAuc} ± ${cv.sdAuc} (pooled ${cv.pooledAuc}, seed ${cv.seed})`,
);
const cal = w.calibration;
console.log(
  `  calibration (out-of-fold): intercept ${cal.intercept}, slope ${cal.slope}, ` +
    `Hosmer–Lemeshow ${cal.hosmerLemeshow.statistic} (p ${cal.hosmerLemeshow.pValue})`,
);
const s = w.sigmoid;
console.log(
  `  sigmoid ≈ degree-${s.degree} polynomial [${s.coefficients.join(', ')}] on [${s.interval.join(', ')}]: ` +
    `max error ${s.maxAbsError}, ${(s.trainingScoresInside * 100).toFixed(2)}% of training scores inside`,
);
if (w.crossCheck) {
  console.log(
    `  cross-check ${w.crossCheck.tool} ${w.crossCheck.version}: max rel. diff ${w.crossCheck.maxRelativeDifference}`,
  );
}
console.log(`wrote ${args.out}`);

async function readPrevious(path: string): Promise<ChdRiskWeights | undefined> {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(await readFile(path, 'utf8')) as ChdRiskWeights;
  } catch {
    return undefined;
  }
}

/** Fits the same model in R and compares. R derives the features itself from the .rda. */
async function crossCheckWithR(trained: ChdRiskWeights): Promise<CrossCheck> {
  await ensureR();
  const { file } = await fetchDebianFile({
    pkg: trained.provenance.debianPackage,
    path: trained.provenance.file,
  });
  // Only the accepted ranges come from our side (they are the exclusion rule, not a computation).
  const keep = trained.features
    .map((f) => `d$${f.name} >= ${f.acceptedRange[0]} & d$${f.name} <= ${f.acceptedRange[1]}`)
    .join(' &\n  ');
  const formula = `chd69 ~ ${trained.features.map((f) => f.name).join(' + ')}`;
  const program = `
env <- new.env()
load(commandArgs(trailingOnly = TRUE)[1], envir = env)
w <- env$${trained.provenance.object}
d <- data.frame(
  sbp = w$sbp0, dbp = w$dbp0, age = w$age0,
  bmi = 703 * w$weight0 / w$height0^2,
  cholesterol = w$chol0, smoker = as.integer(w$ncigs0 > 0),
  chd69 = w$chd69)
d <- d[complete.cases(d), ]
d <- d[
  ${keep}, ]
fit <- glm(${formula}, family = binomial, data = d,
           control = glm.control(epsilon = 1e-14, maxit = 100))
stopifnot(fit$converged)
se <- sqrt(diag(vcov(fit)))
cat("version", paste(R.version$major, R.version$minor, sep = "."), "\\n")
cat("rows", nrow(d), "\\n")
cat("events", sum(d$chd69), "\\n")
for (n in names(coef(fit))) cat("coef", n, sprintf("%.17g", coef(fit)[[n]]), sprintf("%.17g", se[[n]]), "\\n")
`;
  const dir = await mkdtemp(join(tmpdir(), 'pmhe-chd-'));
  try {
    const script = join(dir, 'glm.R');
    await writeFile(script, program);
    const { stdout } = await run('Rscript', ['--vanilla', script, file], { encoding: 'utf8' });
    const lines = stdout.split('\n').map((l) => l.trim().split(/\s+/));
    const field = (key: string) => lines.find((l) => l[0] === key)?.[1];
    const coef = new Map(
      lines.filter((l) => l[0] === 'coef').map((l) => [l[1], [Number(l[2]), Number(l[3])]]),
    );
    const rows = Number(field('rows'));
    const events = Number(field('events'));
    if (rows !== trained.training.rows || events !== trained.training.events) {
      throw new Error(
        `R selected ${rows} rows / ${events} events, we ${trained.training.rows} / ${trained.training.events}`,
      );
    }
    const names = ['(Intercept)', ...trained.features.map((f) => f.name)];
    const ours = [trained.intercept, ...trained.coefficients];
    const oursSe = [trained.standardErrors.intercept, ...trained.standardErrors.coefficients];
    let maxRelativeDifference = 0;
    let maxRelativeDifferenceStandardErrors = 0;
    names.forEach((name, i) => {
      const theirs = coef.get(name);
      if (theirs === undefined) throw new Error(`R output has no coefficient ${name}:\n${stdout}`);
      const [b, se] = theirs as [number, number];
      maxRelativeDifference = Math.max(
        maxRelativeDifference,
        Math.abs((ours[i] as number) - b) / Math.abs(b),
      );
      maxRelativeDifferenceStandardErrors = Math.max(
        maxRelativeDifferenceStandardErrors,
        Math.abs((oursSe[i] as number) - se) / Math.abs(se),
      );
    });
    return {
      tool: 'R glm(family = binomial)',
      version: field('version') ?? 'unknown',
      rows,
      events,
      maxRelativeDifference: round(maxRelativeDifference),
      maxRelativeDifferenceStandardErrors: round(maxRelativeDifferenceStandardErrors),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function ensureR(): Promise<void> {
  try {
    await run('Rscript', ['--version']);
    return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (process.getuid?.() !== 0) {
    throw new Error(
      'Rscript is missing; install it with: apt-get install -y --no-install-recommends r-base-core',
    );
  }
  console.error('Rscript is missing: installing r-base-core from Debian…');
  await run('apt-get', ['install', '-y', '--no-install-recommends', 'r-base-core'], {
    maxBuffer: 64 << 20,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}
