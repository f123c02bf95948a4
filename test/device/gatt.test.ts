import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  celsiusOf,
  float11073,
  floatSpecial,
  GattError,
  parseBloodPressure,
  parseHeartRate,
  parsePlxContinuous,
  parsePlxSpotCheck,
  parseTemperature,
  plxUnusable,
  sfloat,
  sfloatSpecial,
} from '../../src/device/gatt.ts';

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

// ---------------------------------------------------------------------------------------------
// Pulse Oximeter (0x1822) and Health Thermometer (0x1809). The byte layouts follow the field
// tables of the PLX Service and Health Thermometer Service specifications: a flags byte, the
// mandatory fields, then each optional field in table order when its flag is set; multi-byte
// fields little-endian.

const NO_STATUS = { measurementStatus: undefined, deviceStatus: undefined, pulseAmplitudeIndex: undefined };
const refuses = (fn: () => unknown, pattern: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof GattError && pattern.test(e.message), String(pattern));

test('special values: SFLOAT and FLOAT name NaN, NRes, ±INFINITY and reserved', () => {
  assert.equal(sfloatSpecial(0x07ff), 'NaN');
  assert.equal(sfloatSpecial(0x0800), 'NRes');
  assert.equal(sfloatSpecial(0x07fe), '+INFINITY');
  assert.equal(sfloatSpecial(0x0802), '-INFINITY');
  assert.equal(sfloatSpecial(0x0801), 'reserved');
  assert.equal(sfloatSpecial(0x0061), undefined);
  assert.equal(sfloatSpecial(0xf7ff), undefined); // exponent −1: an ordinary value
  assert.equal(floatSpecial(0x007fffff), 'NaN');
  assert.equal(floatSpecial(0x00800000), 'NRes');
  assert.equal(floatSpecial(0x007ffffe), '+INFINITY');
  assert.equal(floatSpecial(0x00800002), '-INFINITY');
  assert.equal(floatSpecial(0x00800001), 'reserved');
  assert.equal(floatSpecial(0xff00016e), undefined);
});

test('FLOAT (32-bit): 8-bit exponent over a 24-bit mantissa, negatives, rounding, specials', () => {
  assert.equal(float11073(0xff00016e), 36.6); // 366 × 10^-1
  assert.equal(float11073(0xfe000e4c), 36.6); // 3660 × 10^-2
  assert.equal(float11073(0x00000025), 37); // 37 × 10^0
  assert.equal(float11073(0x02000003), 300); // 3 × 10^2
  assert.equal(float11073(0xffffffff), -0.1); // mantissa −1, exponent −1
  assert.equal(float11073(0x00800003), -8388605); // the most negative ordinary mantissa with exponent 0
  assert.ok(Number.isNaN(float11073(0x007fffff)));
  assert.ok(Number.isNaN(float11073(0x00800000)));
  assert.equal(float11073(0x007ffffe), Number.POSITIVE_INFINITY);
  assert.equal(float11073(0x00800002), Number.NEGATIVE_INFINITY);
});

test('PLX Spot-check Measurement (0x2A5E): SpO2 and pulse rate alone', () => {
  // flags 0; SpO2 SFLOAT 0x0061 = 97 %; pulse rate 0x0048 = 72 /min.
  assert.deepEqual(parsePlxSpotCheck(bytes(0x00, 0x61, 0x00, 0x48, 0x00)), {
    spo2: 97,
    pulseRate: 72,
    timestamp: undefined,
    deviceClockSet: true,
    ...NO_STATUS,
  });
  assert.equal(parsePlxSpotCheck(new DataView(bytes(0x00, 0x5a, 0x00, 0x48, 0x00).buffer)).spo2, 90);
});

