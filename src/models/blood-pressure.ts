/**
 * Blood-pressure reference criteria:
 * - office categories and hypertensive crisis: Whelton PK, Carey RM, Aronow WS, et al. 2017
 *   ACC/AHA/AAPA/ABC/ACPM/AGS/APhA/ASH/ASPC/NMA/PCNA Guideline for the Prevention, Detection,
 *   Evaluation, and Management of High Blood Pressure in Adults. Hypertension. 2018;71:e13–e115
 *   (Table 6 categories; section 11.2 hypertensive crises; Table 11 ambulatory equivalents);
 * - nocturnal dipping: O'Brien E, Parati G, Stergiou G, et al. European Society of Hypertension
 *   position paper on ambulatory blood pressure monitoring. J Hypertens. 2013;31(9):1731–1768.
 *
 * The guideline prints integer mmHg ranges; our values are real means. One rule maps them: a
 * published integer range a–b becomes the half-open band [a, b + 1), i.e. a real value is judged
 * by its integer part. For "<120", "≥140" and "120–129" this is the literal reading
 * (120 ≤ SBP < 130); it only decides the gaps of ">" thresholds: crisis ">180" becomes
 * [181, ∞), so a mean of 180.6 is stage 2, not crisis (and borderline when the error bound
 * reaches 181).
 */
import {
  type Band,
  classify,
  classifyInterval,
  conclude,
  type Diagnosis,
  everyOutcome,
  exactValue,
  fmt,
  formatBand,
  freezeBands,
  type Level,
  normaliseErrorBound,
  type Outcome,
} from './diagnosis.ts';

export interface Pressure {
  sbp: number;
  dbp: number;
}

// ---------------------------------------------------------------------------------------------
// Office categories (ACC/AHA 2017, Table 6) and hypertensive crisis (section 11.2)

export type OfficeCategory = 'normal' | 'elevated' | 'stage 1 hypertension' | 'stage 2 hypertension';

export interface OfficeBand extends Band {
  readonly category: OfficeCategory;
  readonly published: string;
}

/**
 * Per measure; the category of a reading is the higher of its SBP and DBP categories (the
 * guideline's rule), which reproduces "normal: <120 and <80; elevated: 120–129 and <80".
 */
export const OFFICE_BP_TABLE: Readonly<Record<'systolic' | 'diastolic', readonly OfficeBand[]>> =
  Object.freeze({
    systolic: freezeBands<OfficeBand>([
      { from: -Infinity, to: 120, category: 'normal', published: 'SBP <120' },
      { from: 120, to: 130, category: 'elevated', published: 'SBP 120–129' },
      { from: 130, to: 140, category: 'stage 1 hypertension', published: 'SBP 130–139' },
      { from: 140, to: Infinity, category: 'stage 2 hypertension', published: 'SBP ≥140' },
    ]),
    diastolic: freezeBands<OfficeBand>([
      { from: -Infinity, to: 80, category: 'normal', published: 'DBP <80' },
      { from: 80, to: 90, category: 'stage 1 hypertension', published: 'DBP 80–89' },
      { from: 90, to: Infinity, category: 'stage 2 hypertension', published: 'DBP ≥90' },
    ]),
  });

export const OFFICE_CATEGORY_LEVEL: Readonly<Record<OfficeCategory, Level>> = Object.freeze({
  normal: 'normal',
  elevated: 'low',
  'stage 1 hypertension': 'medium',
  'stage 2 hypertension': 'high',
});

export interface CrisisBand extends Band {
  readonly crisis: boolean;
  readonly published: string;
}

/** "SBP >180 and/or DBP >120": a flag on top of stage 2 (which it implies). */
export const HYPERTENSIVE_CRISIS_TABLE: Readonly<Record<'systolic' | 'diastolic', readonly CrisisBand[]>> =
  Object.freeze({
    systolic: freezeBands<CrisisBand>([
      { from: -Infinity, to: 181, crisis: false, published: 'SBP ≤180' },
      { from: 181, to: Infinity, crisis: true, published: 'SBP >180' },
    ]),
    diastolic: freezeBands<CrisisBand>([
      { from: -Infinity, to: 121, crisis: false, published: 'DBP ≤120' },
      { from: 121, to: Infinity, crisis: true, published: 'DBP >120' },
    ]),
  });

const CRISIS: Outcome = { label: 'hypertensive crisis', level: 'critical', interpretation: 'critical' };
const ACC_AHA = 'ACC/AHA 2017';

