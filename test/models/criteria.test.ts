/**
 * Reference criteria pinned to the published tables. The expected values are written here
 * from the publications, in their own integer form ("9–11", "≥140", ">180"), independently of
 * the band data in src/, and every band edge is checked just below and at the edge.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ABPM_CORRESPONDING_VALUES,
  AMBULATORY_THRESHOLDS,
  ambulatoryDiagnosis,
  DIPPING_TABLE,
  dipPercent,
  dippingStatus,
  HYPERTENSIVE_CRISIS_TABLE,
  OFFICE_BP_TABLE,
  officeCategory,
} from '../../src/models/blood-pressure.ts';
import { earlyWarningDiagnosis } from '../../src/models/catalogue/early-warning.ts';
import { type Band, classify, type Diagnosis, mergeDiagnoses } from '../../src/models/diagnosis.ts';
import {
  NEWS2_AGGREGATE,
  NEWS2_AIR_OR_OXYGEN,
  NEWS2_CLINICAL_RESPONSE,
  NEWS2_CONSCIOUSNESS,
  NEWS2_SPO2_SCALE_1,
  NEWS2_SPO2_SCALE_2_AIR,
  NEWS2_SPO2_SCALE_2_OXYGEN,
  NEWS2_TABLE,
  NEWS2_TEMPERATURE,
  type News2ClearInputs,
  type News2Parameter,
  news2ClearScores,
  news2Diagnosis,
  news2FullScore,
  news2Response,
  news2Score,
} from '../../src/models/news2.ts';
import {
  alteredMentationOf,
  QSOFA_RESPIRATORY_RATE,
  QSOFA_SYSTOLIC,
  qsofa,
  qsofaDiagnosis,
} from '../../src/models/qsofa.ts';

// ---------------------------------------------------------------------------------------------
// The published tables, as printed (integer ranges; null = open end)

type Row = readonly [low: number | null, high: number | null, score: number];

/** RCP NEWS2 (2017) Chart 1. */
const NEWS2_CHART: Record<News2Parameter, readonly Row[]> = {
  respiratoryRate: [
    [null, 8, 3],
    [9, 11, 1],
    [12, 20, 0],
    [21, 24, 2],
    [25, null, 3],
  ],
  systolic: [
    [null, 90, 3],
    [91, 100, 2],
    [101, 110, 1],
    [111, 219, 0],
    [220, null, 3],
  ],
  heartRate: [
    [null, 40, 3],
    [41, 50, 1],
    [51, 90, 0],
    [91, 110, 1],
    [111, 130, 2],
    [131, null, 3],
  ],
};

const chartScore = (p: News2Parameter, v: number): number => {
  const row = NEWS2_CHART[p].find(([lo, hi]) => (lo === null || v >= lo) && (hi === null || v <= hi));
  assert.ok(row, `${p} ${v} has a row`);
  return row[2];
};

/** RCP NEWS2 Chart 2, partial: 0–4 low, a 3 in any parameter low–medium, 5–6 medium, ≥7 high. */
const chartRisk = (rr: number, sbp: number, hr: number): string => {
  const total = rr + sbp + hr;
  if (total >= 7) return 'high';
  if (total >= 5) return 'medium';
  return [rr, sbp, hr].includes(3) ? 'low-medium' : 'low';
};

/** ACC/AHA 2017 office categories for integer mmHg, as printed; higher category wins. */
const accAhaCategory = (sbp: number, dbp: number): string => {
  if (sbp > 180 || dbp > 120) return 'hypertensive crisis';
  if (sbp >= 140 || dbp >= 90) return 'stage 2 hypertension';
  if ((sbp >= 130 && sbp <= 139) || (dbp >= 80 && dbp <= 89)) return 'stage 1 hypertension';
  if (sbp >= 120 && sbp <= 129 && dbp < 80) return 'elevated';
  assert.ok(sbp < 120 && dbp < 80);
  return 'normal';
};

const PARAMS: readonly News2Parameter[] = ['respiratoryRate', 'systolic', 'heartRate'];
const scoreOf = (p: News2Parameter, v: number) => {
  const args: [number, number, number] = [16, 130, 70];
  args[PARAMS.indexOf(p)] = v;
  return news2Score(...args)[p];
};

/** The finite edges of a band table. */
const edges = (bands: readonly Band[]) => bands.slice(1).map((b) => b.from);

const mentionsAll = (d: Diagnosis, labels: readonly string[]) => {
  assert.equal(d.borderline, true);
  assert.match(d.label, /^borderline: /);
  assert.deepEqual([...(d.candidates ?? [])].sort(), [...labels].sort());
  for (const l of labels) assert.ok(d.label.includes(l), `"${d.label}" names "${l}"`);
};

// ---------------------------------------------------------------------------------------------
// classify

test('classify: half-open bands, the edge belongs to the upper band', () => {
  const bands = [
    { from: -Infinity, to: 10, name: 'a' },
    { from: 10, to: 20, name: 'b' },
    { from: 20, to: Infinity, name: 'c' },
  ];
  assert.equal(classify(9.999, bands, 0).band.name, 'a');
  assert.equal(classify(10, bands, 0).band.name, 'b');
  assert.equal(classify(19.999, bands, 0).band.name, 'b');
  assert.equal(classify(20, bands, 0).band.name, 'c');
  assert.equal(classify(-1e9, bands, 0).band.name, 'a');
  assert.equal(classify(1e9, bands, 0).band.name, 'c');
});

test('classify: borderline exactly when the true value could cross an edge', () => {
  const bands = [
    { from: -Infinity, to: 10, name: 'a' },
    { from: 10, to: 20, name: 'b' },
    { from: 20, to: Infinity, name: 'c' },
  ];
  const names = (v: number, e: number) => classify(v, bands, e).candidates.map((b) => b.name);
  // Upper edge: reachable when to − v ≤ e (the true value may equal the edge).
  assert.deepEqual(names(9.5, 0.5), ['a', 'b']);
  assert.deepEqual(names(9.4, 0.5), ['a']);
  // Lower edge: reachable when v − from < e (an edge value itself stays in the band).
  assert.deepEqual(names(10.5, 0.5), ['b']);
  assert.deepEqual(names(10.4, 0.5), ['a', 'b']);
  assert.deepEqual(names(10, 0.001), ['a', 'b']);
  assert.deepEqual(names(10, 0), ['b']);
  // A wide error reaches every band it covers.
  assert.deepEqual(names(15, 6), ['a', 'b', 'c']);
  assert.equal(classify(9.5, bands, 0.5).borderline, true);
  assert.equal(classify(9.4, bands, 0.5).borderline, false);
  // Math.max() over no error bounds is −∞: exact.
  assert.deepEqual(names(9.999, -Infinity), ['a']);
});

