/**
 * `blood-pressure`: ambulatory blood pressure over a week of readings, computed encrypted over
 * a batch: mean systolic and diastolic pressure by day, night and 24 h, their second moments
 * (for standard deviations), and on the client the standard deviations and the nocturnal dip.
 * Diagnosis by the ACC/AHA 2017 ambulatory thresholds and categories, with dipping status.
 *
 * Why these choices: squares of raw pressures (up to 90,000) overflow the integer room of the
 * cheapest preset, so the client sends scaled deviations ((v − c)/10)² instead; a week of
 * readings every 15 minutes fills 672 slots, which brings the upload under 400 bytes a reading.
 * Windows are fixed clock times (O'Brien et al. 2013: day 09:00–21:00, night 01:00–06:00); the
 * batch starts at local midnight, so slot i is minute 15·i of the week.
 */

import { ambulatoryDiagnosis, dipPercent, dippingStatus } from '../blood-pressure.ts';
import { exactValue, mergeDiagnoses } from '../diagnosis.ts';
import type { Model, ModelOutput, WindowMask } from '../model.ts';

const INTERVAL = 15;
const minuteOfDay = (i: number) => (i * INTERVAL) % (24 * 60);
const WINDOWS: Record<string, WindowMask> = {
  day: (i) => minuteOfDay(i) >= 9 * 60 && minuteOfDay(i) < 21 * 60,
  night: (i) => minuteOfDay(i) >= 60 && minuteOfDay(i) < 6 * 60,
  all: () => true,
};
const CENTER = { z: 120, y: 80 } as const;
const BP_CRITERIA =
  "ACC/AHA 2017 ambulatory thresholds (day 130/80, night 110/65, 24 h 125/75); dipping per O'Brien et al. 2013";
const SPREAD = 10;

const moments = (window: string): ModelOutput[] => [
  {
    name: `${window}Sbp`,
    unit: 'mmHg',
    criteria: BP_CRITERIA,
    description: `mean systolic pressure (${window})`,
    range: [0, 300],
    expr: { op: 'windowMean', element: 'z', window },
  },
  {
    name: `${window}Dbp`,
    unit: 'mmHg',
    criteria: BP_CRITERIA,
    description: `mean diastolic pressure (${window})`,
    range: [0, 200],
    expr: { op: 'windowMean', element: 'y', window },
  },
  {
    name: `${window}Sbp2`,
    unit: '(mmHg/10)²',
    criteria: BP_CRITERIA,
    description: `mean of ((SBP − 120)/10)² (${window})`,
    range: [0, 400],
    expr: { op: 'windowMean', element: 'zDev2', window },
  },
  {
    name: `${window}Dbp2`,
    unit: '(mmHg/10)²',
    criteria: BP_CRITERIA,
    description: `mean of ((DBP − 80)/10)² (${window})`,
    range: [0, 400],
    expr: { op: 'windowMean', element: 'yDev2', window },
  },
];

/** SD from E[v] and E[((v − c)/s)²]: var = s²·E[dev²] − (E[v] − c)². */
const sd = (mean: number, dev2: number, center: number) =>
  Math.sqrt(Math.max(0, SPREAD ** 2 * dev2 - (mean - center) ** 2));

export const bloodPressure: Model = {
  id: 'blood-pressure',
  version: 1,
  name: 'Ambulatory blood pressure',
  description: 'day, night and 24-hour mean and SD of systolic and diastolic pressure, and the nocturnal dip',
  layouts: { batch: 'secure-4096' },
  vitals: ['y', 'z'],
  profile: [],
  elements: [
    { name: 'z', fn: 'vital', of: 'z' },
    { name: 'y', fn: 'vital', of: 'y' },
    { name: 'zDev2', fn: 'deviation', of: 'z', center: CENTER.z, spread: SPREAD, k: 2 },
    { name: 'yDev2', fn: 'deviation', of: 'y', center: CENTER.y, spread: SPREAD, k: 2 },
  ],
  batch: { readings: 7 * 24 * (60 / INTERVAL), intervalMinutes: INTERVAL },
  windows: WINDOWS,
  outputs: ['day', 'night', 'all'].flatMap(moments),
  finish: (q) => {
    const out: Record<string, number> = {};
    for (const w of ['day', 'night', 'all']) {
      const sbp = exactValue(q[`${w}Sbp`] as number);
      const dbp = exactValue(q[`${w}Dbp`] as number);
      out[`${w}Sbp`] = sbp;
      out[`${w}Dbp`] = dbp;
      out[`${w}SbpSd`] = sd(sbp, q[`${w}Sbp2`] as number, CENTER.z);
      out[`${w}DbpSd`] = sd(dbp, q[`${w}Dbp2`] as number, CENTER.y);
    }
    out.dipPercent = dipPercent(out.daySbp as number, out.nightSbp as number);
    return out;
  },
  diagnose: (v, errors) => {
    // Each criterion gets the bound of the values it reads (the squared deviations are not among them).
    const bound = (...names: string[]) =>
      Math.max(...names.map((n) => errors[n] ?? Number.NEGATIVE_INFINITY));
    return mergeDiagnoses('blood-pressure', [
      ambulatoryDiagnosis(
        {
          day: { sbp: v.daySbp as number, dbp: v.dayDbp as number },
          night: { sbp: v.nightSbp as number, dbp: v.nightDbp as number },
          day24: { sbp: v.allSbp as number, dbp: v.allDbp as number },
        },
        bound('daySbp', 'dayDbp', 'nightSbp', 'nightDbp', 'allSbp', 'allDbp'),
      ),
      dippingStatus(v.daySbp as number, v.nightSbp as number, bound('daySbp', 'nightSbp')),
    ]);
  },
};