const officeOutcome = (categories: readonly OfficeCategory[], crisis: boolean): Outcome => {
  if (crisis) return CRISIS;
  const order = OFFICE_BP_TABLE.systolic.map((b) => b.category);
  const category = categories.reduce((a, b) => (order.indexOf(b) > order.indexOf(a) ? b : a));
  // Elevated pressure and both stages are pressures above the normal range.
  return {
    label: category,
    level: OFFICE_CATEGORY_LEVEL[category],
    interpretation: category === 'normal' ? 'normal' : 'high',
  };
};

/** "could be A or B" for a borderline measure, naming each candidate band's published range. */
const couldBe = <B extends Band & { published: string }>(
  what: string,
  value: number,
  e: number,
  candidates: readonly B[],
  name: (b: B) => string,
) =>
  `${what} ${fmt(value)} ± ${fmt(e)} mmHg could be ${candidates
    .map((b) => `${name(b)} (${b.published}, ${formatBand(b)})`)
    .join(' or ')}`;

/**
 * ACC/AHA 2017 category of an office reading (or a mean of readings): normal, elevated,
 * stage 1 or stage 2 hypertension, or hypertensive crisis when SBP >180 and/or DBP >120.
 */
export function officeCategory(sbp: number, dbp: number, errorBound: number): Diagnosis {
  const e = normaliseErrorBound(errorBound);
  const s = classify(sbp, OFFICE_BP_TABLE.systolic, e);
  const d = classify(dbp, OFFICE_BP_TABLE.diastolic, e);
  const sc = classify(sbp, HYPERTENSIVE_CRISIS_TABLE.systolic, e);
  const dc = classify(dbp, HYPERTENSIVE_CRISIS_TABLE.diastolic, e);

  const findings: string[] = [];
  for (const [what, value, c] of [
    ['systolic', sbp, s],
    ['diastolic', dbp, d],
  ] as const) {
    findings.push(
      c.borderline
        ? couldBe(what, value, e, c.candidates, (b) => b.category)
        : `${what} ${fmt(value)} mmHg: ${c.band.category} (${ACC_AHA}: ${c.band.published}, ${formatBand(c.band)})`,
    );
  }
  if (!s.borderline && !d.borderline && s.band.category !== d.band.category) {
    findings.push(`SBP and DBP fall in different categories: the higher applies (${ACC_AHA})`);
  }
  for (const [what, value, c] of [
    ['systolic', sbp, sc],
    ['diastolic', dbp, dc],
  ] as const) {
    if (c.borderline)
      findings.push(couldBe(what, value, e, c.candidates, (b) => (b.crisis ? 'crisis' : 'no crisis')));
    else if (c.band.crisis) {
      findings.push(
        `${what} ${fmt(value)} mmHg: hypertensive crisis range (${ACC_AHA} §11.2: ${c.band.published}, ` +
          `${formatBand(c.band)}); an emergency if there is new or worsening target-organ damage, otherwise an urgency`,
      );
    }
  }
  findings.push(
    `${ACC_AHA} categories are defined on the average of ≥2 careful readings obtained on ≥2 occasions`,
  );

  // Picks are independent per table; a combination the value could not reach (e.g. stage 1 with
  // crisis) still yields a reachable label, because crisis overrides the category.
  const outcomes = everyOutcome<OfficeCategory | boolean, Outcome>(
    [
      s.candidates.map((b) => b.category),
      d.candidates.map((b) => b.category),
      sc.candidates.map((b) => b.crisis),
      dc.candidates.map((b) => b.crisis),
    ],
    ([sCat, dCat, sCrisis, dCrisis]) =>
      officeOutcome([sCat as OfficeCategory, dCat as OfficeCategory], sCrisis === true || dCrisis === true),
  );
  return conclude('acc-aha-office', outcomes, findings);
}

// ---------------------------------------------------------------------------------------------
// Ambulatory thresholds (ACC/AHA 2017, Table 11)

export type AmbulatoryWindow = 'day' | 'night' | 'day24';

export const AMBULATORY_WINDOW_NAMES: Readonly<Record<AmbulatoryWindow, string>> = Object.freeze({
  day: 'daytime',
  night: 'nighttime',
  day24: '24-hour',
});

export interface CorrespondingValues extends Record<AmbulatoryWindow, Readonly<Pressure>> {
  readonly office: Readonly<Pressure>;
  /** Home blood pressure monitoring. */
  readonly home: Readonly<Pressure>;
}