test('classify refuses what it cannot classify', () => {
  const bands = [
    { from: 0, to: 10 },
    { from: 10, to: 20 },
  ];
  assert.throws(() => classify(Number.NaN, bands, 0), RangeError);
  assert.throws(() => classify(20, bands, 0), RangeError);
  assert.throws(() => classify(-1, bands, 0), RangeError);
  assert.throws(() => classify(5, bands, Number.NaN), RangeError);
  assert.throws(
    () =>
      classify(
        5,
        [
          { from: 0, to: 10 },
          { from: 11, to: 20 },
        ],
        0,
      ),
    RangeError,
  );
  assert.throws(() => classify(5, [{ from: 10, to: 0 }], 0), RangeError);
  assert.throws(() => classify(5, [], 0), RangeError);
});

// ---------------------------------------------------------------------------------------------
// NEWS2

test('NEWS2 table: each published range [a, b] is the half-open band [a, b + 1)', () => {
  for (const p of PARAMS) {
    const want = NEWS2_CHART[p].map(([lo, hi, score]) => ({
      from: lo ?? -Infinity,
      to: hi === null ? Infinity : hi + 1,
      score,
    }));
    assert.deepEqual(
      NEWS2_TABLE[p].map(({ from, to, score }) => ({ from, to, score })),
      want,
      p,
    );
  }
  assert.equal(Object.isFrozen(NEWS2_TABLE.systolic), true);
  assert.equal(Object.isFrozen(NEWS2_TABLE.systolic[0]), true);
});

test('NEWS2: every integer reading gets the chart score', () => {
  for (const p of PARAMS) {
    for (let v = 0; v <= 300; v++) assert.equal(scoreOf(p, v), chartScore(p, v), `${p} ${v}`);
  }
});

test('NEWS2: at every edge, every integer around it, and reals just below it, score as published', () => {
  const published = {
    respiratoryRate: [9, 12, 21, 25],
    systolic: [91, 101, 111, 220],
    heartRate: [41, 51, 91, 111, 131],
  } as const;
  for (const p of PARAMS) {
    assert.deepEqual(edges(NEWS2_TABLE[p]), published[p], p);
    for (const edge of published[p]) {
      for (let v = edge - 3; v <= edge + 3; v++) assert.equal(scoreOf(p, v), chartScore(p, v), `${p} ${v}`);
      // A real reading scores as its integer part: just below the edge is still the lower range.
      assert.equal(scoreOf(p, edge - 0.001), chartScore(p, edge - 1), `${p} ${edge - 0.001}`);
      assert.equal(scoreOf(p, edge - 0.5), chartScore(p, edge - 1), `${p} ${edge - 0.5}`);
      assert.equal(scoreOf(p, edge), chartScore(p, edge), `${p} ${edge}`);
    }
  }
  // The examples of the chart itself.
  assert.deepEqual(news2Score(8, 90, 40), { respiratoryRate: 3, systolic: 3, heartRate: 3, total: 9 });
  assert.deepEqual(news2Score(12, 111, 51), { respiratoryRate: 0, systolic: 0, heartRate: 0, total: 0 });
  assert.deepEqual(news2Score(20, 219, 90), { respiratoryRate: 0, systolic: 0, heartRate: 0, total: 0 });
  assert.deepEqual(news2Score(24, 100, 130), { respiratoryRate: 2, systolic: 2, heartRate: 2, total: 6 });
  assert.deepEqual(news2Score(11, 110, 110), { respiratoryRate: 1, systolic: 1, heartRate: 1, total: 3 });
  assert.deepEqual(news2Score(25, 220, 131), { respiratoryRate: 3, systolic: 3, heartRate: 3, total: 9 });
});

test('NEWS2 aggregate bands: 0–4 low, 5–6 medium, 7 or more high', () => {
  assert.deepEqual(
    NEWS2_AGGREGATE.map(({ from, to, level }) => ({ from, to, level })),
    [
      { from: 0, to: 5, level: 'low' },
      { from: 5, to: 7, level: 'medium' },
      { from: 7, to: Infinity, level: 'high' },
    ],
  );
});

const diagnose = (rr: number, sbp: number, hr: number, errorBound = 0) =>
  news2Diagnosis({ respiratoryRate: rr, systolic: sbp, heartRate: hr, total: rr + sbp + hr }, errorBound);

test('NEWS2 diagnosis: thresholds at 4/5 and 6/7, and the red-score rule', () => {
  assert.equal(diagnose(2, 2, 0).level, 'low'); // 4
  assert.equal(diagnose(2, 2, 1).level, 'medium'); // 5
  assert.equal(diagnose(2, 2, 2).level, 'medium'); // 6
  assert.equal(diagnose(3, 2, 2).level, 'high'); // 7
  assert.equal(diagnose(0, 0, 0).level, 'low');
  // A 3 in any single parameter with an aggregate of 0–4 → low–medium.
  assert.equal(diagnose(3, 0, 0).level, 'low-medium');
  assert.equal(diagnose(0, 3, 0).level, 'low-medium');
  assert.equal(diagnose(0, 0, 3).level, 'low-medium');
  assert.equal(diagnose(3, 1, 0).level, 'low-medium'); // 4
  // The aggregate still decides above 4.
  assert.equal(diagnose(3, 2, 0).level, 'medium'); // 5
  assert.equal(diagnose(3, 3, 0).level, 'medium'); // 6
  assert.equal(diagnose(3, 3, 3).level, 'high'); // 9
  assert.equal(diagnose(2, 2, 0).label, 'partial NEWS2 (3 of 7 parameters): low clinical risk');
  assert.equal(diagnose(3, 0, 0).label, 'partial NEWS2 (3 of 7 parameters): low-medium clinical risk');
  assert.match(
    diagnose(3, 0, 0).findings.join('\n'),
    /respiration rate scored 3.*urgent ward-based response/,
  );
  // Every combination of parameter scores against Chart 2.
  for (const rr of [0, 1, 2, 3])
    for (const sbp of [0, 1, 2, 3])
      for (const hr of [0, 1, 2, 3]) {
        const d = diagnose(rr, sbp, hr);
        assert.equal(d.level, chartRisk(rr, sbp, hr), `${rr}+${sbp}+${hr}`);
        assert.equal(d.borderline, false);
      }
});

test('NEWS2 diagnosis from raw vitals, end to end', () => {
  const d = news2Diagnosis(news2Score(8, 120, 70), 0);
  assert.equal(d.level, 'low-medium');
  assert.equal(news2Diagnosis(news2Score(22, 105, 95), 0).level, 'low'); // 2 + 1 + 1
  assert.equal(news2Diagnosis(news2Score(26, 95, 115), 0).level, 'high'); // 3 + 2 + 2
});

test('NEWS2 diagnosis rounds decrypted scores within the error bound', () => {
  const d = news2Diagnosis(
    { respiratoryRate: 2.9999997, systolic: 1e-7, heartRate: 1.0000004, total: 4.0000002 },
    1e-6,
  );
  assert.equal(d.borderline, false);
  assert.equal(d.level, 'low-medium');
  assert.match(
    d.findings.join('\n'),
    /scores: respiration rate 3, systolic blood pressure 0, pulse 1; total 4/,
  );
  // Math.max() over no error bounds (−∞): exact values only.
  assert.equal(
    news2Diagnosis({ respiratoryRate: 2, systolic: 2, heartRate: 1, total: 5 }, -Infinity).level,
    'medium',
  );
});

