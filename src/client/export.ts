/**
 * Export of the user's own decrypted history (src/client/history.ts) for a doctor or another
 * system: a FHIR R4 Bundle (vital signs by LOINC and UCUM, one Observation per diagnosis pointing
 * at its readings and its ledger transaction) and a CSV the device reader (src/device/csv.ts)
 * can replay. Runs on the user's device, in Node or the browser: no Node-only API. See
 * docs/export.md.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import type { Reading, Vital } from '../device/reading.ts';
import { CATALOGUE } from '../models/catalogue/index.ts';
import type { Diagnosis, Interpretation } from '../models/diagnosis.ts';
import type { Model } from '../models/model.ts';
import { entryTime, type HistoryEntry } from './history.ts';

// ---------------------------------------------------------------------------------------------
// The FHIR R4 types this module writes: a faithful subset of R4 (hl7.org/fhir/R4). The installed
// @types/fhir 3.x describes STU3 (a global `fhir` namespace, no `fhir/r4`), whose Observation has
// no `derivedFrom` or `note` and a single `interpretation`, so it cannot type an R4 bundle.
// ---------------------------------------------------------------------------------------------

export interface FhirCoding {
  system?: string;
  code?: string;
  display?: string;
}
export interface FhirCodeableConcept {
  coding?: FhirCoding[];
  text?: string;
}
export interface FhirQuantity {
  value?: number;
  unit?: string;
  system?: string;
  code?: string;
}
export interface FhirReference {
  reference?: string;
  display?: string;
}
export interface FhirIdentifier {
  system?: string;
  value?: string;
}
export interface FhirPeriod {
  start?: string;
  end?: string;
}
export interface FhirAnnotation {
  text: string;
}
export interface FhirObservationComponent {
  code: FhirCodeableConcept;
  valueQuantity?: FhirQuantity;
  dataAbsentReason?: FhirCodeableConcept;
}
export interface FhirObservation {
  resourceType: 'Observation';
  id?: string;
  meta?: { profile?: string[] };
  identifier?: FhirIdentifier[];
  status: 'registered' | 'preliminary' | 'final' | 'amended' | 'corrected' | 'cancelled' | 'entered-in-error';
  category?: FhirCodeableConcept[];
  code: FhirCodeableConcept;
  subject?: FhirReference;
  effectiveDateTime?: string;
  effectivePeriod?: FhirPeriod;
  issued?: string;
  valueQuantity?: FhirQuantity;
  valueString?: string;
  interpretation?: FhirCodeableConcept[];
  note?: FhirAnnotation[];
  derivedFrom?: FhirReference[];
  component?: FhirObservationComponent[];
}
export interface FhirPatient {
  resourceType: 'Patient';
  id?: string;
  identifier?: FhirIdentifier[];
}
export type FhirResource = FhirPatient | FhirObservation;
export interface FhirBundleEntry {
  fullUrl?: string;
  resource?: FhirResource;
}
export interface FhirBundle {
  resourceType: 'Bundle';
  id?: string;
  identifier?: FhirIdentifier;
  type: 'collection';
  timestamp?: string;
  entry?: FhirBundleEntry[];
}

// ---------------------------------------------------------------------------------------------
// Code systems and codes
// ---------------------------------------------------------------------------------------------

export const LOINC = 'http://loinc.org';
export const UCUM = 'http://unitsofmeasure.org';
const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
const INTERPRETATION = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';
const DATA_ABSENT = 'http://terminology.hl7.org/CodeSystem/data-absent-reason';

/** PMHE's own identifier and code systems (URIs; nothing resolves them). */
export const PMHE_SYSTEMS = Object.freeze({
  user: 'urn:pmhe:user',
  model: 'urn:pmhe:model',
  result: 'urn:pmhe:result',
  submission: 'urn:pmhe:submission',
  ledgerTx: 'urn:pmhe:ledger-tx',
  /** Values of one model: `${value}${modelId}`, code = the value's name. */
  value: 'urn:pmhe:model-value:',
});

const VITAL_SIGNS_CATEGORY: FhirCodeableConcept = {
  coding: [{ system: OBSERVATION_CATEGORY, code: 'vital-signs', display: 'Vital Signs' }],
  text: 'Vital Signs',
};

type VitalKind = 'heart-rate' | 'blood-pressure' | 'respiratory-rate';
const VITAL_KINDS: readonly VitalKind[] = ['heart-rate', 'blood-pressure', 'respiratory-rate'];
/**
 * Observations a reading may carry besides the encrypted vitals (NEWS2's SpO2 and temperature,
 * scored on the client): exported when the reading has them, and cited by the NEWS2 diagnosis.
 */