/** Table 11: SBP/DBP values for home and ambulatory monitoring that correspond to office levels. */
export const ABPM_CORRESPONDING_VALUES: readonly CorrespondingValues[] = Object.freeze(
  (
    [
      [120, 80, 120, 80, 120, 80, 100, 65, 115, 75],
      [130, 80, 130, 80, 130, 80, 110, 65, 125, 75],
      [140, 90, 135, 85, 135, 85, 120, 70, 130, 80],
      [160, 100, 145, 90, 145, 90, 140, 85, 145, 90],
    ] as const
  ).map(([os, od, hs, hd, ds, dd, ns, nd, as, ad]) =>
    Object.freeze({
      office: { sbp: os, dbp: od },
      home: { sbp: hs, dbp: hd },
      day: { sbp: ds, dbp: dd },
      night: { sbp: ns, dbp: nd },
      day24: { sbp: as, dbp: ad },
    }),
  ),
);

/** Hypertension on ABPM: the row corresponding to office 130/80, the guideline's threshold. */
export const AMBULATORY_THRESHOLDS: Readonly<Record<AmbulatoryWindow, Readonly<Pressure>>> = (() => {
  const row = ABPM_CORRESPONDING_VALUES.find((r) => r.office.sbp === 130 && r.office.dbp === 80);
  if (!row) throw new Error('Table 11 lacks the 130/80 row');
  return Object.freeze({ day: row.day, night: row.night, day24: row.day24 });
})();

export interface ThresholdBand extends Band {
  readonly high: boolean;
  readonly published: string;
}

/** A "≥ t" threshold as two bands, [−∞, t) below and [t, ∞) at or above. */
export const thresholdBands = (measure: 'SBP' | 'DBP', t: number): readonly ThresholdBand[] =>
  freezeBands<ThresholdBand>([
    { from: -Infinity, to: t, high: false, published: `${measure} <${t}` },
    { from: t, to: Infinity, high: true, published: `${measure} ≥${t}` },
  ]);

const WINDOWS: readonly AmbulatoryWindow[] = ['day', 'night', 'day24'];

/**
 * Ambulatory hypertension by window (daytime ≥130/80, nighttime ≥110/65, 24-hour ≥125/75;
 * either SBP or DBP at or above its threshold): "normal ambulatory blood pressure" or
 * "ambulatory hypertension (daytime, 24-hour)" naming the windows above threshold.
 */
export function ambulatoryDiagnosis(
  means: Readonly<Record<AmbulatoryWindow, Pressure>>,
  errorBound: number,
): Diagnosis {
  const e = normaliseErrorBound(errorBound);
  const findings: string[] = [];
  const perWindow = WINDOWS.map((w) => {
    const t = AMBULATORY_THRESHOLDS[w];
    const name = AMBULATORY_WINDOW_NAMES[w];
    const m = means[w];
    const s = classify(m.sbp, thresholdBands('SBP', t.sbp), e);
    const d = classify(m.dbp, thresholdBands('DBP', t.dbp), e);
    for (const [what, value, c] of [
      ['systolic', m.sbp, s],
      ['diastolic', m.dbp, d],
    ] as const) {
      if (c.borderline) {
        findings.push(
          couldBe(`${name} ${what}`, value, e, c.candidates, (b) => (b.high ? 'high' : 'not high')),
        );
      }
    }
    if (!s.borderline && !d.borderline) {
      const high = s.band.high || d.band.high;
      findings.push(
        `${name} mean ${fmt(m.sbp)}/${fmt(m.dbp)} mmHg ${high ? '≥' : '<'} ${t.sbp}/${t.dbp}` +
          ` (${ACC_AHA} Table 11, corresponding to office 130/80): ${high ? 'high' : 'not high'}`,
      );
    }
    // The window is high if either measure is; each measure's candidates give the window's.
    const options = everyOutcome(
      [s.candidates, d.candidates],
      ([a, b]) => a?.high === true || b?.high === true,
    );
    return { w, options: [...new Set(options)] };
  });

  const outcomes = everyOutcome(
    perWindow.map((x) => x.options),
    (highs): Outcome => {
      const windows = perWindow.filter((_, i) => highs[i]).map((x) => AMBULATORY_WINDOW_NAMES[x.w]);
      return windows.length === 0
        ? { label: 'normal ambulatory blood pressure', level: 'normal', interpretation: 'normal' }
        : {
            label: `ambulatory hypertension (${windows.join(', ')})`,
            level: 'medium',
            interpretation: 'high',
          };
    },
  );
  if (outcomes.every((o) => o.label === 'ambulatory hypertension (nighttime)')) {
    findings.push('high nighttime pressure alone: isolated nocturnal hypertension');
  }
  return conclude('acc-aha-ambulatory', outcomes, findings);
}