const PARTIAL = 'partial NEWS2 (3 of 7 parameters): ';
/** A borderline partial NEWS2: the scope, then "borderline: A or B", each candidate scoped. */
const mentionsAllScoped = (d: Diagnosis, labels: readonly string[]) => {
  assert.equal(d.borderline, true);
  assert.ok(d.label.startsWith(`${PARTIAL}borderline: `), d.label);
  mentionsAll(
    {
      ...d,
      label: d.label.slice(PARTIAL.length),
      candidates: d.candidates?.map((c) => c.slice(PARTIAL.length)),
    },
    labels,
  );
  for (const c of d.candidates ?? []) assert.ok(c.startsWith(PARTIAL), c);
};

test('NEWS2 diagnosis is borderline when a score is not within the error bound of an integer', () => {
  // Total between 4 and 5: low or medium, named both.
  const d = news2Diagnosis({ respiratoryRate: 2, systolic: 2, heartRate: 0, total: 4.5 }, 0.1);
  mentionsAllScoped(d, ['low clinical risk', 'medium clinical risk']);
  assert.equal(d.level, 'medium');
  // Total between 6 and 7.
  mentionsAllScoped(news2Diagnosis({ respiratoryRate: 2, systolic: 2, heartRate: 2, total: 6.4 }, 0.1), [
    'medium clinical risk',
    'high clinical risk',
  ]);
  // A parameter between 2 and 3: the red-score rule may or may not apply.
  mentionsAllScoped(news2Diagnosis({ respiratoryRate: 2.5, systolic: 0, heartRate: 0, total: 2.5 }, 0.1), [
    'low clinical risk',
    'low-medium clinical risk',
  ]);
  // Off-integer even though every candidate agrees: still flagged (the bound did not hold).
  const same = news2Diagnosis({ respiratoryRate: 0.5, systolic: 0, heartRate: 0, total: 0.5 }, 0.1);
  assert.equal(same.borderline, true);
  assert.deepEqual(same.candidates, [`${PARTIAL}low clinical risk`]);
  // Within the bound of an integer: not borderline.
  assert.equal(
    news2Diagnosis({ respiratoryRate: 2, systolic: 2, heartRate: 0, total: 4.05 }, 0.1).borderline,
    false,
  );
  assert.equal(
    news2Diagnosis({ respiratoryRate: 2, systolic: 2, heartRate: 0, total: 4.05 }, 0.1).level,
    'low',
  );
});

test('NEWS2 diagnosis refuses inconsistent or impossible scores', () => {
  assert.throws(
    () => news2Diagnosis({ respiratoryRate: 1, systolic: 1, heartRate: 1, total: 4 }, 0),
    RangeError,
  );
  assert.throws(
    () => news2Diagnosis({ respiratoryRate: 4, systolic: 0, heartRate: 0, total: 4 }, 0),
    RangeError,
  );
  assert.throws(
    () => news2Diagnosis({ respiratoryRate: -1, systolic: 0, heartRate: 0, total: -1 }, 0),
    RangeError,
  );
  assert.throws(
    () => news2Diagnosis({ respiratoryRate: Number.NaN, systolic: 0, heartRate: 0, total: 0 }, 0),
    RangeError,
  );
  assert.throws(
    () => news2Diagnosis({ respiratoryRate: 0, systolic: 0, heartRate: 0, total: 0 }, Number.NaN),
    RangeError,
  );
});

test('NEWS2 findings say the score is partial', () => {
  const text = diagnose(0, 0, 0).findings.join('\n');
  assert.match(text, /partial NEWS2/);
  for (const missing of ['SpO2', 'oxygen', 'temperature', 'consciousness'])
    assert.ok(text.includes(missing), missing);
});

// ---------------------------------------------------------------------------------------------
// The full NEWS2: the four parameters scored on the client (RCP 2017 Chart 1), written here as
// printed, independently of the band data in src/.

/** RCP NEWS2 (2017) Chart 1, "SpO2 Scale 1 (%)". */
const SPO2_SCALE_1_CHART: readonly Row[] = [
  [null, 91, 3],
  [92, 93, 2],
  [94, 95, 1],
  [96, null, 0],
];
/** Chart 1, "SpO2 Scale 2 (%)", the cells that apply on air ("88–92" and "≥93 on air" both 0). */
const SPO2_SCALE_2_AIR_CHART: readonly Row[] = [
  [null, 83, 3],
  [84, 85, 2],
  [86, 87, 1],
  [88, 92, 0],
  [93, null, 0],
];
/** Chart 1, "SpO2 Scale 2 (%)", the cells that apply on oxygen. */
const SPO2_SCALE_2_OXYGEN_CHART: readonly Row[] = [
  [null, 83, 3],
  [84, 85, 2],
  [86, 87, 1],
  [88, 92, 0],
  [93, 94, 1],
  [95, 96, 2],
  [97, null, 3],
];
/** Chart 1, "Temperature (°C)", in tenths of a degree as printed (≤35.0, 35.1–36.0, …). */
const TEMPERATURE_CHART_TENTHS: readonly Row[] = [
  [null, 350, 3],
  [351, 360, 1],
  [361, 380, 0],
  [381, 390, 1],
  [391, null, 2],
];
const rowScore = (rows: readonly Row[], v: number): number => {
  const row = rows.find(([lo, hi]) => (lo === null || v >= lo) && (hi === null || v <= hi));
  assert.ok(row, `${v} has a row`);
  return row[2];
};
const clearScore = (inputs: News2ClearInputs, parameter: string) =>
  news2ClearScores(inputs).scored.find((c) => c.parameter === parameter)?.score;
const bandsOf = (bands: readonly { from: number; to: number; score: number }[]) =>
  bands.map(({ from, to, score }) => ({ from, to, score }));
const halfOpen = (rows: readonly Row[], step = 1) =>
  rows.map(([lo, hi, score]) => ({
    from: lo === null ? -Infinity : lo,
    to: hi === null ? Infinity : hi + step,
    score,
  }));

test('NEWS2 SpO2, temperature, air/oxygen and consciousness tables are Chart 1 as half-open bands', () => {
  assert.deepEqual(bandsOf(NEWS2_SPO2_SCALE_1), halfOpen(SPO2_SCALE_1_CHART));
  // On air, scale 2's "88–92" and "≥93 on air" cells are one band scoring 0.
  assert.deepEqual(bandsOf(NEWS2_SPO2_SCALE_2_AIR), [
    ...halfOpen(SPO2_SCALE_2_AIR_CHART.slice(0, 3)),
    { from: 88, to: Infinity, score: 0 },
  ]);
  assert.deepEqual(bandsOf(NEWS2_SPO2_SCALE_2_OXYGEN), halfOpen(SPO2_SCALE_2_OXYGEN_CHART));
  assert.deepEqual(
    bandsOf(NEWS2_TEMPERATURE),
    halfOpen(TEMPERATURE_CHART_TENTHS, 1).map(({ from, to, score }) => ({
      from: from / 10,
      to: to / 10,
      score,
    })),
  );
  assert.deepEqual(Object.fromEntries(Object.entries(NEWS2_AIR_OR_OXYGEN).map(([k, v]) => [k, v.score])), {
    air: 0,
    oxygen: 2,
  });
  assert.deepEqual(Object.fromEntries(Object.entries(NEWS2_CONSCIOUSNESS).map(([k, v]) => [k, v.score])), {
    alert: 0,
    confusion: 3,
    voice: 3,
    pain: 3,
    unresponsive: 3,
  });
  assert.equal(Object.isFrozen(NEWS2_TEMPERATURE[0]), true);
});

