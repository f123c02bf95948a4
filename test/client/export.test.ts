import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  contentUuid,
  csvField,
  EXPORT_CSV_COLUMNS,
  type FhirBundle,
  type FhirObservation,
  type FhirQuantity,
  type FhirResource,
  toCsv,
  toFhirBundle,
} from '../../src/client/export.ts';
import type { HistoryEntry } from '../../src/client/history.ts';
import { CSV_COLUMNS, parseCsv } from '../../src/device/csv.ts';
import type { Reading } from '../../src/device/reading.ts';
import { getModel } from '../../src/models/catalogue/index.ts';
import type { Diagnosis } from '../../src/models/diagnosis.ts';

const T0 = Date.UTC(2024, 2, 1, 8, 0, 0);
const MIN = 60_000;
const r1: Reading = { time: T0, x: 72, y: 78, z: 131, w: 15 };
const r2: Reading = { time: T0 + 15 * MIN, x: 75.5, y: 81, z: 129, w: 16 };
const r3: Reading = { time: T0 + 30 * MIN, x: 70, y: 76, z: 133, w: 14 };
const r4: Reading = { time: T0 + 45 * MIN, x: 118, y: 70, z: 98, w: 24 };
const r5: Reading = { time: T0 + 60 * MIN, x: 121, y: 68, z: 95, w: 25 };

const base = {
  layout: 'paper' as const,
  decryptedAt: T0 + 2 * 3_600_000,
  latencyMs: 1200,
  uploadedBytes: 4096,
};

/** early-warning, one reading (r1, shared with the blood-pressure entry). */
const news2: HistoryEntry = {
  ...base,
  resultId: 'result-a',
  submissionId: 'a'.repeat(64),
  txId: 'tx-a',
  blockNumber: 7,
  modelId: 'early-warning',
  readings: [r1],
  // As decrypted: NEWS2 0, a few ten-thousandths off the integers.
  q: { rrScore: [0.0004], sbpScore: [-0.0003], hrScore: [0.0002], total: [0.0003] },
  values: { rrScore: 0.0004, sbpScore: -0.0003, hrScore: 0.0002, total: 0.0003 },
  diagnosis: getModel('early-warning').diagnose(
    { rrScore: 0.0004, sbpScore: -0.0003, hrScore: 0.0002, total: 0.0003 },
    { rrScore: 0.02, sbpScore: 0.02, hrScore: 0.02, total: 0.02 },
  ),
};

/** blood-pressure over a (tiny) batch r1–r3: window statistics, a borderline diagnosis. */
const bpValues = {
  daySbp: 130.4,
  dayDbp: 79,
  daySbpSd: 8.2,
  dayDbpSd: 6.1,
  nightSbp: 112,
  nightDbp: 66,
  nightSbpSd: 7,
  nightDbpSd: 5,
  allSbp: 124,
  allDbp: 74,
  allSbpSd: 9,
  allDbpSd: 7,
  dipPercent: (100 * (130.4 - 112)) / 130.4,
};
const bpDiagnosis: Diagnosis = getModel('blood-pressure').diagnose(
  bpValues,
  Object.fromEntries(Object.keys(bpValues).map((k) => [k, 1])),
);
const bp: HistoryEntry = {
  ...base,
  layout: 'batch',
  resultId: 'result-b',
  submissionId: 'b'.repeat(64),
  txId: 'tx-b',
  blockNumber: 9,
  modelId: 'blood-pressure',
  readings: [r1, r2, r3],
  q: Object.fromEntries(
    ['day', 'night', 'all'].flatMap((w) => [
      [`${w}Sbp`, [bpValues[`${w}Sbp` as keyof typeof bpValues]]],
      [`${w}Dbp`, [bpValues[`${w}Dbp` as keyof typeof bpValues]]],
      [`${w}Sbp2`, [1.2]],
      [`${w}Dbp2`, [0.5]],
    ]),
  ),
  values: bpValues,
  diagnosis: bpDiagnosis,
};