// ---------------------------------------------------------------------------------------------
// Nocturnal dipping (O'Brien et al. 2013)

export type DippingPattern = 'reverse dipper' | 'non-dipper' | 'dipper' | 'extreme dipper';

export interface DippingBand extends Band {
  readonly pattern: DippingPattern;
  readonly published: string;
}

/**
 * On the systolic dip % = (day − night)/day × 100 = (1 − night/day ratio) × 100. The position
 * paper defines the patterns by the night/day ratio: >1.0 reverse (riser), 0.9 < r ≤ 1.0 mild
 * (non-) dipping, 0.8 < r ≤ 0.9 dipping, r ≤ 0.8 extreme; in dip % the edges 0, 10 and 20 fall
 * to the upper band, which is exactly [from, to).
 */
export const DIPPING_TABLE: readonly DippingBand[] = freezeBands<DippingBand>([
  { from: -Infinity, to: 0, pattern: 'reverse dipper', published: 'night/day ratio >1.0' },
  { from: 0, to: 10, pattern: 'non-dipper', published: 'night/day ratio >0.9 and ≤1.0' },
  { from: 10, to: 20, pattern: 'dipper', published: 'night/day ratio >0.8 and ≤0.9' },
  { from: 20, to: Infinity, pattern: 'extreme dipper', published: 'night/day ratio ≤0.8' },
]);

export const DIPPING_LEVEL: Readonly<Record<DippingPattern, Level>> = Object.freeze({
  dipper: 'normal',
  'non-dipper': 'low',
  'extreme dipper': 'low',
  // Rising night pressure carries the worst prognosis of the four patterns.
  'reverse dipper': 'low-medium',
});

/** The systolic dip in %, to 9 decimals (exactValue: a dip of exactly 10% stays 10). */
export const dipPercent = (daySbp: number, nightSbp: number): number =>
  exactValue((100 * (daySbp - nightSbp)) / daySbp);

/**
 * Dipping pattern from mean daytime and nighttime SBP, each within ±errorBound: the dip's
 * range is taken over the corners of that box (the dip is monotone in each mean), so the
 * pattern is borderline when that range crosses 0, 10 or 20 %.
 */
export function dippingStatus(daySbp: number, nightSbp: number, errorBound: number): Diagnosis {
  const e = normaliseErrorBound(errorBound);
  if (!Number.isFinite(daySbp) || !Number.isFinite(nightSbp)) {
    throw new RangeError(`day ${daySbp} and night ${nightSbp} SBP must be finite`);
  }
  if (!(daySbp - e > 0)) throw new RangeError(`daytime SBP ${fmt(daySbp)} ± ${fmt(e)} must stay above 0`);
  const dip = dipPercent(daySbp, nightSbp);
  const corners = [
    dipPercent(daySbp - e, nightSbp - e),
    dipPercent(daySbp - e, nightSbp + e),
    dipPercent(daySbp + e, nightSbp - e),
    dipPercent(daySbp + e, nightSbp + e),
    dip,
  ];
  const c = classifyInterval(dip, [Math.min(...corners), Math.max(...corners)], DIPPING_TABLE);
  const source = "O'Brien et al. 2013";
  const findings = [
    c.borderline
      ? `nocturnal systolic dip ${fmt(dip)}% (between ${fmt(Math.min(...corners))}% and ` +
        `${fmt(Math.max(...corners))}% with means ± ${fmt(e)} mmHg) could be ` +
        c.candidates.map((b) => `${b.pattern} (${b.published}, dip ${formatBand(b)} %)`).join(' or ')
      : `nocturnal systolic dip ${fmt(dip)}% (day ${fmt(daySbp)}, night ${fmt(nightSbp)} mmHg): ` +
        `${c.band.pattern} (${source}: ${c.band.published}, dip ${formatBand(c.band)} %)`,
  ];
  return conclude(
    'esh-dipping',
    c.candidates.map((b) => ({ label: b.pattern, level: DIPPING_LEVEL[b.pattern] })),
    findings,
  );
}