type ExtraKind = 'oxygen-saturation' | 'body-temperature';
const EXTRA_OF: Readonly<Record<ExtraKind, 'spo2' | 'temperature'>> = {
  'oxygen-saturation': 'spo2',
  'body-temperature': 'temperature',
};
const EXTRA_KINDS = Object.keys(EXTRA_OF) as ExtraKind[];
/** The vitals each kind of Observation carries (and its id is derived from). */
const VITALS_OF: Readonly<Record<VitalKind, readonly Vital[]>> = {
  'heart-rate': ['x'],
  'blood-pressure': ['z', 'y'],
  'respiratory-rate': ['w'],
};

const loinc = (code: string, display: string): FhirCodeableConcept => ({
  coding: [{ system: LOINC, code, display }],
  text: display,
});
const perMinute = (value: number, unit: string): FhirQuantity => ({
  value,
  unit,
  system: UCUM,
  code: '/min',
});
const mmHg = (value: number): FhirQuantity => ({ value, unit: 'mmHg', system: UCUM, code: 'mm[Hg]' });

/** The FHIR R4 vital-signs profiles each kind of Observation follows. */
const PROFILE: Readonly<Record<VitalKind | ExtraKind, string>> = {
  'heart-rate': 'http://hl7.org/fhir/StructureDefinition/heartrate',
  'blood-pressure': 'http://hl7.org/fhir/StructureDefinition/bp',
  'respiratory-rate': 'http://hl7.org/fhir/StructureDefinition/resprate',
  'oxygen-saturation': 'http://hl7.org/fhir/StructureDefinition/oxygensat',
  'body-temperature': 'http://hl7.org/fhir/StructureDefinition/bodytemp',
};

/** Which Observation kinds a model reads, from the vitals it declares (all for an unknown model). */
function kindsRead(model: Model | undefined): VitalKind[] {
  if (!model) return [...VITAL_KINDS];
  return VITAL_KINDS.filter((k) => VITALS_OF[k].some((v) => model.vitals.includes(v)));
}

function vitalContent(
  kind: VitalKind,
  r: Reading,
): Pick<FhirObservation, 'code' | 'valueQuantity' | 'component'> {
  switch (kind) {
    case 'heart-rate':
      return { code: loinc('8867-4', 'Heart rate'), valueQuantity: perMinute(r.x, 'beats/minute') };
    case 'respiratory-rate':
      return { code: loinc('9279-1', 'Respiratory rate'), valueQuantity: perMinute(r.w, 'breaths/minute') };
    case 'blood-pressure':
      return {
        code: loinc('85354-9', 'Blood pressure panel with all children optional'),
        component: [
          { code: loinc('8480-6', 'Systolic blood pressure'), valueQuantity: mmHg(r.z) },
          { code: loinc('8462-4', 'Diastolic blood pressure'), valueQuantity: mmHg(r.y) },
        ],
      };
  }
}

function extraContent(kind: ExtraKind, value: number): Pick<FhirObservation, 'code' | 'valueQuantity'> {
  switch (kind) {
    case 'oxygen-saturation':
      // The R4 oxygensat profile requires 2708-6; 59408-5 says it was measured by pulse oximetry.
      return {
        code: {
          coding: [
            { system: LOINC, code: '2708-6', display: 'Oxygen saturation in Arterial blood' },
            {
              system: LOINC,
              code: '59408-5',
              display: 'Oxygen saturation in Arterial blood by Pulse oximetry',
            },
          ],
          text: 'SpO2',
        },
        valueQuantity: { value, unit: '%', system: UCUM, code: '%' },
      };
    case 'body-temperature':
      return {
        code: loinc('8310-5', 'Body temperature'),
        valueQuantity: { value, unit: 'C', system: UCUM, code: 'Cel' },
      };
  }
}

/**
 * UCUM codes for the units models declare (src/models/catalogue). A unit not here is exported as
 * text only (`unit` without `system`/`code`), which FHIR allows.
 */
export const UCUM_CODES: Readonly<Record<string, string>> = Object.freeze({
  mmHg: 'mm[Hg]',
  'beats/min': '/min',
  'breaths/min': '/min',
  'per minute': '/min',
  points: '{score}',
  probability: '1',
  '%': '%',
});