/** chd-risk on r3 alone: ends at the same reading as the blood-pressure entry. */
const chd: HistoryEntry = {
  ...base,
  resultId: 'result-c',
  submissionId: 'c'.repeat(64),
  txId: 'tx-c',
  blockNumber: 9,
  modelId: 'chd-risk',
  readings: [r3],
  q: { risk: [0.083] },
  values: { risk: 0.083 },
  diagnosis: {
    model: 'chd-risk',
    label: 'low CHD risk (< 10%)',
    level: 'normal',
    borderline: false,
    findings: ['predicted risk 8.3% (WCGS logistic model; ATP III categories)'],
  },
};

/** early-warning in the batch layout: per-reading outputs, so the values are r5's. */
const news2Batch: HistoryEntry = {
  ...base,
  layout: 'batch',
  resultId: 'result-d',
  submissionId: 'd'.repeat(64),
  txId: 'tx-d',
  blockNumber: 12,
  modelId: 'early-warning',
  readings: [r4, r5],
  q: { rrScore: [2, 2], sbpScore: [0, 1], hrScore: [2, 2], total: [4, 5] },
  values: { rrScore: 2, sbpScore: 1, hrScore: 2, total: 5 },
  diagnosis: {
    model: 'early-warning',
    label: 'medium clinical risk',
    level: 'medium',
    borderline: false,
    findings: ['aggregate score 5–6: medium clinical risk, key threshold for urgent response (RCP 2017)'],
  },
};

const HISTORY = [news2, bp, chd, news2Batch];
const USER = 'user-1234';
const GENERATED = Date.UTC(2024, 2, 2, 12, 0, 0);

const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const VITAL_SIGNS = 'http://terminology.hl7.org/CodeSystem/observation-category';
const VITAL_LOINC = new Set(['8867-4', '85354-9', '9279-1', '2708-6', '8310-5']);
const UUID_V8 = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

const observations = (b: FhirBundle): FhirObservation[] =>
  (b.entry ?? []).flatMap((e) => (e.resource?.resourceType === 'Observation' ? [e.resource] : []));
const loincOf = (o: { code: FhirObservation['code'] }) =>
  o.code.coding?.find((c) => c.system === LOINC)?.code;
const isVital = (o: FhirObservation) =>
  o.category?.some((c) => c.coding?.some((k) => k.system === VITAL_SIGNS && k.code === 'vital-signs')) ??
  false;

function referencesIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) referencesIn(v, out);
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string') out.push(v);
      else referencesIn(v, out);
    }
  }
  return out;
}

function checkQuantity(q: FhirQuantity | undefined, code: string, where: string): void {
  assert.ok(q, `${where}: no valueQuantity`);
  assert.equal(typeof q.value, 'number', where);
  assert.ok(Number.isFinite(q.value), where);
  assert.equal(q.system, UCUM, where);
  assert.equal(q.code, code, where);
  assert.ok(q.unit, where);
}

/**
 * No FHIR validator or R4 schema is installed (searched node_modules), so a structural check of
 * what the exporter promises and the R4 rules it relies on.
 */
