import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GattError, parseBloodPressure, parseHeartRate, sfloat } from '../../src/device/gatt.ts';

const bytes = (...b: number[]) => new Uint8Array(b);

test('SFLOAT: exponent and mantissa, negatives, and the reserved values', () => {
  assert.equal(sfloat(0x0078), 120); // 120 × 10^0
  assert.equal(sfloat(0xf3a5), 93.3); // 933 × 10^-1
  assert.equal(sfloat(0x2012), 1800); // 18 × 10^2
  assert.equal(sfloat(0x0fff), -1); // mantissa −1
  assert.equal(sfloat(0xe800), -20.48); // −2048 × 10^-2
  assert.ok(Number.isNaN(sfloat(0x07ff))); // NaN
  assert.ok(Number.isNaN(sfloat(0x0800))); // NRes
  assert.ok(Number.isNaN(sfloat(0x0801))); // reserved
  assert.equal(sfloat(0x07fe), Number.POSITIVE_INFINITY);
  assert.equal(sfloat(0x0802), Number.NEGATIVE_INFINITY);
});

test('Heart Rate Measurement (0x2A37): 8- and 16-bit rates, contact, energy, RR intervals', () => {
  assert.deepEqual(parseHeartRate(bytes(0x00, 72)), {
    heartRate: 72,
    sensorContact: undefined,
    energyExpended: undefined,
    rrIntervals: [],
  });
  // 16-bit rate, contact supported and detected, energy 0x0123 kJ, two RR intervals.
  const full = parseHeartRate(bytes(0x1f, 0x2c, 0x01, 0x23, 0x01, 0x00, 0x04, 0x00, 0x02));
  assert.deepEqual(full, { heartRate: 300, sensorContact: true, energyExpended: 291, rrIntervals: [1, 0.5] });
  // Contact supported, not detected.
  assert.equal(parseHeartRate(bytes(0x04, 60)).sensorContact, false);
  // From a DataView, as Web Bluetooth gives it.
  assert.equal(parseHeartRate(new DataView(bytes(0x00, 55).buffer)).heartRate, 55);
});

test('Blood Pressure Measurement (0x2A35): mmHg and kPa, time stamp, pulse, user, status', () => {
  assert.deepEqual(parseBloodPressure(bytes(0x00, 0x78, 0x00, 0x50, 0x00, 0xa5, 0xf3)), {
    systolic: 120,
    diastolic: 80,
    meanArterialPressure: 93.3,
    unit: 'mmHg',
    timestamp: undefined,
    pulseRate: undefined,
    userId: undefined,
    status: undefined,
  });
  // kPa: 16.0 / 10.7 / 12.4 kPa, time stamp 2026-11-25 13:45:30, pulse 64, user 3, status bits.
  const kpa = parseBloodPressure(
    bytes(
      0x1f,
      0xa0,
      0xf0,
      0x6b,
      0xf0,
      0x7c,
      0xf0,
      0xea,
      0x07,
      11,
      25,
      13,
      45,
      30,
      0x40,
      0x00,
      0x03,
      0x25,
      0x00,
    ),
  );
  assert.deepEqual(kpa, {
    systolic: 120,
    diastolic: 80.3,
    meanArterialPressure: 93,
    unit: 'kPa',
    timestamp: '2026-11-25T13:45:30',
    pulseRate: 64,
    userId: 3,
    status: {
      bodyMovement: true,
      cuffTooLoose: false,
      irregularPulse: true,
      pulseRateRange: 'within',
      improperPosition: true,
    },
  });
  const range = parseBloodPressure(bytes(0x10, 0x78, 0x00, 0x50, 0x00, 0xa5, 0xf3, 0x10, 0x00));
  assert.equal(range.status?.pulseRateRange, 'below');
  assert.ok(Number.isNaN(parseBloodPressure(bytes(0x00, 0xff, 0x07, 0x50, 0x00, 0xa5, 0xf3)).systolic));
});

test('malformed packets are refused, naming the field', () => {
  const refuses = (fn: () => unknown, pattern: RegExp) =>
    assert.throws(fn, (e: unknown) => e instanceof GattError && pattern.test(e.message));
  refuses(() => parseHeartRate(bytes()), /flags needs 1 bytes/);
  refuses(() => parseHeartRate(bytes(0x01, 72)), /heart rate \(uint16\) needs 2 bytes/);
  refuses(() => parseHeartRate(bytes(0x08, 72, 1)), /energy expended/);
  refuses(() => parseHeartRate(bytes(0x10, 72, 1)), /RR intervals need pairs of bytes, 1 left/);
  refuses(() => parseHeartRate(bytes(0x10, 72)), /RR intervals need pairs of bytes, 0 left/);
  refuses(() => parseHeartRate(bytes(0x00, 72, 9)), /1 bytes after the last field/);
  refuses(() => parseHeartRate(bytes(0x80, 72)), /reserved flag bits/);
  refuses(() => parseBloodPressure(bytes(0x00, 0x78, 0x00, 0x50)), /diastolic needs 2 bytes/);
  refuses(
    () => parseBloodPressure(bytes(0x02, 0x78, 0x00, 0x50, 0x00, 0xa5, 0xf3, 0xea, 0x07, 13, 1, 0, 0, 0)),
    /not a date/,
  );
  refuses(
    () => parseBloodPressure(bytes(0x02, 0x78, 0x00, 0x50, 0x00, 0xa5, 0xf3, 0xea, 0x07, 1)),
    /time stamp day/,
  );
  refuses(
    () => parseBloodPressure(bytes(0x04, 0x78, 0x00, 0x50, 0x00, 0xa5, 0xf3)),
    /pulse rate needs 2 bytes/,
  );
  refuses(() => parseBloodPressure(bytes(0x00, 0x78, 0x00, 0x50, 0x00, 0xa5, 0xf3, 0)), /1 bytes after/);
  refuses(() => parseBloodPressure(bytes(0x20, 0x78, 0x00, 0x50, 0x00, 0xa5, 0xf3)), /reserved flag bits/);
});
