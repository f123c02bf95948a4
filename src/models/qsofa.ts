/**
 * qSOFA, the quick Sequential Organ Failure Assessment (Seymour CW, Liu VX, Iwashyna TJ, et al.
 * Assessment of clinical criteria for sepsis. JAMA. 2016;315(8):762–774; adopted in Singer M,
 * Deutschman CS, Seymour CW, et al. The Third International Consensus Definitions for Sepsis and
 * Septic Shock (Sepsis-3). JAMA. 2016;315(8):801–810, Box 4 "qSOFA (Quick SOFA) Criteria"):
 * respiratory rate ≥ 22/min, altered mentation, systolic blood pressure ≤ 100 mm Hg; two or more
 * of the three identify a patient with suspected infection who is more likely to have a poor
 * outcome (Singer et al. 2016). It is a prompt to consider sepsis, not a definition or a diagnosis
 * of it, and it applies to a person with suspected infection.
 *
 * Computed on the client in the clear, beside the encrypted NEWS2 (the catalogue's early-warning
 * model): the client has the reading it measured, and altered mentation is what the person
 * entered (any ACVPU level but Alert). Adding qSOFA as an encrypted catalogue model would need
 * the altered-mentation input in the tuple protocol (docs/models.md).
 *
 * As with NEWS2, the criteria are printed for integer readings, and a real reading counts as its
 * integer part: respiratory rate is met on [22, ∞), systolic pressure on (−∞, 101).
 */
import { CONSCIOUSNESS_LEVELS, type Consciousness } from '../device/reading.ts';
import { type Band, classify, type Diagnosis, freezeBands } from './diagnosis.ts';

export type QsofaCriterion = 'respiratoryRate' | 'systolic' | 'mentation';

interface CriterionBand extends Band {
  readonly met: boolean;
}

/** Seymour et al. 2016 / Singer et al. 2016 Box 4: "Respiratory rate ≥22/min". */
export const QSOFA_RESPIRATORY_RATE: readonly CriterionBand[] = freezeBands<CriterionBand>([
  { from: -Infinity, to: 22, met: false },
  { from: 22, to: Infinity, met: true },
]);

/** Seymour et al. 2016 / Singer et al. 2016 Box 4: "Systolic blood pressure ≤100 mm Hg" ([−∞, 101) on reals). */
export const QSOFA_SYSTOLIC: readonly CriterionBand[] = freezeBands<CriterionBand>([
  { from: -Infinity, to: 101, met: true },
  { from: 101, to: Infinity, met: false },
]);

/** Singer et al. 2016 Box 4: qSOFA is positive with 2 or more of its 3 criteria. */
export const QSOFA_POSITIVE = 2;

export const QSOFA_CRITERIA: Readonly<Record<QsofaCriterion, string>> = Object.freeze({
  respiratoryRate: 'respiratory rate ≥22/min',
  mentation: 'altered mentation',
  systolic: 'systolic blood pressure ≤100 mm Hg',
});

export const QSOFA_SOURCE = 'Seymour et al., JAMA 2016; Singer et al., Sepsis-3, JAMA 2016, Box 4';

export interface QsofaInputs {
  /** Breaths per minute. */
  respiratoryRate?: number | undefined;
  /** mmHg. */
  systolic?: number | undefined;
  /** Altered mentation: true, false, or undefined when not entered. */
  alteredMentation?: boolean | undefined;
}

export interface QsofaResult {
  /** Criteria met (of those known). */
  met: QsofaCriterion[];
  /** Criteria not known. */
  unknown: QsofaCriterion[];
  /** Fewest and most criteria that can be met, given the unknown ones. */
  score: { min: number; max: number };
  /** True when ≥ 2 are met, false when ≥ 2 cannot be reached, undefined when the unknown ones decide. */
  positive: boolean | undefined;
}

/** Altered mentation from an ACVPU level: anything but Alert (new confusion, voice, pain, unresponsive). */
export const alteredMentationOf = (c: Consciousness | undefined): boolean | undefined => {
  if (c === undefined) return undefined;
  if (!CONSCIOUSNESS_LEVELS.includes(c))
    throw new RangeError(`consciousness ${String(c)} is not an ACVPU level`);
  return c !== 'alert';
};

/** The qSOFA criteria on clear inputs. */
export function qsofa(inputs: QsofaInputs): QsofaResult {
  const known: [QsofaCriterion, boolean | undefined][] = [
    ['respiratoryRate', criterion(inputs.respiratoryRate, QSOFA_RESPIRATORY_RATE, 'respiratory rate')],
    ['mentation', inputs.alteredMentation],
    ['systolic', criterion(inputs.systolic, QSOFA_SYSTOLIC, 'systolic blood pressure')],
  ];
  const met = known.filter(([, v]) => v === true).map(([c]) => c);
  const unknown = known.filter(([, v]) => v === undefined).map(([c]) => c);
  const score = { min: met.length, max: met.length + unknown.length };
  const positive = score.min >= QSOFA_POSITIVE ? true : score.max < QSOFA_POSITIVE ? false : undefined;
  return { met, unknown, score, positive };
}

function criterion(
  value: number | undefined,
  bands: readonly CriterionBand[],
  name: string,
): boolean | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value)) throw new RangeError(`${name} ${value} is not a finite number`);
  return classify(value, bands, 0).band.met;
}

/**
 * qSOFA as a diagnosis beside NEWS2. Its level is never raised above 'normal' on its own: a
 * positive qSOFA is a prompt to look for sepsis in a person with suspected infection, not an
 * early-warning score, so the severity shown stays NEWS2's. Label: "qSOFA positive (2 of 3
 * criteria)", "qSOFA negative (1 of 3 criteria)" or "qSOFA undetermined (1 of 2 known criteria
 * met; altered mentation not entered)".
 */
export function qsofaDiagnosis(inputs: QsofaInputs): Diagnosis {
  const r = qsofa(inputs);
  const names = (cs: readonly QsofaCriterion[]) => cs.map((c) => QSOFA_CRITERIA[c]).join(', ');
  const of =
    r.unknown.length === 0
      ? `${r.score.min} of 3 criteria`
      : `${r.score.min} of ${3 - r.unknown.length} known criteria met`;
  const label =
    r.positive === true
      ? `qSOFA positive (${of})`
      : r.positive === false
        ? `qSOFA negative (${of})`
        : `qSOFA undetermined (${of}; ${names(r.unknown)} not entered)`;
  const findings = [
    `qSOFA (${QSOFA_SOURCE}): ${QSOFA_CRITERIA.respiratoryRate}, ` +
      `${QSOFA_CRITERIA.mentation}, ${QSOFA_CRITERIA.systolic}; ${QSOFA_POSITIVE} or more identify a person with ` +
      'suspected infection at higher risk of a poor outcome; it does not diagnose sepsis',
    `criteria met: ${r.met.length > 0 ? names(r.met) : 'none'}${r.unknown.length > 0 ? `; not known: ${names(r.unknown)}` : ''}`,
  ];
  if (r.positive) {
    findings.push(
      'qSOFA positive: if an infection is suspected, seek a clinical assessment for sepsis (organ dysfunction) now',
    );
  }
  return { model: 'qsofa', label, level: 'normal', borderline: false, findings };
}