function checkBundle(b: FhirBundle): void {
  assert.equal(b.resourceType, 'Bundle');
  assert.equal(b.type, 'collection');
  assert.match(b.timestamp ?? '', DATE_TIME);
  assert.deepEqual(JSON.parse(JSON.stringify(b)), b, 'JSON-safe: no undefined, NaN or Infinity');
  const entries = b.entry ?? [];
  const byUrl = new Map<string, FhirResource>();
  for (const e of entries) {
    assert.ok(e.fullUrl && e.resource, 'every entry has a fullUrl and a resource');
    assert.match(e.fullUrl, /^urn:uuid:/);
    const uuid = e.fullUrl.slice('urn:uuid:'.length);
    assert.match(uuid, UUID_V8);
    assert.equal(e.resource.id, uuid, 'resource id agrees with its fullUrl');
    assert.ok(!byUrl.has(e.fullUrl), `duplicate fullUrl ${e.fullUrl}`);
    byUrl.set(e.fullUrl, e.resource);
  }
  for (const ref of referencesIn(entries)) assert.ok(byUrl.has(ref), `reference ${ref} does not resolve`);

  const patients = entries.filter((e) => e.resource?.resourceType === 'Patient');
  assert.equal(patients.length, 1);
  for (const o of observations(b)) {
    const where = `${o.code.text} ${o.id}`;
    assert.equal(o.status, 'final', where);
    assert.ok((o.code.coding?.length ?? 0) > 0 || o.code.text, where);
    assert.equal(byUrl.get(o.subject?.reference ?? '')?.resourceType, 'Patient', `${where}: subject`);
    assert.ok(
      (o.effectiveDateTime !== undefined) !== (o.effectivePeriod !== undefined),
      `${where}: exactly one effective[x]`,
    );
    for (const t of [o.effectiveDateTime, o.effectivePeriod?.start, o.effectivePeriod?.end]) {
      if (t !== undefined) assert.match(t, DATE_TIME, where);
    }
    const values = [o.valueQuantity, o.valueString].filter((v) => v !== undefined);
    assert.ok(values.length <= 1, `${where}: one value[x] at most`);
    assert.ok(values.length === 1 || (o.component?.length ?? 0) > 0, `${where}: a value or components`);
    for (const c of o.component ?? []) {
      assert.ok((c.code.coding?.length ?? 0) > 0 || c.code.text, `${where}: component code`);
      assert.ok(
        (c.valueQuantity !== undefined) !== (c.dataAbsentReason !== undefined),
        `${where}: component value or absent reason`,
      );
    }
    for (const ref of o.derivedFrom ?? []) {
      assert.equal(byUrl.get(ref.reference ?? '')?.resourceType, 'Observation', `${where}: derivedFrom`);
    }
    if (isVital(o)) {
      const code = loincOf(o) as string;
      assert.ok(VITAL_LOINC.has(code), `${where}: vital LOINC ${code}`);
      assert.ok(o.effectiveDateTime, `${where}: a vital is a point in time`);
      if (code === '85354-9') {
        assert.equal(o.valueQuantity, undefined, 'the BP panel has no value of its own');
        assert.deepEqual(o.component?.map(loincOf), ['8480-6', '8462-4']);
        for (const c of o.component ?? []) checkQuantity(c.valueQuantity, 'mm[Hg]', where);
      } else if (code === '2708-6') {
        assert.deepEqual(
          o.code.coding?.map((c) => c.code),
          ['2708-6', '59408-5'],
          'SpO2 by pulse oximetry',
        );
        assert.equal(o.meta?.profile?.[0], 'http://hl7.org/fhir/StructureDefinition/oxygensat');
        checkQuantity(o.valueQuantity, '%', where);
      } else if (code === '8310-5') {
        assert.equal(o.meta?.profile?.[0], 'http://hl7.org/fhir/StructureDefinition/bodytemp');
        checkQuantity(o.valueQuantity, 'Cel', where);
      } else {
        checkQuantity(o.valueQuantity, '/min', where);
      }
    }
  }
}

const bundle = () => toFhirBundle(HISTORY, { userId: USER, generatedAt: GENERATED });
const resourceAt = (b: FhirBundle, url: string | undefined) =>
  b.entry?.find((e) => e.fullUrl === url)?.resource;
const diagnosisOf = (b: FhirBundle, resultId: string): FhirObservation => {
  const o = observations(b).find((x) => x.identifier?.some((i) => i.value === resultId));
  assert.ok(o, resultId);
  return o;
};

test('the bundle passes the structural self-check', () => {
  const b = bundle();
  checkBundle(b);
  assert.equal(b.timestamp, '2024-03-02T12:00:00.000Z');
  const patient = b.entry?.[0]?.resource;
  assert.deepEqual(patient && { ...patient, id: undefined }, {
    resourceType: 'Patient',
    id: undefined,
    identifier: [{ system: 'urn:pmhe:user', value: USER }],
  });
});