test('PLX Spot-check Measurement: every optional field the flags announce, in table order', () => {
  const m = parsePlxSpotCheck(
    bytes(
      0x0f, // time stamp, measurement status, device and sensor status, pulse amplitude index
      0xd9,
      0xf3, // SpO2 985 × 10^-1 = 98.5 %
      0x40,
      0x00, // pulse rate 64
      0xea,
      0x07,
      11,
      25,
      13,
      45,
      30, // 2026-11-25 13:45:30
      0x80,
      0x01, // measurement status: validated data (bit 7), fully qualified data (bit 8)
      0x20,
      0x00,
      0x00, // device and sensor status: low perfusion (bit 5)
      0x19,
      0xf0, // pulse amplitude index 25 × 10^-1 = 2.5 %
    ),
  );
  assert.equal(m.spo2, 98.5);
  assert.equal(m.pulseRate, 64);
  assert.equal(m.timestamp, '2026-11-25T13:45:30');
  assert.equal(m.deviceClockSet, true);
  assert.equal(m.pulseAmplitudeIndex, 2.5);
  assert.deepEqual(
    Object.entries(m.measurementStatus ?? {})
      .filter(([, v]) => v)
      .map(([k]) => k),
    ['validatedData', 'fullyQualifiedData'],
  );
  assert.deepEqual(
    Object.entries(m.deviceStatus ?? {})
      .filter(([, v]) => v)
      .map(([k]) => k),
    ['lowPerfusion'],
  );
  // Low perfusion alone does not make the value unusable.
  assert.equal(plxUnusable(m), undefined);
});

test('PLX Spot-check Measurement: device clock not set → its (zero) time stamp is ignored', () => {
  const m = parsePlxSpotCheck(bytes(0x11, 0x61, 0x00, 0x48, 0x00, 0, 0, 0, 0, 0, 0, 0));
  assert.equal(m.deviceClockSet, false);
  assert.equal(m.timestamp, undefined);
  // With the clock set, a zero date is refused as the blood-pressure parser refuses it.
  refuses(() => parsePlxSpotCheck(bytes(0x01, 0x61, 0x00, 0x48, 0x00, 0, 0, 0, 0, 0, 0, 0)), /not a date/);
});

test('PLX Continuous Measurement (0x2A5F): normal, fast and slow averages, status, index', () => {
  assert.deepEqual(parsePlxContinuous(bytes(0x00, 0x60, 0x00, 0x46, 0x00)), {
    spo2: 96,
    pulseRate: 70,
    fast: undefined,
    slow: undefined,
    ...NO_STATUS,
  });
  const m = parsePlxContinuous(
    bytes(
      0x1f, // fast, slow, measurement status, device and sensor status, pulse amplitude index
      0x5f,
      0x00,
      0x50,
      0x00, // normal: 95 %, 80 /min
      0x5e,
      0x00,
      0x52,
      0x00, // fast: 94 %, 82 /min
      0x60,
      0x00,
      0x4e,
      0x00, // slow: 96 %, 78 /min
      0x00,
      0x20, // measurement status: measurement unavailable (bit 13)
      0x00,
      0x20,
      0x01, // device and sensor status: sensor displaced (bit 13), a reserved bit (16)
      0x0c,
      0xf0, // pulse amplitude index 1.2 %
    ),
  );
  assert.equal(m.spo2, 95);
  assert.equal(m.pulseRate, 80);
  assert.deepEqual(m.fast, { spo2: 94, pulseRate: 82 });
  assert.deepEqual(m.slow, { spo2: 96, pulseRate: 78 });
  assert.equal(m.measurementStatus?.measurementUnavailable, true);
  assert.equal(m.measurementStatus?.invalidMeasurement, false);
  assert.equal(m.deviceStatus?.sensorDisplaced, true);
  assert.equal(m.pulseAmplitudeIndex, 1.2);
  assert.equal(plxUnusable(m), 'the oximeter reports measurement unavailable, sensor displaced');
  // Only the slow pair (flag bit 1).
  assert.deepEqual(parsePlxContinuous(bytes(0x02, 0x60, 0x00, 0x46, 0x00, 0x61, 0x00, 0x45, 0x00)).slow, {
    spo2: 97,
    pulseRate: 69,
  });
  // Invalid measurement (bit 15) with questionable (bit 14).
  assert.match(
    plxUnusable(parsePlxContinuous(bytes(0x04, 0x60, 0x00, 0x46, 0x00, 0x00, 0xc0))) ?? '',
    /invalid measurement detected, questionable measurement detected/,
  );
});

