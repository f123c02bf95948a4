/**
 * Every result comes with what it means in plain words and the guideline it rests on; a healthy
 * person's day and night never calls for an urgent or emergency response, and a low reading in
 * the night is explained (issue 16: a healthy persona was told "urgent ward-based response").
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { filterReadings } from '../../src/client/filter.ts';
import { simulatePerson } from '../../src/device/index.ts';
import { getModel } from '../../src/models/catalogue/index.ts';
import type { LEVELS } from '../../src/models/diagnosis.ts';
import { errorBoundsFor } from '../../src/models/error-bounds.ts';
import { guidanceFor, NOT_A_MEDICAL_DEVICE } from '../../src/models/guidance.ts';
import { cachedPlan } from '../../src/models/plans.ts';
import { finishedRows, runClear, tupleVectors } from '../../src/models/runtime.ts';

test('each level a model can reach has guidance with its source; borderline says to measure again', () => {
  const reachable: Record<string, readonly (typeof LEVELS)[number][]> = {
    'early-warning': ['low', 'low-medium', 'medium', 'high'],
    'blood-pressure': ['normal', 'low', 'low-medium', 'medium'],
    'chd-risk': ['normal', 'medium', 'high'],
    'chd-risk-paper': ['normal', 'medium', 'high'],
  };
  for (const [model, levels] of Object.entries(reachable)) {
    for (const level of levels) {
      const g = guidanceFor(model, { model, label: 'x', level, borderline: false, findings: [] });
      assert.ok(g && g.text.length > 20 && g.source.length > 10, `${model} ${level}`);
    }
  }
  const zero = guidanceFor('early-warning', {
    model: 'early-warning',
    label: 'NEWS2: low clinical risk',
    level: 'low',
    interpretation: 'normal',
    borderline: false,
    findings: [],
  });
  assert.match(zero?.source ?? '', /NEWS 0/);
  const edge = guidanceFor('chd-risk', {
    model: 'chd-risk',
    label: 'b',
    level: 'high',
    borderline: true,
    findings: [],
  });
  assert.match(edge?.text ?? '', /^The result lies on the edge between two categories; measure again/);
  assert.match(NOT_A_MEDICAL_DEVICE, /not a medical device/);
});

test('a healthy person over a day and a night: never an urgent or emergency call, and a night-time low explained', () => {
  const plan = cachedPlan('early-warning', 'packed', 'secure-4096');
  const model = getModel('early-warning');
  const bounds = errorBoundsFor('early-warning', 'packed');
  let lows = 0;
  for (const seed of [1, 2, 3]) {
    // As the client takes them: through its filter (motion spikes and failed cuffs are artifacts).
    for (const reading of filterReadings(simulatePerson({ persona: 'healthy', seed, days: 1 })).kept) {
      const values = finishedRows(plan, runClear(plan, tupleVectors(plan, [reading], {})), 1)[0] as Record<
        string,
        number
      >;
      const d = model.diagnose(values, bounds);
      const g = guidanceFor('early-warning', d);
      assert.ok(g, `no guidance for ${d.label}`);
      assert.doesNotMatch(
        g.text,
        /emergency|urgent/,
        `${d.label} at ${new Date(reading.time).toISOString()}`,
      );
      if (d.level === 'low-medium') {
        lows++;
        assert.match(g.text, /lower during sleep/);
      }
    }
  }
  assert.ok(lows > 0, 'the simulated healthy nights never scored a 3: the check above saw nothing');
});