test('one heart rate, blood pressure panel and respiratory rate per distinct reading, in time order', () => {
  const b = bundle();
  const vitals = observations(b).filter(isVital);
  const readings = [r1, r2, r3, r4, r5]; // r1 and r3 each belong to two entries, exported once
  assert.equal(vitals.length, 3 * readings.length);
  readings.forEach((r, i) => {
    const [hr, bpObs, rr] = vitals.slice(3 * i, 3 * i + 3) as [
      FhirObservation,
      FhirObservation,
      FhirObservation,
    ];
    const when = new Date(r.time).toISOString();
    for (const o of [hr, bpObs, rr]) assert.equal(o.effectiveDateTime, when);
    assert.deepEqual(hr.code.coding, [{ system: LOINC, code: '8867-4', display: 'Heart rate' }]);
    assert.deepEqual(hr.valueQuantity, { value: r.x, unit: 'beats/minute', system: UCUM, code: '/min' });
    assert.deepEqual(rr.code.coding, [{ system: LOINC, code: '9279-1', display: 'Respiratory rate' }]);
    assert.deepEqual(rr.valueQuantity, { value: r.w, unit: 'breaths/minute', system: UCUM, code: '/min' });
    assert.deepEqual(bpObs.code.coding, [
      { system: LOINC, code: '85354-9', display: 'Blood pressure panel with all children optional' },
    ]);
    assert.deepEqual(bpObs.component, [
      {
        code: {
          coding: [{ system: LOINC, code: '8480-6', display: 'Systolic blood pressure' }],
          text: 'Systolic blood pressure',
        },
        valueQuantity: { value: r.z, unit: 'mmHg', system: UCUM, code: 'mm[Hg]' },
      },
      {
        code: {
          coding: [{ system: LOINC, code: '8462-4', display: 'Diastolic blood pressure' }],
          text: 'Diastolic blood pressure',
        },
        valueQuantity: { value: r.y, unit: 'mmHg', system: UCUM, code: 'mm[Hg]' },
      },
    ]);
    assert.deepEqual(hr.meta?.profile, ['http://hl7.org/fhir/StructureDefinition/heartrate']);
    assert.deepEqual(bpObs.meta?.profile, ['http://hl7.org/fhir/StructureDefinition/bp']);
    assert.deepEqual(rr.meta?.profile, ['http://hl7.org/fhir/StructureDefinition/resprate']);
  });
});

test('a diagnosis Observation: model and criteria, label, ledger, readings, values with units', () => {
  const b = bundle();
  const o = diagnosisOf(b, 'result-b');
  assert.ok(bpDiagnosis.borderline, 'the fixture is borderline');
  assert.equal(o.valueString, bpDiagnosis.label);
  assert.deepEqual(o.code.coding, [
    { system: 'urn:pmhe:model', code: 'blood-pressure', display: 'Ambulatory blood pressure' },
  ]);
  assert.match(
    o.code.text ?? '',
    /^PMHE Ambulatory blood pressure \(blood-pressure\); criteria: ACC\/AHA 2017/,
  );
  assert.deepEqual(o.identifier, [
    { system: 'urn:pmhe:result', value: 'result-b' },
    { system: 'urn:pmhe:submission', value: 'b'.repeat(64) },
    { system: 'urn:pmhe:ledger-tx', value: 'tx-b' },
  ]);
  assert.match(o.note?.[0]?.text ?? '', /transaction tx-b, block 9\b/);
  assert.deepEqual(
    o.note?.slice(1).map((n) => n.text),
    bpDiagnosis.findings,
  );
  // Window statistics: effective over the batch, derived from every reading's blood pressure only.
  assert.deepEqual(o.effectivePeriod, {
    start: new Date(r1.time).toISOString(),
    end: new Date(r3.time).toISOString(),
  });
  assert.equal(o.issued, new Date(base.decryptedAt).toISOString());
  const derived = (o.derivedFrom ?? []).map((ref) => resourceAt(b, ref.reference) as FhirObservation);
  assert.deepEqual(
    derived.map((d) => [loincOf(d), d.effectiveDateTime]),
    [r1, r2, r3].map((r) => ['85354-9', new Date(r.time).toISOString()]),
  );
  // Borderline: IND (indeterminate); its level is not normal, so A as well.
  const codes = o.interpretation?.[0]?.coding?.map((c) => c.code);
  assert.ok(codes?.includes('IND'), String(codes));
  assert.ok(codes?.includes(bpDiagnosis.level === 'critical' ? 'AA' : 'A'), String(codes));
  // Components: the finished values, outputs' order first; units in UCUM where the model declares one.
  const components = o.component ?? [];
  assert.deepEqual(components.map((c) => c.code.coding?.[0]?.code).sort(), Object.keys(bpValues).sort());
  assert.equal(components[0]?.code.coding?.[0]?.code, 'daySbp');
  const daySbp = components.find((c) => c.code.coding?.[0]?.code === 'daySbp');
  assert.deepEqual(daySbp?.valueQuantity, { value: 130.4, unit: 'mmHg', system: UCUM, code: 'mm[Hg]' });
  assert.equal(daySbp?.code.coding?.[0]?.system, 'urn:pmhe:model-value:blood-pressure');
  // A finished value the model declares no unit for: the number alone.
  const dip = components.find((c) => c.code.coding?.[0]?.code === 'dipPercent');
  assert.deepEqual(dip?.valueQuantity, { value: 14.11 }); // 14.110429447852763, to 4 digits
});