/** The criteria's meaning → v3 ObservationInterpretation (N, A, H, L, AA). */
const INTERPRETATION_CODES: Readonly<Record<Interpretation, FhirCoding>> = Object.freeze({
  normal: { system: INTERPRETATION, code: 'N', display: 'Normal' },
  abnormal: { system: INTERPRETATION, code: 'A', display: 'Abnormal' },
  high: { system: INTERPRETATION, code: 'H', display: 'High' },
  low: { system: INTERPRETATION, code: 'L', display: 'Low' },
  critical: { system: INTERPRETATION, code: 'AA', display: 'Critical abnormal' },
});

/**
 * Diagnosis → v3 ObservationInterpretation codes. What the criteria say the result means (NEWS2 0
 * is N; an ATP III risk above 10% is H; NEWS2 7 or more and a hypertensive crisis are AA); where
 * they say nothing more, the level: normal → N, critical → AA, any other → A. Borderline → IND
 * "Indeterminate" (E "Equivocal" would fit better, but it may be missing from the code system
 * version an R4 validator ships) beside the most severe candidate's level.
 */
function interpretation(d: Diagnosis): FhirCodeableConcept[] {
  const meaning: Interpretation =
    (!d.borderline ? d.interpretation : undefined) ??
    (d.level === 'normal' ? 'normal' : d.level === 'critical' ? 'critical' : 'abnormal');
  const coding: FhirCoding[] = [];
  if (d.borderline) coding.push({ system: INTERPRETATION, code: 'IND', display: 'Indeterminate' });
  coding.push(INTERPRETATION_CODES[meaning]);
  return [
    {
      coding,
      text: `PMHE level ${d.level}${d.borderline ? ', borderline (within the error bound of a threshold)' : ''}`,
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Deterministic ids
// ---------------------------------------------------------------------------------------------

/**
 * A name-based UUID from SHA-256 (RFC 9562 version 8, its Appendix B.2 construction): the first
 * 16 bytes of sha256(seed) with the version and variant bits set. Same seed, same UUID.
 */
export function contentUuid(seed: string): string {
  const b = sha256(utf8ToBytes(seed)).slice(0, 16);
  b[6] = ((b[6] as number) & 0x0f) | 0x80;
  b[8] = ((b[8] as number) & 0x3f) | 0x80;
  const h = bytesToHex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Seeds are versioned so that a change of what goes into an id is a deliberate one. */
const seedOf = (...parts: readonly (string | number)[]) => JSON.stringify(['pmhe-export/1', ...parts]);

// ---------------------------------------------------------------------------------------------
// Shared preparation: readings deduplicated by time, entries in a stable order
// ---------------------------------------------------------------------------------------------

const iso = (ms: number) => new Date(ms).toISOString();
const VITALS = ['x', 'y', 'z', 'w'] as const;

function checkReading(r: Reading, resultId: string): void {
  if (!Number.isSafeInteger(r.time)) {
    throw new RangeError(`result ${resultId}: reading time must be integer ms, got ${r.time}`);
  }
  for (const v of VITALS) {
    if (!Number.isFinite(r[v])) {
      throw new RangeError(`result ${resultId}: reading at ${iso(r.time)} has ${v} = ${r[v]}`);
    }
  }
}

interface Prepared {
  /** Every distinct reading, oldest first (time, x, y, z, w, and SpO2 and temperature when measured). */
  readings: Reading[];
  /** Entries without duplicates (by result id), by last reading time, then result id. */
  entries: HistoryEntry[];
}

function prepare(entries: readonly HistoryEntry[]): Prepared {
  const byTime = new Map<number, { reading: Reading; resultId: string }>();
  const byResult = new Map<string, HistoryEntry>();
  for (const e of entries) {
    if (e.readings.length === 0 && !(e.restored && e.recordedAt !== undefined))
      throw new RangeError(`result ${e.resultId} has no readings`);
    const seen = byResult.get(e.resultId);
    if (seen) {
      const same = (['submissionId', 'txId', 'blockNumber', 'modelId'] as const).every(
        (k) => seen[k] === e[k],
      );
      if (!same || seen.readings.length !== e.readings.length) {
        throw new RangeError(`result id ${e.resultId} appears twice with different contents`);
      }
      continue;
    }
    byResult.set(e.resultId, e);
    for (const r of e.readings) {
      checkReading(r, e.resultId);
      const { time, x, y, z, w, spo2, temperature } = r;
      const other = byTime.get(time);
      const kept: Reading = { time, x, y, z, w };
      if (spo2 !== undefined) kept.spo2 = spo2;
      if (temperature !== undefined) kept.temperature = temperature;
      if (!other) byTime.set(time, { reading: kept, resultId: e.resultId });
      else if (
        [...VITALS, 'spo2', 'temperature'].some(
          (v) => other.reading[v as keyof Reading] !== r[v as keyof Reading],
        )
      ) {
        throw new RangeError(
          `the reading at ${iso(time)} differs between results ${other.resultId} and ${e.resultId}`,
        );
      }
    }
  }
  return {
    readings: [...byTime.values()].map((v) => v.reading).sort((a, b) => a.time - b.time),
    entries: [...byResult.values()].sort(
      (a, b) =>
        entryTime(a) - entryTime(b) || (a.resultId < b.resultId ? -1 : a.resultId > b.resultId ? 1 : 0),
    ),
  };
}

/**
 * The readings an entry's finished values describe: the last one when every output of Q is
 * per-reading (one value a reading; `values` are the last reading's), else all of them (window
 * statistics over the batch).
 */
function basisOf(e: HistoryEntry): Reading[] {
  if (e.readings.length === 0) return []; // rebuilt after a restore: the readings stayed behind
  const q = Object.values(e.q);
  const perReading = q.length > 0 && q.every((v) => v.length === e.readings.length);
  return perReading ? [e.readings.at(-1) as Reading] : e.readings;
}

const modelOf = (id: string): Model | undefined => CATALOGUE.find((m) => m.id === id);

// ---------------------------------------------------------------------------------------------
// FHIR
// ---------------------------------------------------------------------------------------------

export interface FhirExportOptions {
  /** The PMHE user id: the only thing the Patient resource says about the person. */
  userId: string;
  /** Bundle.timestamp, ms since the epoch; defaults to now (the only input that is not content). */
  generatedAt?: number;
  /**
   * A resource's UUID from its seed (a string naming its content); defaults to `contentUuid`,
   * so the same history gives the same ids. Pass e.g. `() => crypto.randomUUID()` for ids that
   * do not link exports together. Must return a lowercase UUID.
   */
  idFor?: (seed: string) => string;
}

/**
 * The history as a FHIR R4 `collection` Bundle: a Patient (identified by the PMHE user id only),
 * vital-sign Observations per distinct reading (heart rate 8867-4, a blood pressure panel 85354-9
 * with systolic 8480-6 and diastolic 8462-4, respiratory rate 9279-1), and one Observation per
 * diagnosis deriving from them. Throws RangeError on an entry without readings, a non-finite
 * value, or two entries disagreeing about the reading at one time.
 */
export function toFhirBundle(entries: readonly HistoryEntry[], options: FhirExportOptions): FhirBundle {
  const { userId } = options;
  if (userId === '') throw new RangeError('userId is empty');
  const generatedAt = options.generatedAt ?? Date.now();
  if (!Number.isFinite(generatedAt)) throw new RangeError(`generatedAt ${generatedAt} is not a time`);
  const idFor = options.idFor ?? contentUuid;
  const newId = (seed: string): string => {
    const id = idFor(seed);
    if (!UUID.test(id)) throw new RangeError(`idFor returned "${id}", not a lowercase UUID`);
    return id;
  };
  const { readings, entries: sorted } = prepare(entries);
  const out: FhirBundleEntry[] = [];
  const add = (resource: FhirResource): string => {
    const fullUrl = `urn:uuid:${resource.id}`;
    out.push({ fullUrl, resource });
    return fullUrl;
  };

  const patientUrl = add({
    resourceType: 'Patient',
    id: newId(seedOf('patient', userId)),
    identifier: [{ system: PMHE_SYSTEMS.user, value: userId }],
  });
  const subject: FhirReference = { reference: patientUrl };

  /** fullUrl of each vital Observation, by reading time and kind. */
  const vitalUrl = new Map<string, string>();
  for (const r of readings) {
    for (const kind of VITAL_KINDS) {
      const content = vitalContent(kind, r);
      const url = add({
        resourceType: 'Observation',
        id: newId(seedOf('vital', userId, kind, r.time, ...VITALS_OF[kind].map((v) => r[v]))),
        meta: { profile: [PROFILE[kind]] },
        status: 'final',
        category: [VITAL_SIGNS_CATEGORY],
        code: content.code,
        subject,
        effectiveDateTime: iso(r.time),
        ...(content.valueQuantity ? { valueQuantity: content.valueQuantity } : {}),
        ...(content.component ? { component: content.component } : {}),
      });
      vitalUrl.set(`${r.time}/${kind}`, url);
    }
    for (const kind of EXTRA_KINDS) {
      const value = r[EXTRA_OF[kind]];
      if (value === undefined) continue;
      const url = add({
        resourceType: 'Observation',
        id: newId(seedOf('vital', userId, kind, r.time, value)),
        meta: { profile: [PROFILE[kind]] },
        status: 'final',
        category: [VITAL_SIGNS_CATEGORY],
        subject,
        effectiveDateTime: iso(r.time),
        ...extraContent(kind, value),
      });
      vitalUrl.set(`${r.time}/${kind}`, url);
    }
  }

  for (const e of sorted) add(diagnosisObservation(e, userId, subject, vitalUrl, newId));

  const bundleId = newId(seedOf('bundle', userId, ...out.map((o) => o.fullUrl as string)));
  return {
    resourceType: 'Bundle',
    id: bundleId,
    identifier: { system: 'urn:ietf:rfc:3986', value: `urn:uuid:${bundleId}` },
    type: 'collection',
    timestamp: iso(generatedAt),
    entry: out,
  };
}

function diagnosisObservation(
  e: HistoryEntry,
  userId: string,
  subject: FhirReference,
  vitalUrl: ReadonlyMap<string, string>,
  newId: (seed: string) => string,
): FhirObservation {
  const model = modelOf(e.modelId);
  const criteria = [...new Set(model?.outputs.map((o) => o.criteria) ?? [])];
  const name = model ? `${model.name} (${e.modelId})` : e.modelId;
  const basis = basisOf(e);
  const first = basis[0];
  const last = basis.at(-1);
  const d = e.diagnosis;

  const notes: FhirAnnotation[] = [
    {
      text:
        `Computed by PMHE on homomorphically encrypted readings and decrypted on the patient's device ` +
        `(${iso(e.decryptedAt)}). Recorded on the PMHE ledger: transaction ${e.txId}, block ` +
        `${e.blockNumber}; result ${e.resultId}, submission ${e.submissionId} (${e.readings.length} ` +
        `reading${e.readings.length === 1 ? '' : 's'}, ${e.layout} layout). Values are approximate ` +
        `(CKKS); a borderline diagnosis lies within the error bound of a threshold.`,
    },
    ...(e.restored
      ? [
          {
            text:
              'Rebuilt from the ledger on a restored device: the readings stayed on the device that took ' +
              'them; the effective time is the ledger transaction time.',
          },
        ]
      : []),
    ...d.findings.map((text) => ({ text })),
  ];

  const interpreted = interpretation(d);
  return {
    resourceType: 'Observation',
    id: newId(seedOf('diagnosis', userId, e.resultId)),
    identifier: [
      { system: PMHE_SYSTEMS.result, value: e.resultId },
      { system: PMHE_SYSTEMS.submission, value: e.submissionId },
      { system: PMHE_SYSTEMS.ledgerTx, value: e.txId },
    ],
    status: 'final',
    code: {
      coding: [{ system: PMHE_SYSTEMS.model, code: e.modelId, ...(model ? { display: model.name } : {}) }],
      text: `PMHE ${name}${criteria.length > 0 ? `; criteria: ${criteria.join('; ')}` : ''}`,
    },
    subject,
    ...(!first || !last
      ? { effectiveDateTime: iso(entryTime(e)) }
      : basis.length === 1
        ? { effectiveDateTime: iso(last.time) }
        : { effectivePeriod: { start: iso(first.time), end: iso(last.time) } }),
    issued: iso(e.decryptedAt),
    valueString: d.label,
    interpretation: interpreted,
    note: notes,
    derivedFrom: basis.flatMap((r) =>
      [...kindsRead(model), ...(model?.id === 'early-warning' ? EXTRA_KINDS : [])]
        .map((k) => vitalUrl.get(`${r.time}/${k}`))
        .filter((url) => url !== undefined)
        .map((reference) => ({ reference })),
    ),
    component: valueComponents(e, model),
  };
}

/** The finished values (what the criteria read), model outputs' order first, then by name. */
function valueComponents(e: HistoryEntry, model: Model | undefined): FhirObservationComponent[] {
  const outputs = model?.outputs ?? [];
  const rank = (n: string) => {
    const i = outputs.findIndex((o) => o.name === n);
    return i < 0 ? outputs.length : i;
  };
  const names = Object.keys(e.values).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  return names.map((n) => {
    const value = e.values[n] as number;
    const output = outputs.find((o) => o.name === n) ?? model?.finishedValues?.[n];
    const code: FhirCodeableConcept = {
      coding: [{ system: `${PMHE_SYSTEMS.value}${e.modelId}`, code: n }],
      text: output ? `${n}: ${output.description}` : n,
    };
    if (!Number.isFinite(value)) {
      const absent = Number.isNaN(value)
        ? 'not-a-number'
        : value > 0
          ? 'positive-infinity'
          : 'negative-infinity';
      return { code, dataAbsentReason: { coding: [{ system: DATA_ABSENT, code: absent }] } };
    }
    const ucum = output ? UCUM_CODES[output.unit] : undefined;
    const quantity: FhirQuantity = { value: forRecord(value, output?.unit) };
    if (output) quantity.unit = output.unit;
    if (ucum !== undefined) Object.assign(quantity, { system: UCUM, code: ucum });
    return { code, valueQuantity: quantity };
  });
}

/**
 * Decimals a decrypted value keeps in a record, by unit: CKKS returns 2.0006 for a score of 2 and
 * 130.43816 for a mean pressure, and the extra digits are noise, not precision. Scores to 0.01 (a
 * borderline score stays visibly off its integer), pressures and rates to 0.1, a probability to
 * 0.001 (0.1 percentage point); anything else to 4 significant digits.
 */
const DECIMALS: Readonly<Record<string, number>> = Object.freeze({
  points: 2,
  mmHg: 1,
  'beats/min': 1,
  'breaths/min': 1,
  'per minute': 1,
  '%': 1,
  probability: 3,
  'log-odds': 2,
});

export function forRecord(value: number, unit: string | undefined): number {
  const decimals = unit === undefined ? undefined : DECIMALS[unit];
  // + 0: a rounded −0.0003 is −0, which JSON writes as 0 and a reader's equality check may not.
  if (decimals !== undefined) return Number(value.toFixed(decimals)) + 0;
  return Number(value.toPrecision(4)) + 0;
}

// ---------------------------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------------------------

/** The export's columns: parseCsv's (src/device/csv.ts) first, then the diagnosis columns. */
export const EXPORT_CSV_COLUMNS = Object.freeze([
  'time',
  'heart_rate',
  'diastolic',
  'systolic',
  'respiratory_rate',
  'spo2',
  'temperature',
  'model',
  'diagnosis',
  'borderline',
  'tx_id',
] as const);

/**
 * RFC 4180 quoting, plus what parseCsv's options need: `#` starts a comment there even mid-line
 * and unquoted fields are trimmed, so fields with `#` or edge whitespace are quoted too.
 */
export function csvField(value: string): string {
  return /[",\r\n#]|^\s|\s$/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/**
 * The history as CSV: one row per distinct reading (oldest first; time ISO-8601 UTC), and on the
 * row of each entry's last reading its model, diagnosis label, borderline (true/false) and ledger
 * transaction; SpO2 and temperature when they were measured. Several entries ending at one
 * reading share the row, their values one per line within each (quoted) field, in the same order.
 * parseCsv reads the readings back (it ignores the diagnosis columns). Lines end in \n, as src/device/csv.ts writes them.
 */
export function toCsv(entries: readonly HistoryEntry[]): string {
  const { readings, entries: sorted } = prepare(entries);
  const at = new Map<number, HistoryEntry[]>();
  let rebuilt = 0;
  for (const e of sorted) {
    if (e.readings.length === 0) {
      rebuilt++; // no reading to put it on: the FHIR export has it
      continue;
    }
    const t = (e.readings.at(-1) as Reading).time;
    at.set(t, [...(at.get(t) ?? []), e]);
  }
  const lines = [EXPORT_CSV_COLUMNS.join(',')];
  for (const r of readings) {
    const es = at.get(r.time) ?? [];
    const joined = (f: (e: HistoryEntry) => string) => es.map(f).join('\n');
    const fields = [
      iso(r.time),
      String(r.x),
      String(r.y),
      String(r.z),
      String(r.w),
      r.spo2 === undefined ? '' : String(r.spo2),
      r.temperature === undefined ? '' : String(r.temperature),
      joined((e) => e.modelId),
      joined((e) => e.diagnosis.label),
      joined((e) => String(e.diagnosis.borderline)),
      joined((e) => e.txId),
    ];
    lines.push(fields.map(csvField).join(','));
  }
  if (rebuilt > 0) {
    lines.push(
      `# ${rebuilt} result(s) rebuilt after a restore have no readings here; the FHIR export has them`,
    );
  }
  return `${lines.join('\n')}\n`;
}