test('oximeter special values are refused with the field and its meaning', () => {
  refuses(
    () => parsePlxSpotCheck(bytes(0x00, 0xff, 0x07, 0x48, 0x00)),
    /SpO2 is the special value NaN \(0x07ff\): not a number/,
  );
  refuses(
    () => parsePlxSpotCheck(bytes(0x00, 0x00, 0x08, 0x48, 0x00)),
    /SpO2 is the special value NRes .*not at this resolution/,
  );
  refuses(
    () => parsePlxSpotCheck(bytes(0x00, 0xfe, 0x07, 0x48, 0x00)),
    /SpO2 is the special value \+INFINITY/,
  );
  refuses(
    () => parsePlxSpotCheck(bytes(0x00, 0x02, 0x08, 0x48, 0x00)),
    /SpO2 is the special value -INFINITY/,
  );
  refuses(() => parsePlxSpotCheck(bytes(0x00, 0x01, 0x08, 0x48, 0x00)), /SpO2 is the special value reserved/);
  refuses(
    () => parsePlxSpotCheck(bytes(0x00, 0x61, 0x00, 0xff, 0x07)),
    /pulse rate is the special value NaN/,
  );
  refuses(
    () => parsePlxSpotCheck(bytes(0x08, 0x61, 0x00, 0x48, 0x00, 0xff, 0x07)),
    /pulse amplitude index is the special value NaN/,
  );
  refuses(
    () => parsePlxContinuous(bytes(0x00, 0x61, 0x00, 0x00, 0x08)),
    /PLX Continuous Measurement: pulse rate is the special value NRes/,
  );
  refuses(
    () => parsePlxContinuous(bytes(0x01, 0x61, 0x00, 0x48, 0x00, 0xfe, 0x07, 0x48, 0x00)),
    /fast SpO2 is the special value \+INFINITY/,
  );
  refuses(
    () => parsePlxContinuous(bytes(0x02, 0x61, 0x00, 0x48, 0x00, 0x61, 0x00, 0x02, 0x08)),
    /slow pulse rate is the special value -INFINITY/,
  );
});

test('malformed oximeter packets are refused, naming the field', () => {
  refuses(() => parsePlxSpotCheck(bytes()), /flags needs 1 bytes/);
  refuses(() => parsePlxSpotCheck(bytes(0x00, 0x61, 0x00, 0x48)), /pulse rate needs 2 bytes/);
  refuses(() => parsePlxSpotCheck(bytes(0x20, 0x61, 0x00, 0x48, 0x00)), /reserved flag bits set \(0x20\)/);
  refuses(
    () => parsePlxSpotCheck(bytes(0x01, 0x61, 0x00, 0x48, 0x00, 0xea, 0x07, 11)),
    /time stamp day needs 1 bytes/,
  );
  refuses(
    () => parsePlxSpotCheck(bytes(0x02, 0x61, 0x00, 0x48, 0x00, 0x80)),
    /measurement status needs 2 bytes/,
  );
  refuses(
    () => parsePlxSpotCheck(bytes(0x04, 0x61, 0x00, 0x48, 0x00, 0x20, 0x00)),
    /device and sensor status needs 3 bytes/,
  );
  refuses(() => parsePlxSpotCheck(bytes(0x00, 0x61, 0x00, 0x48, 0x00, 0x00)), /1 bytes after the last field/);
  refuses(() => parsePlxContinuous(bytes(0x80, 0x61, 0x00, 0x48, 0x00)), /reserved flag bits set \(0x80\)/);
  refuses(
    () => parsePlxContinuous(bytes(0x01, 0x61, 0x00, 0x48, 0x00, 0x61, 0x00)),
    /fast pulse rate needs 2 bytes/,
  );
  refuses(
    () => parsePlxContinuous(bytes(0x10, 0x61, 0x00, 0x48, 0x00)),
    /pulse amplitude index needs 2 bytes/,
  );
  refuses(
    () => parsePlxContinuous(bytes(0x00, 0x61, 0x00, 0x48, 0x00, 1, 2)),
    /2 bytes after the last field/,
  );
});