test('interpretation, effective time and derivedFrom follow the diagnosis and the outputs', () => {
  const b = bundle();
  // NEWS2 0: Chart 2 calls 0–4 low risk, but Chart 4's response to 0 is routine monitoring: N.
  const a = diagnosisOf(b, 'result-a');
  assert.equal(news2.diagnosis.level, 'low');
  assert.deepEqual(
    a.interpretation?.[0]?.coding?.map((c) => [c.system, c.code]),
    [['http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', 'N']],
  );
  assert.equal(a.effectiveDateTime, new Date(r1.time).toISOString());
  assert.deepEqual(
    (a.derivedFrom ?? []).map((ref) => loincOf(resourceAt(b, ref.reference) as FhirObservation)),
    ['8867-4', '85354-9', '9279-1'],
  );
  assert.deepEqual(a.component?.find((c) => c.code.coding?.[0]?.code === 'total')?.valueQuantity, {
    value: 0,
    unit: 'points',
    system: UCUM,
    code: '{score}',
  });
  // Normal and not borderline: N; risk is a probability, UCUM "1".
  const c = diagnosisOf(b, 'result-c');
  assert.deepEqual(
    c.interpretation?.[0]?.coding?.map((x) => x.code),
    ['N'],
  );
  assert.deepEqual(c.component, [
    {
      code: {
        coding: [{ system: 'urn:pmhe:model-value:chd-risk', code: 'risk' }],
        text: 'risk: predicted CHD risk σ(score), exact, applied on this device',
      },
      valueQuantity: { value: 0.083, unit: 'probability', system: UCUM, code: '1' },
    },
  ]);
  // Per-reading outputs in a batch: the values are the last reading's.
  const d = diagnosisOf(b, 'result-d');
  assert.equal(d.effectiveDateTime, new Date(r5.time).toISOString());
  assert.deepEqual(
    (d.derivedFrom ?? []).map((ref) => (resourceAt(b, ref.reference) as FhirObservation).effectiveDateTime),
    Array(3).fill(new Date(r5.time).toISOString()),
  );
  // Diagnoses in order of their last reading, then result id.
  assert.deepEqual(
    observations(b)
      .filter((o) => !isVital(o))
      .map((o) => o.identifier?.[0]?.value),
    ['result-a', 'result-b', 'result-c', 'result-d'],
  );
});