test('NEWS2 SpO2 scale 1: every integer 50–100 and every edge (and just below it) as published', () => {
  for (let v = 50; v <= 100; v++)
    assert.equal(clearScore({ spo2: v }, 'spo2'), rowScore(SPO2_SCALE_1_CHART, v), `${v}`);
  for (const edge of [92, 94, 96]) {
    assert.equal(clearScore({ spo2: edge }, 'spo2'), rowScore(SPO2_SCALE_1_CHART, edge), `${edge}`);
    assert.equal(
      clearScore({ spo2: edge - 1e-9 }, 'spo2'),
      rowScore(SPO2_SCALE_1_CHART, edge - 1),
      `${edge}−`,
    );
  }
  // Scale 1 is the default and ignores air or oxygen for the SpO2 row.
  assert.equal(clearScore({ spo2: 97, oxygen: true, spo2Scale: 1 }, 'spo2'), 0);
  assert.equal(clearScore({ spo2: 91.9 }, 'spo2'), 3); // a real reading scores as its integer part
});

test('NEWS2 SpO2 scale 2: on air and on oxygen, every integer and edge as published', () => {
  for (let v = 50; v <= 100; v++) {
    assert.equal(
      clearScore({ spo2: v, oxygen: false, spo2Scale: 2 }, 'spo2'),
      rowScore(SPO2_SCALE_2_AIR_CHART, v),
      `air ${v}`,
    );
    assert.equal(
      clearScore({ spo2: v, oxygen: true, spo2Scale: 2 }, 'spo2'),
      rowScore(SPO2_SCALE_2_OXYGEN_CHART, v),
      `O2 ${v}`,
    );
  }
  for (const edge of [84, 86, 88, 93, 95, 97]) {
    for (const oxygen of [false, true]) {
      const chart = oxygen ? SPO2_SCALE_2_OXYGEN_CHART : SPO2_SCALE_2_AIR_CHART;
      assert.equal(clearScore({ spo2: edge, oxygen, spo2Scale: 2 }, 'spo2'), rowScore(chart, edge));
      assert.equal(
        clearScore({ spo2: edge - 1e-9, oxygen, spo2Scale: 2 }, 'spo2'),
        rowScore(chart, edge - 1),
      );
    }
  }
  // Below 93 air or oxygen does not change the SpO2 score: scored even when not entered…
  for (let v = 80; v <= 92; v++)
    assert.equal(clearScore({ spo2: v, spo2Scale: 2 }, 'spo2'), rowScore(SPO2_SCALE_2_AIR_CHART, v));
  // …from 93 it does: not scored, and the reason is given.
  const c = news2ClearScores({ spo2: 95, spo2Scale: 2 });
  assert.equal(c.scored.length, 0);
  assert.match(
    c.missing.find((m) => m.parameter === 'spo2')?.why ?? '',
    /scale 2 an SpO2 of 93% or more scores by air or oxygen/,
  );
  assert.throws(() => news2ClearScores({ spo2: 95, spo2Scale: 3 as 2 }), /SpO2 scale 3/);
});

test('NEWS2 temperature: every tenth 30.0–42.0 °C and every edge as published', () => {
  for (let t = 300; t <= 420; t++) {
    assert.equal(
      clearScore({ temperature: t / 10 }, 'temperature'),
      rowScore(TEMPERATURE_CHART_TENTHS, t),
      `${t / 10}`,
    );
  }
  for (const edge of [351, 361, 381, 391]) {
    assert.equal(
      clearScore({ temperature: edge / 10 }, 'temperature'),
      rowScore(TEMPERATURE_CHART_TENTHS, edge),
    );
    assert.equal(
      clearScore({ temperature: edge / 10 - 1e-9 }, 'temperature'),
      rowScore(TEMPERATURE_CHART_TENTHS, edge - 1),
    );
  }
  assert.equal(clearScore({ temperature: 36.05 }, 'temperature'), 1); // truncated to 36.0
});

test('NEWS2 full score: seven parameters, the published maximum of 20', () => {
  const worst = news2FullScore(
    { respiratoryRate: 30, systolic: 80, heartRate: 140 },
    { spo2: 85, oxygen: true, consciousness: 'unresponsive', temperature: 34 },
  );
  assert.equal(worst.parameters, 7);
  assert.equal(worst.total, 20);
  const healthy = news2FullScore(
    { respiratoryRate: 16, systolic: 125, heartRate: 70 },
    { spo2: 98, oxygen: false, consciousness: 'alert', temperature: 36.8 },
  );
  assert.deepEqual(healthy, {
    scores: {
      respiratoryRate: 0,
      systolic: 0,
      heartRate: 0,
      spo2: 0,
      airOrOxygen: 0,
      consciousness: 0,
      temperature: 0,
    },
    total: 0,
    parameters: 7,
  });
  // A worked example: RR 22 (2), SpO2 95 on scale 1 (1), oxygen (2), SBP 105 (1), pulse 95 (1),
  // alert (0), 38.4 °C (1): 8.
  const ex = news2FullScore(
    { respiratoryRate: 22, systolic: 105, heartRate: 95 },
    { spo2: 95, oxygen: true, consciousness: 'alert', temperature: 38.4 },
  );
  assert.equal(ex.total, 8);
  assert.equal(
    news2FullScore({ respiratoryRate: 22, systolic: 105, heartRate: 95 }, { temperature: 38.4 }).parameters,
    4,
  );
});

test('NEWS2 Chart 4 response: 0, 1–4, a 3 in one parameter, 5 or more, 7 or more', () => {
  assert.equal(news2Response(0, [0, 0, 0]), NEWS2_CLINICAL_RESPONSE.zero);
  assert.equal(news2Response(1, [1, 0, 0]), NEWS2_CLINICAL_RESPONSE.low);
  assert.equal(news2Response(4, [2, 2, 0]), NEWS2_CLINICAL_RESPONSE.low);
  assert.equal(news2Response(3, [3, 0, 0]), NEWS2_CLINICAL_RESPONSE.red);
  assert.equal(news2Response(4, [3, 1, 0]), NEWS2_CLINICAL_RESPONSE.red);
  assert.equal(news2Response(5, [3, 2, 0]), NEWS2_CLINICAL_RESPONSE.urgent);
  assert.equal(news2Response(6, [2, 2, 2]), NEWS2_CLINICAL_RESPONSE.urgent);
  assert.equal(news2Response(7, [3, 2, 2]), NEWS2_CLINICAL_RESPONSE.emergency);
  assert.equal(news2Response(20, [3, 3, 2, 3, 3, 3, 3]), NEWS2_CLINICAL_RESPONSE.emergency);
  assert.equal(NEWS2_CLINICAL_RESPONSE.zero.monitoring, 'minimum 12-hourly');
  assert.equal(NEWS2_CLINICAL_RESPONSE.low.monitoring, 'minimum 4–6-hourly');
  assert.equal(NEWS2_CLINICAL_RESPONSE.emergency.monitoring, 'continuous monitoring of vital signs');
  assert.match(diagnose(0, 0, 0).findings.join('\n'), /Chart 4, NEWS 0\): monitoring minimum 12-hourly/);
  assert.match(
    diagnose(2, 2, 2).findings.join('\n'),
    /Chart 4, total 5 or more: urgent response threshold\)/,
  );
});