test('Temperature Measurement (0x2A1C): Celsius, Fahrenheit converted, time stamp and type', () => {
  // flags 0 (°C); FLOAT 0xFF00016E = 366 × 10^-1 = 36.6 °C.
  assert.deepEqual(parseTemperature(bytes(0x00, 0x6e, 0x01, 0x00, 0xff)), {
    temperature: 36.6,
    measured: 36.6,
    unit: 'Celsius',
    timestamp: undefined,
    type: undefined,
  });
  // flags 1 (°F): 98.6 °F = 37 °C; 100.4 °F = 38 °C; 102.2 °F = 39 °C (the NEWS2 band edges stay exact).
  const f = (tenths: number) =>
    parseTemperature(bytes(0x01, tenths & 0xff, (tenths >> 8) & 0xff, 0x00, 0xff)).temperature;
  assert.equal(f(986), 37);
  assert.equal(f(1004), 38);
  assert.equal(f(1022), 39);
  assert.equal(f(950), 35);
  assert.equal(f(1013), 38.5);
  assert.equal(celsiusOf(32), 0);
  assert.equal(celsiusOf(-40), -40);
  // flags 7: °F, time stamp 2026-11-25 06:05:04, type 6 (mouth).
  assert.deepEqual(parseTemperature(bytes(0x07, 0xf5, 0x03, 0x00, 0xff, 0xea, 0x07, 11, 25, 6, 5, 4, 0x06)), {
    temperature: 38.5,
    measured: 101.3,
    unit: 'Fahrenheit',
    timestamp: '2026-11-25T06:05:04',
    type: 'mouth',
  });
  // Type alone (flags 4): 1 armpit … 9 tympanum.
  assert.equal(parseTemperature(bytes(0x04, 0x6e, 0x01, 0x00, 0xff, 0x01)).type, 'armpit');
  assert.equal(parseTemperature(bytes(0x04, 0x6e, 0x01, 0x00, 0xff, 0x09)).type, 'tympanum (ear drum)');
});

test('thermometer special values and malformed packets are refused', () => {
  refuses(
    () => parseTemperature(bytes(0x00, 0xff, 0xff, 0x7f, 0x00)),
    /temperature is the special value NaN \(0x007fffff\)/,
  );
  refuses(
    () => parseTemperature(bytes(0x00, 0x00, 0x00, 0x80, 0x00)),
    /temperature is the special value NRes/,
  );
  refuses(
    () => parseTemperature(bytes(0x01, 0xfe, 0xff, 0x7f, 0x00)),
    /temperature is the special value \+INFINITY/,
  );
  refuses(
    () => parseTemperature(bytes(0x00, 0x02, 0x00, 0x80, 0x00)),
    /temperature is the special value -INFINITY/,
  );
  refuses(
    () => parseTemperature(bytes(0x00, 0x01, 0x00, 0x80, 0x00)),
    /temperature is the special value reserved/,
  );
  refuses(() => parseTemperature(bytes(0x00, 0x6e, 0x01, 0x00)), /temperature needs 4 bytes/);
  refuses(() => parseTemperature(bytes(0x08, 0x6e, 0x01, 0x00, 0xff)), /reserved flag bits set \(0x8\)/);
  refuses(
    () => parseTemperature(bytes(0x04, 0x6e, 0x01, 0x00, 0xff, 0x00)),
    /temperature type 0 is reserved/,
  );
  refuses(
    () => parseTemperature(bytes(0x04, 0x6e, 0x01, 0x00, 0xff, 0x0a)),
    /temperature type 10 is reserved/,
  );
  refuses(() => parseTemperature(bytes(0x04, 0x6e, 0x01, 0x00, 0xff)), /temperature type needs 1 bytes/);
  refuses(
    () => parseTemperature(bytes(0x02, 0x6e, 0x01, 0x00, 0xff, 0xea, 0x07, 13, 1, 0, 0, 0)),
    /not a date/,
  );
  refuses(() => parseTemperature(bytes(0x00, 0x6e, 0x01, 0x00, 0xff, 0x00)), /1 bytes after the last field/);
});