test('SpO2 and temperature measured with a reading are exported, and the NEWS2 diagnosis cites them', () => {
  const measured: Reading = { ...r1, time: T0 + 90 * MIN, spo2: 93, temperature: 38.4, oxygen: false };
  const entry: HistoryEntry = {
    ...news2,
    resultId: 'result-e',
    submissionId: 'e'.repeat(64),
    readings: [measured],
  };
  const b = toFhirBundle([...HISTORY, entry], { userId: USER, generatedAt: GENERATED });
  checkBundle(b);
  const at = (code: string) =>
    observations(b).filter((o) => isVital(o) && o.code.coding?.some((c) => c.code === code));
  // Only the reading that had them: the others carry no SpO2 or temperature.
  assert.deepEqual(
    at('2708-6').map((o) => [o.effectiveDateTime, o.valueQuantity?.value]),
    [[new Date(measured.time).toISOString(), 93]],
  );
  assert.deepEqual(
    at('8310-5').map((o) => [o.effectiveDateTime, o.valueQuantity?.value, o.valueQuantity?.code]),
    [[new Date(measured.time).toISOString(), 38.4, 'Cel']],
  );
  assert.deepEqual(
    (diagnosisOf(b, 'result-e').derivedFrom ?? []).map((ref) =>
      loincOf(resourceAt(b, ref.reference) as FhirObservation),
    ),
    ['8867-4', '85354-9', '9279-1', '2708-6', '8310-5'],
  );
  // The CSV carries them too, and parseCsv reads them back.
  const { oxygen: _entered, ...replayed } = measured;
  assert.deepEqual(parseCsv(toCsv([entry])), [replayed]);
  // The same time with a different SpO2 in another result is an inconsistent history.
  const other: HistoryEntry = { ...entry, resultId: 'result-f', readings: [{ ...measured, spo2: 97 }] };
  assert.throws(
    () => toFhirBundle([entry, other], { userId: USER, generatedAt: GENERATED }),
    /differs between results/,
  );
});

test('deterministic: the same history gives the same bundle, whatever the order and repetition', () => {
  const one = bundle();
  assert.deepEqual(toFhirBundle(HISTORY, { userId: USER, generatedAt: GENERATED }), one);
  const shuffled = toFhirBundle([chd, news2Batch, bp, news2, bp], { userId: USER, generatedAt: GENERATED });
  assert.deepEqual(shuffled, one);
  // The same history read back from the store: cborg sorts map keys, so key order changes.
  const reordered = HISTORY.map((e) => ({
    ...e,
    values: Object.fromEntries(Object.entries(e.values).reverse()),
  }));
  assert.deepEqual(toFhirBundle(reordered, { userId: USER, generatedAt: GENERATED }), one);
  // Ids depend on the user and on content.
  const other = toFhirBundle(HISTORY, { userId: 'user-5678', generatedAt: GENERATED });
  const urls = (x: FhirBundle) => new Set(x.entry?.map((e) => e.fullUrl));
  assert.equal([...urls(other)].filter((u) => urls(one).has(u)).length, 0);
  const changed = toFhirBundle([{ ...news2, readings: [{ ...r1, x: 73 }] }], {
    userId: USER,
    generatedAt: GENERATED,
  });
  assert.notEqual(changed.entry?.[1]?.fullUrl, one.entry?.[1]?.fullUrl);
  assert.equal(changed.entry?.[2]?.fullUrl, one.entry?.[2]?.fullUrl, 'the unchanged BP panel keeps its id');
});

test('contentUuid is an RFC 9562 version-8 UUID from SHA-256; idFor replaces it', () => {
  assert.match(contentUuid('x'), UUID_V8);
  assert.equal(contentUuid('x'), contentUuid('x'));
  assert.notEqual(contentUuid('x'), contentUuid('y'));
  let n = 0;
  const counter = () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
  const b = toFhirBundle([news2], { userId: USER, generatedAt: GENERATED, idFor: counter });
  assert.deepEqual(
    b.entry?.map((e) => e.fullUrl),
    [1, 2, 3, 4, 5].map((i) => `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`),
  );
  assert.equal(b.id, '00000000-0000-4000-8000-000000000006');
  assert.throws(
    () => toFhirBundle([news2], { userId: USER, idFor: () => 'not-a-uuid' }),
    /not a lowercase UUID/,
  );
});