/** Decrypted scores of three vitals, as the early-warning model returns them. */
const decrypted = (rr: number, sbp: number, hr: number) => {
  const s = news2Score(rr, sbp, hr);
  return { respiratoryRate: s.respiratoryRate, systolic: s.systolic, heartRate: s.heartRate, total: s.total };
};

test('NEWS2 diagnosis with the clear parameters: partial labels count them, all seven say NEWS2', () => {
  const v = decrypted(16, 125, 70); // 0 + 0 + 0
  assert.equal(news2Diagnosis(v, 0).label, 'partial NEWS2 (3 of 7 parameters): low clinical risk');
  assert.equal(
    news2Diagnosis(v, 0, { temperature: 36.8 }).label,
    'partial NEWS2 (4 of 7 parameters): low clinical risk',
  );
  assert.equal(
    news2Diagnosis(v, 0, { temperature: 36.8, spo2: 97, consciousness: 'alert' }).label,
    'partial NEWS2 (6 of 7 parameters): low clinical risk',
  );
  const full = news2Diagnosis(v, 0, { temperature: 36.8, spo2: 97, oxygen: false, consciousness: 'alert' });
  assert.equal(full.label, 'NEWS2: low clinical risk');
  assert.match(full.findings[0] ?? '', /NEWS2 on all 7 parameters/);
  assert.match(full.findings.join('\n'), /total 0 \(decrypted 0 \+ 0\)/);
  // Oxygen alone (2) and new confusion (a 3): the clear parameters raise the decrypted total.
  const raised = news2Diagnosis(decrypted(22, 105, 95), 0, { oxygen: true, consciousness: 'confusion' }); // 4 + 2 + 3
  assert.equal(raised.label, 'partial NEWS2 (5 of 7 parameters): high clinical risk');
  assert.match(raised.findings.join('\n'), /total 9 \(decrypted 4 \+ 5\)/);
  assert.match(raised.findings.join('\n'), /consciousness scored 3 \(NEWS2 chart: CVPU\)/);
  // A red score from a clear parameter alone: low–medium.
  assert.equal(news2Diagnosis(v, 0, { temperature: 35 }).level, 'low-medium');
  assert.equal(news2Diagnosis(v, 0, { spo2: 91 }).level, 'low-medium');
  // 5 and 7 reached only with the clear ones.
  assert.equal(news2Diagnosis(decrypted(22, 125, 70), 0, { spo2: 95, temperature: 39.0 }).level, 'low'); // 2+1+1
  assert.equal(news2Diagnosis(decrypted(22, 125, 70), 0, { spo2: 94, temperature: 39.1 }).level, 'medium'); // 2+1+2
  assert.equal(news2Diagnosis(decrypted(22, 105, 70), 0, { spo2: 93, temperature: 39.1 }).level, 'high'); // 2+1+2+2
});

test('NEWS2 diagnosis with clear parameters: every combination against Chart 2', () => {
  const options: News2ClearInputs[] = [
    {},
    { spo2: 97 },
    { spo2: 95, oxygen: false },
    { spo2: 93, oxygen: true, consciousness: 'alert' },
    { spo2: 90, consciousness: 'voice', temperature: 38.5 },
    { oxygen: true, temperature: 39.5 },
    { spo2: 97, oxygen: true, consciousness: 'alert', temperature: 37 },
    { spo2: 86, oxygen: true, spo2Scale: 2, consciousness: 'alert', temperature: 36.5 },
    { spo2: 98, oxygen: true, spo2Scale: 2, consciousness: 'alert', temperature: 36.5 },
  ];
  for (const clear of options)
    for (const [rr, sbp, hr] of [
      [16, 125, 70],
      [10, 125, 70],
      [8, 125, 70],
      [22, 105, 95],
      [26, 95, 115],
    ] as const) {
      const full = news2FullScore({ respiratoryRate: rr, systolic: sbp, heartRate: hr }, clear);
      const parts = Object.values(full.scores);
      const want =
        full.total >= 7 ? 'high' : full.total >= 5 ? 'medium' : parts.includes(3) ? 'low-medium' : 'low';
      const d = news2Diagnosis(decrypted(rr, sbp, hr), 0, clear);
      assert.equal(d.level, want, `${rr}/${sbp}/${hr} ${JSON.stringify(clear)}`);
      assert.ok(
        d.label.startsWith(
          full.parameters === 7 ? 'NEWS2: ' : `partial NEWS2 (${full.parameters} of 7 parameters): `,
        ),
      );
    }
});

test('NEWS2 diagnosis with clear parameters stays borderline where the decrypted total is', () => {
  const d = news2Diagnosis({ respiratoryRate: 2, systolic: 2, heartRate: 0, total: 2.5 }, 0.1, {
    oxygen: true,
  });
  assert.equal(d.borderline, true);
  assert.equal(
    d.label,
    'partial NEWS2 (4 of 7 parameters): borderline: low clinical risk or medium clinical risk',
  );
  assert.deepEqual(d.candidates, [
    'partial NEWS2 (4 of 7 parameters): low clinical risk',
    'partial NEWS2 (4 of 7 parameters): medium clinical risk',
  ]);
});

// ---------------------------------------------------------------------------------------------
// qSOFA (Seymour et al. 2016; Singer et al. 2016, Box 4): RR ≥22/min, altered mentation, SBP ≤100 mm Hg.

