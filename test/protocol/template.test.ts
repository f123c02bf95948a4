import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProtocolError, type ProtocolErrorCode } from '../../src/protocol/errors.ts';
import {
  checkReading,
  type ElementSpec,
  META_FUNCTIONS,
  metaFunction,
} from '../../src/protocol/meta-functions.ts';
import type { Template } from '../../src/protocol/schema.ts';
import { checkTemplate } from '../../src/protocol/template.ts';
import { layoutVectors } from '../../src/protocol/tuple.ts';

const fails = (code: ProtocolErrorCode, pattern: RegExp) => (e: unknown) =>
  e instanceof ProtocolError && e.code === code && pattern.test(e.message);

const reading = { time: 0, x: 72, y: 80, z: 120, w: 14 };
const context = { reading, batch: [reading, { ...reading, z: 140, y: 90 }], profile: { age: 50 } };
const value = (spec: Omit<ElementSpec, 'name'>) =>
  metaFunction({ name: 'e', ...spec }).compute({ name: 'e', ...spec }, context);

test('meta-functions compute the published formulas', () => {
  assert.equal(value({ fn: 'vital', of: 'x' }), 72);
  assert.equal(value({ fn: 'power', of: 'z', k: 2 }), 14400);
  assert.equal(value({ fn: 'product', of: ['x', 'w'] }), 72 * 14);
  assert.equal(value({ fn: 'pulsePressure' }), 40);
  assert.equal(value({ fn: 'meanArterialPressure' }), (120 + 2 * 80) / 3);
  assert.equal(value({ fn: 'shockIndex' }), 72 / 120);
  assert.equal(value({ fn: 'deviation', of: 'z', center: 100, spread: 10, k: 2 }), 4);
  assert.equal(value({ fn: 'profile', field: 'age' }), 50);
  assert.equal(value({ fn: 'batchMean', of: 'z' }), 130);
  assert.equal(value({ fn: 'batchSd', of: 'z' }), 10);
});

test('band indicators are half-open: 1[from ≤ v < to]', () => {
  assert.equal(value({ fn: 'band', of: 'x', from: 72, to: 91 }), 1);
  assert.equal(value({ fn: 'band', of: 'x', from: 41, to: 72 }), 0);
  assert.equal(value({ fn: 'band', of: 'x', from: null, to: 73 }), 1);
  assert.equal(value({ fn: 'band', of: 'x', from: 73, to: null }), 0);
});

test('each meta-function states a unit and a range that contains its values', () => {
  for (const [fn, impl] of Object.entries(META_FUNCTIONS)) {
    const spec = {
      name: 'e',
      fn,
      of: fn === 'product' ? ['x', 'w'] : 'z',
      k: 2,
      from: 100,
      to: 140,
      field: 'age',
      center: 120,
      spread: 10,
    } as ElementSpec;
    impl.check(spec);
    const [lo, hi] = impl.range(spec);
    const v = impl.compute(spec, context);
    assert.ok(lo <= v && v <= hi, `${fn}: ${v} in [${lo}, ${hi}]`);
    assert.ok(impl.unit(spec).length > 0, fn);
  }
});

test('out-of-range vitals and profile values are refused by name', () => {
  assert.throws(
    () => checkReading({ ...reading, x: 0 }, 3),
    fails('OUT_OF_RANGE', /reading 3: x \(heart rate\) = 0 beats\/min is outside \[20, 300\]/),
  );
  assert.throws(
    () => checkReading({ ...reading, w: Number.NaN }),
    fails('OUT_OF_RANGE', /w \(respiratory rate\) is not a number/),
  );
  assert.throws(() => checkReading({ ...reading, z: 301 }), fails('OUT_OF_RANGE', /z \(systolic/));
});

const template: Template = {
  id: 'demo',
  version: 2,
  preset: 'paper-p2',
  layout: 'packed',
  vitals: ['x', 'y', 'z'],
  profile: ['age'],
  elements: [
    { name: 'hr', fn: 'vital', of: 'x' },
    { name: 'map', fn: 'meanArterialPressure' },
    { name: 'age', fn: 'profile', field: 'age' },
  ],
  result: [{ name: 'score', unit: '', output: 0, slot: 0, description: 'a score', criteria: 'none' }],
};

test('a valid template passes; each kind of invalid one is refused with its reason', () => {
  assert.equal(checkTemplate(template), template);
  const bad: [unknown, ProtocolErrorCode, RegExp][] = [
    [{ ...template, version: 0 }, 'BAD_TEMPLATE', /version/],
    [{ ...template, extra: 1 }, 'BAD_TEMPLATE', /template/],
    [{ ...template, layout: 'columnar' }, 'BAD_TEMPLATE', /layout/],
    [
      { ...template, elements: [...template.elements, { name: 'hr', fn: 'vital', of: 'x' }] },
      'BAD_TEMPLATE',
      /"hr" appears twice/,
    ],
    [
      { ...template, elements: [{ name: 'f', fn: 'sqrt', of: 'x' }] },
      'UNKNOWN_META_FUNCTION',
      /unknown meta-function "sqrt"/,
    ],
    [
      { ...template, elements: [{ name: 'rr', fn: 'vital', of: 'w' }] },
      'BAD_TEMPLATE',
      /reads w, which the template does not list/,
    ],
    [
      { ...template, elements: [{ name: 'b', fn: 'band', of: 'x', from: 90, to: 50 }] },
      'BAD_TEMPLATE',
      /empty band/,
    ],
    [
      { ...template, elements: [{ name: 'c', fn: 'profile', field: 'cholesterol' }] },
      'BAD_TEMPLATE',
      /profile.cholesterol/,
    ],
    [{ ...template, layout: 'batch' }, 'BAD_TEMPLATE', /"batch" is required/],
  ];
  for (const [input, code, pattern] of bad)
    assert.throws(() => checkTemplate(input), fails(code, pattern), JSON.stringify(input).slice(0, 80));
});

test('layouts: paper is one vector per element, packed one vector, batch one per element across readings', () => {
  const profile = { age: 50 };
  assert.deepEqual(layoutVectors({ ...template, layout: 'paper' }, [reading], profile, 4096), [
    [72],
    [(120 + 160) / 3],
    [50],
  ]);
  assert.deepEqual(layoutVectors(template, [reading], profile, 4096), [[72, (120 + 160) / 3, 50]]);
  const batch = { ...template, layout: 'batch' as const, batch: { readings: 3, intervalMinutes: 5 } };
  const second = { ...reading, x: 90 };
  assert.deepEqual(layoutVectors(batch, [reading, second], profile, 4096)[0], [72, 90]);
  assert.throws(
    () => layoutVectors(template, [reading, second], profile, 4096),
    fails('LAYOUT', /takes one reading, got 2/),
  );
  assert.throws(
    () => layoutVectors(batch, [reading, reading, reading, reading], profile, 4096),
    fails('LAYOUT', /exceed the batch of 3/),
  );
  assert.throws(() => layoutVectors(template, [reading], {}, 4096), fails('BAD_FIELD', /profile.age/));
  assert.throws(
    () => layoutVectors(template, [reading], { age: 7 }, 4096),
    fails('OUT_OF_RANGE', /profile.age/),
  );
  assert.throws(
    () => layoutVectors(template, [{ ...reading, y: 500 }], profile, 4096),
    fails('OUT_OF_RANGE', /reading 0: y/),
  );
  assert.throws(() => layoutVectors(template, [], profile, 4096), fails('LAYOUT', /no readings/));
});