test('unknown models, non-finite values and inconsistent histories', () => {
  const unknown: HistoryEntry = {
    ...news2,
    resultId: 'result-x',
    modelId: 'retired-model',
    values: { score: 3, ratio: Number.NaN, top: Number.POSITIVE_INFINITY },
  };
  const b = toFhirBundle([unknown], { userId: USER, generatedAt: GENERATED });
  checkBundle(b);
  const o = diagnosisOf(b, 'result-x');
  assert.equal(o.code.text, 'PMHE retired-model');
  assert.deepEqual(o.code.coding, [{ system: 'urn:pmhe:model', code: 'retired-model' }]);
  assert.equal(o.derivedFrom?.length, 3, 'an unknown model derives from every vital');
  const absent = (name: string) =>
    o.component?.find((c) => c.code.coding?.[0]?.code === name)?.dataAbsentReason?.coding?.[0]?.code;
  assert.equal(absent('ratio'), 'not-a-number');
  assert.equal(absent('top'), 'positive-infinity');
  assert.deepEqual(o.component?.find((c) => c.code.coding?.[0]?.code === 'score')?.valueQuantity, {
    value: 3,
  });

  const opts = { userId: USER, generatedAt: GENERATED };
  assert.throws(
    () => toFhirBundle([news2, { ...chd, readings: [{ ...r1, z: 140 }] }], opts),
    /reading at 2024-03-01T08:00:00.000Z differs between results result-a and result-c/,
  );
  assert.throws(() => toCsv([{ ...chd, readings: [] }]), /result-c has no readings/);
  assert.throws(() => toFhirBundle([{ ...chd, readings: [{ ...r3, w: Number.NaN }] }], opts), RangeError);
  assert.throws(() => toFhirBundle([news2, { ...news2, txId: 'tx-z' }], opts), /appears twice/);
  assert.throws(() => toFhirBundle([news2], { userId: '' }), /userId is empty/);
});

test('CSV: the readings replay through parseCsv; diagnoses on their last reading', () => {
  const csv = toCsv(HISTORY);
  assert.deepEqual(EXPORT_CSV_COLUMNS.slice(0, CSV_COLUMNS.length), [...CSV_COLUMNS]);
  assert.equal(csv.split('\n')[0], EXPORT_CSV_COLUMNS.join(','));
  assert.deepEqual(parseCsv(csv), [r1, r2, r3, r4, r5]);
  assert.equal(toCsv([...HISTORY].reverse()), csv, 'deterministic');

  const rows = parseRows(csv);
  assert.equal(rows.length, 6);
  const row = (r: Reading) => rows.find((x) => x[0] === new Date(r.time).toISOString()) as string[];
  assert.deepEqual(row(r1).slice(7), ['early-warning', news2.diagnosis.label, 'false', 'tx-a']);
  assert.deepEqual(row(r2).slice(7), ['', '', '', '']);
  // r3 ends two entries: one line each within the fields, in the same order.
  assert.deepEqual(row(r3).slice(7), [
    'blood-pressure\nchd-risk',
    `${bpDiagnosis.label}\nlow CHD risk (< 10%)`,
    'true\nfalse',
    'tx-b\ntx-c',
  ]);
  assert.deepEqual(row(r4).slice(7), ['', '', '', '']);
  assert.deepEqual(row(r5).slice(1), [
    '121',
    '68',
    '95',
    '25',
    '',
    '',
    'early-warning',
    'medium clinical risk',
    'false',
    'tx-d',
  ]);
  assert.equal(row(r2)[1], '75.5');
});

test('CSV quoting: commas, quotes, semicolons, #, newlines and edge spaces survive', () => {
  const labels = [
    'ambulatory hypertension (day, 24 h); non-dipper',
    'a "quoted" label, with a comma',
    'risk #2; see note',
    '  padded  ',
    'two\r\nlines',
  ];
  for (const label of labels) {
    const entry: HistoryEntry = { ...chd, diagnosis: { ...chd.diagnosis, label } };
    const csv = toCsv([entry]);
    assert.deepEqual(parseCsv(csv), [r3], label);
    const rows = parseRows(csv);
    assert.equal(rows[1]?.[8], label);
  }
  assert.equal(csvField('plain'), 'plain');
  assert.equal(csvField('a,b'), '"a,b"');
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  assert.equal(csvField('#x'), '"#x"');
  assert.equal(csvField(''), '');
});

/** A strict RFC 4180 reader (no trimming, no comments), independent of the writer. */
function parseRows(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const ch = text[i] as string;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (ch === '"') quoted = false;
      else field += ch;
      i++;
      continue;
    }
    if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
    i++;
  }
  assert.equal(field, '', 'ends with a newline');
  return rows;
}