test('qSOFA criteria at each edge: RR 21/22, SBP 100/101, mentation by ACVPU', () => {
  assert.deepEqual(bandsOf(QSOFA_RESPIRATORY_RATE.map((b) => ({ ...b, score: Number(b.met) }))), [
    { from: -Infinity, to: 22, score: 0 },
    { from: 22, to: Infinity, score: 1 },
  ]);
  assert.deepEqual(bandsOf(QSOFA_SYSTOLIC.map((b) => ({ ...b, score: Number(b.met) }))), [
    { from: -Infinity, to: 101, score: 1 },
    { from: 101, to: Infinity, score: 0 },
  ]);
  const met = (rr: number, sbp: number, altered: boolean) =>
    qsofa({ respiratoryRate: rr, systolic: sbp, alteredMentation: altered });
  // Each criterion alone, at and beside its edge (as printed: ≥22, ≤100).
  assert.deepEqual(met(21, 120, false).met, []);
  assert.deepEqual(met(22, 120, false).met, ['respiratoryRate']);
  assert.deepEqual(met(21.9, 120, false).met, []);
  assert.deepEqual(met(16, 101, false).met, []);
  assert.deepEqual(met(16, 100, false).met, ['systolic']);
  assert.deepEqual(met(16, 100.9, false).met, ['systolic']); // a real reading counts as its integer part
  assert.deepEqual(met(16, 120, true).met, ['mentation']);
  // Two or more: positive.
  for (let rr = 18; rr <= 26; rr++)
    for (let sbp = 96; sbp <= 104; sbp++)
      for (const altered of [false, true]) {
        const n = Number(rr >= 22) + Number(sbp <= 100) + Number(altered);
        const r = met(rr, sbp, altered);
        assert.equal(r.met.length, n, `${rr}/${sbp}/${altered}`);
        assert.equal(r.positive, n >= 2, `${rr}/${sbp}/${altered}`);
      }
  assert.equal(alteredMentationOf('alert'), false);
  for (const c of ['confusion', 'voice', 'pain', 'unresponsive'] as const)
    assert.equal(alteredMentationOf(c), true);
  assert.equal(alteredMentationOf(undefined), undefined);
  assert.throws(() => alteredMentationOf('asleep' as 'alert'), /not an ACVPU level/);
  assert.throws(() => qsofa({ respiratoryRate: Number.NaN }), /not a finite number/);
});

test('qSOFA with mentation not entered: decided when it cannot matter, else undetermined', () => {
  assert.equal(qsofa({ respiratoryRate: 22, systolic: 100 }).positive, true);
  assert.equal(qsofa({ respiratoryRate: 21, systolic: 101 }).positive, false);
  assert.equal(qsofa({ respiratoryRate: 22, systolic: 101 }).positive, undefined);
  assert.equal(qsofa({ respiratoryRate: 21, systolic: 100 }).positive, undefined);
  assert.deepEqual(qsofa({}).score, { min: 0, max: 3 });
  assert.equal(
    qsofaDiagnosis({ respiratoryRate: 22, systolic: 100, alteredMentation: false }).label,
    'qSOFA positive (2 of 3 criteria)',
  );
  assert.equal(
    qsofaDiagnosis({ respiratoryRate: 22, systolic: 120, alteredMentation: false }).label,
    'qSOFA negative (1 of 3 criteria)',
  );
  assert.equal(
    qsofaDiagnosis({ respiratoryRate: 22, systolic: 120 }).label,
    'qSOFA undetermined (1 of 2 known criteria met; altered mentation not entered)',
  );
  assert.equal(
    qsofaDiagnosis({ respiratoryRate: 22, systolic: 100 }).label,
    'qSOFA positive (2 of 2 known criteria met)',
  );
  const d = qsofaDiagnosis({ respiratoryRate: 25, systolic: 90, alteredMentation: true });
  assert.equal(d.label, 'qSOFA positive (3 of 3 criteria)');
  assert.equal(d.level, 'normal'); // never raises the severity on its own
  assert.match(d.findings.join('\n'), /Singer et al\., Sepsis-3, JAMA 2016, Box 4.*does not diagnose sepsis/);
});

