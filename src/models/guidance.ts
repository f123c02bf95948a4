/**
 * What a result means for the person, in plain words, with the guideline it comes from: NEWS2's
 * clinical response (RCP 2017, Chart 4), ACC/AHA 2017's follow-up by blood-pressure category, and
 * the meaning of ATP III's risk categories. The guidelines are written for clinicians; each text
 * says what the guideline calls for and what that suggests at home, never more, and the notice
 * below goes with every one of them.
 */
import type { Diagnosis, Level } from './diagnosis.ts';

export interface Guidance {
  /** What to do, in plain words. */
  text: string;
  /** The guideline and the part of it the text rests on. */
  source: string;
}

/** Shown with every result, in the browser and the CLI. */
export const NOT_A_MEDICAL_DEVICE =
  'PMHE is a research prototype, not a medical device: it does not diagnose or treat anything. ' +
  'If you feel unwell, or are worried about a result, contact your doctor; in an emergency, call your local emergency number.';

const NEWS2 = 'Royal College of Physicians, National Early Warning Score 2 (2017), Chart 4';
/** Why a healthy sleeper can score: NEWS2 is made for adults in hospital, and sleep lowers pressure. */
const NEWS2_CONTEXT =
  ' NEWS2 was made for adults in hospital; blood pressure and heart rate are lower during sleep ' +
  '(a nighttime 100/65 mmHg corresponds to a daytime 120/80: ACC/AHA 2017, Table 11), so a single ' +
  'low reading at night in someone who feels well is common.';

const NEWS2_EMERGENCY: Guidance = {
  text: 'Your signs together reach the threshold for an emergency response. Call your local emergency number now.',
  source: `${NEWS2}: total 7 or more, the emergency response threshold`,
};

const EARLY_WARNING: Readonly<Record<'zero' | Level, Guidance>> = Object.freeze({
  zero: {
    text: 'Your measured signs are all in the range that needs no action. In hospital this score means routine checks only.',
    source: `${NEWS2}: NEWS 0`,
  },
  normal: {
    text: 'Your measured signs are in the usual range.',
    source: `${NEWS2}: NEWS 0`,
  },
  low: {
    text: `Some signs are a little outside the usual range. In hospital a nurse would check the patient. If you feel well, nothing needs doing; if you feel unwell, contact your doctor.${NEWS2_CONTEXT}`,
    source: `${NEWS2}: total 1–4`,
  },
  'low-medium': {
    text: `One sign is far outside the usual range; in hospital a doctor would review the patient within the hour. Measure again at rest. If it stays there, or you feel unwell, contact your doctor today.${NEWS2_CONTEXT}`,
    source: `${NEWS2}: a score of 3 in one parameter`,
  },
  medium: {
    text: 'Your signs together reach the threshold at which a hospital responds urgently. Contact your doctor or an urgent care service now.',
    source: `${NEWS2}: total 5 or more, the urgent response threshold`,
  },
  high: NEWS2_EMERGENCY,
  critical: NEWS2_EMERGENCY,
});

const ACC_AHA = 'Whelton PK et al., 2017 ACC/AHA High Blood Pressure Guideline';
const BLOOD_PRESSURE: Readonly<Partial<Record<Level, Guidance>>> = Object.freeze({
  normal: {
    text: 'Your blood pressure is in the normal range. Keep a healthy lifestyle; the guideline suggests checking again in a year.',
    source: `${ACC_AHA}: normal BP, reassess in 1 year`,
  },
  low: {
    text: 'Your pressure does not follow the usual day-and-night pattern, or is a little raised. Mention it at your next visit to your doctor; lifestyle changes help, and the guideline suggests checking again in 3–6 months.',
    source: `${ACC_AHA}: elevated BP, reassess in 3–6 months; ESH 2013 ambulatory dipping patterns`,
  },
  'low-medium': {
    text: 'Your pressure rises at night instead of falling, the pattern with the worst outlook. See your doctor about it in the coming weeks.',
    source: 'O’Brien E et al., ESH position paper on ambulatory BP monitoring (2013): reverse dipping',
  },
  medium: {
    text: 'Your blood pressure is raised (hypertension by the guideline’s thresholds). See your doctor within a month to talk about lifestyle changes and whether you need treatment.',
    source: `${ACC_AHA}: stage 1 and 2 hypertension, follow-up within 1 to 6 months`,
  },
  high: {
    text: 'Your blood pressure is high (stage 2 hypertension). See your doctor within a month; treatment is usually advised.',
    source: `${ACC_AHA}: stage 2 hypertension, reassess in 1 month`,
  },
  critical: {
    text: 'Your blood pressure is very high (a hypertensive crisis by the guideline). Contact your doctor today; if you have chest pain, shortness of breath, weakness, trouble speaking or seeing, call your emergency number now.',
    source: `${ACC_AHA}: hypertensive crisis (over 180/120 mmHg)`,
  },
});

const ATP_III = 'NCEP Adult Treatment Panel III (2002): 10-year risk categories';
const CHD_RISK: Readonly<Partial<Record<Level, Guidance>>> = Object.freeze({
  normal: {
    text: 'Your estimated 10-year risk of coronary heart disease is lower than 10%. A healthy lifestyle keeps it there; your doctor will say when to check your risk factors again.',
    source: `${ATP_III}: under 10%`,
  },
  medium: {
    text: 'Your estimated 10-year risk of coronary heart disease is 10–20%, which the guideline calls moderately high. Talk to your doctor about lowering cholesterol and blood pressure.',
    source: `${ATP_III}: 10–20%`,
  },
  high: {
    text: 'Your estimated 10-year risk of coronary heart disease is 20% or more, as high as in people who already have heart disease. See your doctor about treatment.',
    source: `${ATP_III}: over 20%, a coronary heart disease risk equivalent`,
  },
});

/**
 * The guidance for a result of catalogue model `modelId`. A borderline result gets the guidance
 * of its most severe candidate (its level), with a word on measuring again.
 */
export function guidanceFor(modelId: string, d: Diagnosis): Guidance | undefined {
  let g: Guidance | undefined;
  if (modelId === 'early-warning') {
    g = d.interpretation === 'normal' ? EARLY_WARNING.zero : EARLY_WARNING[d.level];
  } else if (modelId === 'blood-pressure') g = BLOOD_PRESSURE[d.level];
  else if (modelId.startsWith('chd-risk')) g = CHD_RISK[d.level];
  if (!g || !d.borderline) return g;
  return {
    text: `The result lies on the edge between two categories; measure again. For the more serious one: ${g.text}`,
    source: g.source,
  };
}