test('early-warning diagnosis: the full NEWS2 from the clear reading, qSOFA beside it', () => {
  const values = (rr: number, sbp: number, hr: number) => {
    const s = news2Score(rr, sbp, hr);
    return { rrScore: s.respiratoryRate, sbpScore: s.systolic, hrScore: s.heartRate, total: s.total };
  };
  const bounds = { rrScore: 2e-4, sbpScore: 2e-4, hrScore: 2e-4, total: 5e-4 };
  // Without clear inputs (the models report, the validation): partial, no qSOFA.
  const bare = earlyWarningDiagnosis(values(16, 125, 70), bounds);
  assert.equal(bare.label, 'partial NEWS2 (3 of 7 parameters): low clinical risk');
  assert.equal(bare.model, 'early-warning');
  assert.ok(!bare.findings.join('\n').includes('qSOFA'));
  // A deteriorating person with everything entered: NEWS2 on all seven, qSOFA positive in the label.
  const reading = {
    time: 0,
    x: 118,
    y: 60,
    z: 96,
    w: 26,
    spo2: 93,
    oxygen: false,
    consciousness: 'confusion' as const,
    temperature: 39.3,
  };
  const d = earlyWarningDiagnosis(values(26, 96, 118), bounds, { reading, profile: {} });
  // 3 + 2 + 2 (encrypted) + SpO2 93 scale 1 (2) + air (0) + confusion (3) + 39.3 °C (2) = 14.
  assert.equal(d.label, 'NEWS2: high clinical risk; qSOFA positive (3 of 3 criteria)');
  assert.equal(d.level, 'high');
  assert.match(d.findings.join('\n'), /total 14 \(decrypted 7 \+ 7\)/);
  // Scale 2 from the profile: SpO2 93 on air scores 0 there.
  const scale2 = earlyWarningDiagnosis(values(26, 96, 118), bounds, { reading, profile: { spo2Scale: 2 } });
  assert.match(scale2.findings.join('\n'), /SpO2 \(scale 2\) 93 %: 88–92, ≥93 on air → 0/);
  assert.match(scale2.findings.join('\n'), /total 12 \(decrypted 7 \+ 5\)/);
  // qSOFA negative or undetermined: in the findings only.
  const calm = earlyWarningDiagnosis(values(16, 125, 70), bounds, {
    reading: { time: 0, x: 70, y: 80, z: 125, w: 16 },
  });
  assert.equal(calm.label, 'partial NEWS2 (3 of 7 parameters): low clinical risk');
  assert.match(
    calm.findings.join('\n'),
    /qSOFA negative \(0 of 2 known criteria met\): criteria met: none; not known: altered mentation \(Seymour/,
  );
});

// ---------------------------------------------------------------------------------------------
// ACC/AHA 2017 office categories

test('office table: published ranges as half-open bands', () => {
  assert.deepEqual(
    OFFICE_BP_TABLE.systolic.map(({ from, to, category }) => [from, to, category]),
    [
      [-Infinity, 120, 'normal'],
      [120, 130, 'elevated'],
      [130, 140, 'stage 1 hypertension'],
      [140, Infinity, 'stage 2 hypertension'],
    ],
  );
  assert.deepEqual(
    OFFICE_BP_TABLE.diastolic.map(({ from, to, category }) => [from, to, category]),
    [
      [-Infinity, 80, 'normal'],
      [80, 90, 'stage 1 hypertension'],
      [90, Infinity, 'stage 2 hypertension'],
    ],
  );
  // ">180" and ">120" on integers are ≥181 and ≥121.
  assert.deepEqual(edges(HYPERTENSIVE_CRISIS_TABLE.systolic), [181]);
  assert.deepEqual(edges(HYPERTENSIVE_CRISIS_TABLE.diastolic), [121]);
});

const office = (sbp: number, dbp: number, e = 0) => officeCategory(sbp, dbp, e).label;

test('office categories at SBP 119/120, 129/130, 139/140 and crisis 180/181', () => {
  assert.equal(office(119, 70), 'normal');
  assert.equal(office(119.99, 70), 'normal');
  assert.equal(office(120, 70), 'elevated');
  assert.equal(office(129, 70), 'elevated');
  assert.equal(office(129.99, 70), 'elevated');
  assert.equal(office(130, 70), 'stage 1 hypertension');
  assert.equal(office(139, 70), 'stage 1 hypertension');
  assert.equal(office(139.99, 70), 'stage 1 hypertension');
  assert.equal(office(140, 70), 'stage 2 hypertension');
  assert.equal(office(180, 70), 'stage 2 hypertension');
  assert.equal(office(180.99, 70), 'stage 2 hypertension');
  assert.equal(office(181, 70), 'hypertensive crisis');
  assert.equal(officeCategory(181, 70, 0).level, 'critical');
  assert.equal(officeCategory(140, 70, 0).level, 'high');
  assert.equal(officeCategory(130, 70, 0).level, 'medium');
  assert.equal(officeCategory(120, 70, 0).level, 'low');
  assert.equal(officeCategory(119, 70, 0).level, 'normal');
});

test('office categories at DBP 79/80, 89/90 and crisis 120/121', () => {
  assert.equal(office(110, 79), 'normal');
  assert.equal(office(110, 79.99), 'normal');
  assert.equal(office(110, 80), 'stage 1 hypertension');
  assert.equal(office(110, 89), 'stage 1 hypertension');
  assert.equal(office(110, 89.99), 'stage 1 hypertension');
  assert.equal(office(110, 90), 'stage 2 hypertension');
  assert.equal(office(110, 120), 'stage 2 hypertension');
  assert.equal(office(110, 120.99), 'stage 2 hypertension');
  assert.equal(office(110, 121), 'hypertensive crisis');
  // Elevated needs DBP < 80: SBP 125 with DBP 80 is stage 1.
  assert.equal(office(125, 79), 'elevated');
  assert.equal(office(125, 80), 'stage 1 hypertension');
});

test('office categories: the higher of SBP and DBP wins; every integer reading 70–230/40–140', () => {
  assert.equal(office(145, 70), 'stage 2 hypertension');
  assert.equal(office(110, 95), 'stage 2 hypertension');
  assert.equal(office(135, 95), 'stage 2 hypertension');
  assert.equal(office(125, 85), 'stage 1 hypertension');
  assert.match(officeCategory(125, 85, 0).findings.join('\n'), /higher applies/);
  for (let sbp = 70; sbp <= 230; sbp++)
    for (let dbp = 40; dbp <= 140; dbp++)
      assert.equal(office(sbp, dbp), accAhaCategory(sbp, dbp), `${sbp}/${dbp}`);
});

test('office borderline: within the error bound of an edge names both categories', () => {
  mentionsAll(officeCategory(119.8, 70, 0.5), ['normal', 'elevated']);
  mentionsAll(officeCategory(130.3, 70, 0.5), ['elevated', 'stage 1 hypertension']);
  mentionsAll(officeCategory(139.6, 70, 0.5), ['stage 1 hypertension', 'stage 2 hypertension']);
  mentionsAll(officeCategory(110, 79.7, 0.5), ['normal', 'stage 1 hypertension']);
  mentionsAll(officeCategory(110, 89.5, 0.5), ['stage 1 hypertension', 'stage 2 hypertension']);
  mentionsAll(officeCategory(180.6, 70, 0.5), ['stage 2 hypertension', 'hypertensive crisis']);
  mentionsAll(officeCategory(150, 120.6, 0.5), ['stage 2 hypertension', 'hypertensive crisis']);
  // The more severe candidate sets the level.
  assert.equal(officeCategory(180.6, 70, 0.5).level, 'critical');
  // Outside the bound: not borderline.
  assert.equal(officeCategory(119.4, 70, 0.5).borderline, false);
  assert.equal(officeCategory(120.5, 70, 0.5).borderline, false);
  assert.equal(officeCategory(120.5, 70, 0.5).label, 'elevated');
  assert.equal(officeCategory(119.8, 70, 0.1).borderline, false);
  // An edge that cannot change the category is no reason for doubt: DBP 95 makes it stage 2 anyway.
  assert.equal(officeCategory(119.8, 95, 0.5).borderline, false);
  assert.equal(officeCategory(119.8, 95, 0.5).label, 'stage 2 hypertension');
});

// ---------------------------------------------------------------------------------------------
// ACC/AHA 2017 ambulatory thresholds (Table 11) and dipping (O'Brien et al. 2013)

test('Table 11: corresponding office, home and ambulatory values', () => {
  const rows = ABPM_CORRESPONDING_VALUES.map((r) =>
    [r.office, r.home, r.day, r.night, r.day24].map((p) => `${p.sbp}/${p.dbp}`).join(' '),
  );
  assert.deepEqual(rows, [
    '120/80 120/80 120/80 100/65 115/75',
    '130/80 130/80 130/80 110/65 125/75',
    '140/90 135/85 135/85 120/70 130/80',
    '160/100 145/90 145/90 140/85 145/90',
  ]);
  assert.deepEqual(AMBULATORY_THRESHOLDS, {
    day: { sbp: 130, dbp: 80 },
    night: { sbp: 110, dbp: 65 },
    day24: { sbp: 125, dbp: 75 },
  });
});

const NORMAL_MEANS = {
  day: { sbp: 115, dbp: 70 },
  night: { sbp: 100, dbp: 58 },
  day24: { sbp: 110, dbp: 66 },
};
const ambulatory = (
  window: keyof typeof NORMAL_MEANS,
  measure: 'sbp' | 'dbp',
  value: number,
  errorBound = 0,
): Diagnosis =>
  ambulatoryDiagnosis(
    { ...NORMAL_MEANS, [window]: { ...NORMAL_MEANS[window], [measure]: value } },
    errorBound,
  );

test('ambulatory thresholds: daytime 130/80, nighttime 110/65, 24-hour 125/75', () => {
  assert.equal(ambulatoryDiagnosis(NORMAL_MEANS, 0).label, 'normal ambulatory blood pressure');
  const names = { day: 'daytime', night: 'nighttime', day24: '24-hour' } as const;
  for (const window of ['day', 'night', 'day24'] as const) {
    for (const measure of ['sbp', 'dbp'] as const) {
      const t = AMBULATORY_THRESHOLDS[window][measure];
      for (const below of [t - 1, t - 0.01]) {
        const d = ambulatory(window, measure, below);
        assert.equal(d.label, 'normal ambulatory blood pressure', `${window} ${measure} ${below}`);
        assert.equal(d.level, 'normal');
      }
      for (const at of [t, t + 1]) {
        const d = ambulatory(window, measure, at);
        assert.equal(d.label, `ambulatory hypertension (${names[window]})`, `${window} ${measure} ${at}`);
        assert.equal(d.level, 'medium');
      }
    }
  }
  const all = ambulatoryDiagnosis(
    { day: { sbp: 135, dbp: 85 }, night: { sbp: 120, dbp: 70 }, day24: { sbp: 130, dbp: 80 } },
    0,
  );
  assert.equal(all.label, 'ambulatory hypertension (daytime, nighttime, 24-hour)');
  assert.match(ambulatory('night', 'sbp', 112).findings.join('\n'), /isolated nocturnal hypertension/);
  assert.doesNotMatch(all.findings.join('\n'), /isolated nocturnal/);
});

test('ambulatory borderline: within the error bound of a threshold names both outcomes', () => {
  mentionsAll(ambulatory('day', 'sbp', 129.8, 0.5), [
    'normal ambulatory blood pressure',
    'ambulatory hypertension (daytime)',
  ]);
  mentionsAll(ambulatory('night', 'dbp', 65.3, 0.5), [
    'normal ambulatory blood pressure',
    'ambulatory hypertension (nighttime)',
  ]);
  mentionsAll(ambulatory('day24', 'sbp', 124.5, 0.5), [
    'normal ambulatory blood pressure',
    'ambulatory hypertension (24-hour)',
  ]);
  assert.equal(ambulatory('day', 'sbp', 129.4, 0.5).borderline, false);
  assert.equal(ambulatory('day', 'sbp', 130.5, 0.5).borderline, false);
  assert.equal(ambulatory('day', 'sbp', 130.5, 0.5).label, 'ambulatory hypertension (daytime)');
  // Exact evaluation passes Math.max() of no bounds.
  assert.equal(ambulatory('day', 'sbp', 129.99, -Infinity).borderline, false);
});

test('dipping: published ratio bands as dip % [from, to)', () => {
  assert.deepEqual(
    DIPPING_TABLE.map(({ from, to, pattern }) => [from, to, pattern]),
    [
      [-Infinity, 0, 'reverse dipper'],
      [0, 10, 'non-dipper'],
      [10, 20, 'dipper'],
      [20, Infinity, 'extreme dipper'],
    ],
  );
  assert.equal(dipPercent(100, 90), 10);
  assert.equal(dipPercent(150, 120), 20);
});

test('dipping at 0 %, 10 % and 20 % (night/day ratio 1.0, 0.9, 0.8)', () => {
  const pattern = (day: number, night: number) => dippingStatus(day, night, 0).label;
  assert.equal(pattern(100, 100.1), 'reverse dipper');
  assert.equal(pattern(100, 100), 'non-dipper'); // ratio 1.0
  assert.equal(pattern(100, 90.1), 'non-dipper');
  assert.equal(pattern(100, 90), 'dipper'); // ratio 0.9
  assert.equal(pattern(150, 135), 'dipper');
  assert.equal(pattern(100, 80.1), 'dipper');
  assert.equal(pattern(100, 80), 'extreme dipper'); // ratio 0.8
  assert.equal(pattern(150, 120), 'extreme dipper');
  assert.equal(pattern(140, 100), 'extreme dipper');
  assert.equal(dippingStatus(100, 90, 0).level, 'normal');
  assert.equal(dippingStatus(100, 95, 0).level, 'low');
  assert.equal(dippingStatus(100, 105, 0).level, 'low-medium');
});

test('dipping borderline: the error of both means carried to the dip', () => {
  // Dip 9.8 %; with ±0.5 mmHg on each mean the dip spans about 8.8–10.7 %.
  mentionsAll(dippingStatus(100, 90.2, 0.5), ['non-dipper', 'dipper']);
  mentionsAll(dippingStatus(100, 80.3, 0.5), ['dipper', 'extreme dipper']);
  mentionsAll(dippingStatus(100, 100.2, 0.5), ['reverse dipper', 'non-dipper']);
  // And from just above each edge, down across it.
  mentionsAll(dippingStatus(100, 89.8, 0.5), ['non-dipper', 'dipper']);
  mentionsAll(dippingStatus(100, 79.8, 0.5), ['dipper', 'extreme dipper']);
  mentionsAll(dippingStatus(100, 99.8, 0.5), ['reverse dipper', 'non-dipper']);
  assert.equal(dippingStatus(100, 85, 0.5).borderline, false);
  assert.equal(dippingStatus(100, 85, 0.5).label, 'dipper');
  // Dip 9.6 %: ±0.05 mmHg keeps it within about 9.5–9.7 %, clear of the 10 % edge.
  assert.equal(dippingStatus(100, 90.4, 0.05).borderline, false);
  assert.throws(() => dippingStatus(0.4, 0.2, 0.5), RangeError);
  assert.throws(() => dippingStatus(Number.NaN, 90, 0), RangeError);
});

test('mergeDiagnoses: labels in order, most severe level, candidates combined', () => {
  const amb = ambulatory('day', 'sbp', 129.8, 0.5);
  const dip = dippingStatus(130, 112, 0.5);
  const merged = mergeDiagnoses('blood-pressure', [amb, dip]);
  assert.equal(merged.model, 'blood-pressure');
  assert.equal(merged.label, `${amb.label}; ${dip.label}`);
  assert.equal(merged.borderline, true);
  assert.equal(merged.level, 'medium');
  assert.deepEqual(merged.candidates, [
    'normal ambulatory blood pressure; dipper',
    'ambulatory hypertension (daytime); dipper',
  ]);
  assert.deepEqual(merged.findings, [...amb.findings, ...dip.findings]);
  const clear = mergeDiagnoses('blood-pressure', [
    ambulatoryDiagnosis(NORMAL_MEANS, 0),
    dippingStatus(130, 135, 0),
  ]);
  assert.equal(clear.label, 'normal ambulatory blood pressure; reverse dipper');
  assert.equal(clear.level, 'low-medium');
  assert.equal(clear.borderline, false);
  assert.equal(clear.candidates, undefined);
});

test("what a result means for a record follows the guideline, not only the display level (FHIR's N, A, H, AA)", () => {
  // NEWS2 Chart 4: 0 → routine monitoring; 1–6 and a red score → a response; 7 or more → emergency.
  const meaning = (rr: number, sbp: number, hr: number) =>
    news2Diagnosis(news2Score(rr, sbp, hr), 0).interpretation;
  assert.equal(meaning(16, 120, 70), 'normal'); // 0, Chart 2's "low" band
  assert.equal(news2Diagnosis(news2Score(16, 120, 70), 0).level, 'low');
  assert.equal(meaning(22, 105, 95), 'abnormal'); // 2 + 1 + 1
  assert.equal(meaning(16, 88, 70), 'abnormal'); // a red score alone
  assert.equal(meaning(26, 88, 135), 'critical'); // 3 + 3 + 3
  // ACC/AHA office categories: elevated and both stages are high values; a crisis is critical.
  assert.equal(officeCategory(110, 70, 0).interpretation, 'normal');
  assert.equal(officeCategory(125, 70, 0).interpretation, 'high');
  assert.equal(officeCategory(185, 95, 0).interpretation, 'critical');
  // Borderline: no single meaning.
  assert.equal(officeCategory(119.9, 70, 1).interpretation, undefined);
});
