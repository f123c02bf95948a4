/**
 * Parsers for the standard Bluetooth GATT characteristics a wearable sends (Bluetooth SIG, GATT
 * Specification Supplement; the Pulse Oximeter and Health Thermometer Service specifications):
 * Heart Rate Measurement (0x2A37), Blood Pressure Measurement (0x2A35), PLX Spot-check
 * Measurement (0x2A5E) and PLX Continuous Measurement (0x2A5F) of the Pulse Oximeter service
 * (0x1822), and Temperature Measurement (0x2A1C) of the Health Thermometer service (0x1809).
 * Bytes come straight from a notification or indication (Web Bluetooth's DataView, or a capture);
 * every malformed packet is refused with a GattError naming the field.
 */

export class GattError extends Error {
  override readonly name = 'GattError';
}

export const HEART_RATE_MEASUREMENT = 0x2a37;
export const BLOOD_PRESSURE_MEASUREMENT = 0x2a35;
export const PULSE_OXIMETER_SERVICE = 0x1822;
export const PLX_SPOT_CHECK_MEASUREMENT = 0x2a5e;
export const PLX_CONTINUOUS_MEASUREMENT = 0x2a5f;
export const HEALTH_THERMOMETER_SERVICE = 0x1809;
export const TEMPERATURE_MEASUREMENT = 0x2a1c;

export interface HeartRateMeasurement {
  /** Beats per minute. */
  heartRate: number;
  /** undefined when the sensor does not report contact. */
  sensorContact: boolean | undefined;
  /** Kilojoules since the last reset, when present. */
  energyExpended: number | undefined;
  /** RR intervals in seconds (the wire unit is 1/1024 s), oldest first. */
  rrIntervals: number[];
}

export type PulseRateRange = 'within' | 'above' | 'below' | 'reserved';

export interface MeasurementStatus {
  bodyMovement: boolean;
  cuffTooLoose: boolean;
  irregularPulse: boolean;
  pulseRateRange: PulseRateRange;
  improperPosition: boolean;
}

export interface BloodPressureMeasurement {
  /** Always mmHg (kPa on the wire is converted). NaN when the device sent "not a number". */
  systolic: number;
  diastolic: number;
  meanArterialPressure: number;
  /** What the device sent. */
  unit: 'mmHg' | 'kPa';
  /** Device local time, as sent (no zone): ISO 8601 without offset. */
  timestamp: string | undefined;
  pulseRate: number | undefined;
  userId: number | undefined;
  status: MeasurementStatus | undefined;
}

/** PLX Measurement Status (16 bits; bits 0–4 reserved), as the PLX Service specification names its bits. */
export interface PlxMeasurementStatus {
  measurementOngoing: boolean;
  earlyEstimatedData: boolean;
  validatedData: boolean;
  fullyQualifiedData: boolean;
  fromMeasurementStorage: boolean;
  forDemonstration: boolean;
  forTesting: boolean;
  calibrationOngoing: boolean;
  measurementUnavailable: boolean;
  questionableMeasurement: boolean;
  invalidMeasurement: boolean;
}

/** PLX Device and Sensor Status (24 bits; bits 16–23 reserved). */
export interface PlxDeviceStatus {
  extendedDisplayUpdateOngoing: boolean;
  equipmentMalfunction: boolean;
  signalProcessingIrregularity: boolean;
  inadequateSignal: boolean;
  poorSignal: boolean;
  lowPerfusion: boolean;
  erraticSignal: boolean;
  nonpulsatileSignal: boolean;
  questionablePulse: boolean;
  signalAnalysisOngoing: boolean;
  sensorInterference: boolean;
  sensorUnconnectedToUser: boolean;
  unknownSensorConnected: boolean;
  sensorDisplaced: boolean;
  sensorMalfunctioning: boolean;
  sensorDisconnected: boolean;
}

export interface SpO2PulseRate {
  /** Oxygen saturation, %. */
  spo2: number;
  /** Pulse rate, beats per minute. */
  pulseRate: number;
}

export interface PlxSpotCheckMeasurement extends SpO2PulseRate {
  /** Device local time, as sent (no zone): ISO 8601 without offset; undefined when absent or the clock is not set. */
  timestamp: string | undefined;
  /** False when the device says its clock is not set (its time stamp, if any, is then ignored). */
  deviceClockSet: boolean;
  measurementStatus: PlxMeasurementStatus | undefined;
  deviceStatus: PlxDeviceStatus | undefined;
  /** Pulse amplitude index, %. */
  pulseAmplitudeIndex: number | undefined;
}

export interface PlxContinuousMeasurement extends SpO2PulseRate {
  /** The device's fast- and slow-responding averages, when it sends them. */
  fast: SpO2PulseRate | undefined;
  slow: SpO2PulseRate | undefined;
  measurementStatus: PlxMeasurementStatus | undefined;
  deviceStatus: PlxDeviceStatus | undefined;
  pulseAmplitudeIndex: number | undefined;
}

/** Temperature Type (GATT Specification Supplement, "Temperature Type"): 1–9; 0 and 10–255 are reserved. */
export const TEMPERATURE_TYPES = Object.freeze([
  'armpit',
  'body (general)',
  'ear (usually earlobe)',
  'finger',
  'gastro-intestinal tract',
  'mouth',
  'rectum',
  'toe',
  'tympanum (ear drum)',
] as const);
export type TemperatureType = (typeof TEMPERATURE_TYPES)[number];

export interface TemperatureMeasurement {
  /** Always °C, rounded to 0.01 °C (°F on the wire is converted). */
  temperature: number;
  /** What the device sent, in its own unit. */
  measured: number;
  unit: 'Celsius' | 'Fahrenheit';
  /** Device local time, as sent (no zone): ISO 8601 without offset. */
  timestamp: string | undefined;
  /** Where on the body it was measured, when the device says. */
  type: TemperatureType | undefined;
}

/** 1 kPa in mmHg (1 mmHg = 133.322387415 Pa). */
export const MMHG_PER_KPA = 1000 / 133.322387415;

const bytesOf = (input: DataView | ArrayBufferView | ArrayBuffer): DataView =>
  input instanceof DataView
    ? input
    : ArrayBuffer.isView(input)
      ? new DataView(input.buffer, input.byteOffset, input.byteLength)
      : new DataView(input);

class Reader {
  #at = 0;
  constructor(
    readonly view: DataView,
    readonly what: string,
  ) {}

  get remaining(): number {
    return this.view.byteLength - this.#at;
  }

  #need(n: number, field: string): void {
    if (this.remaining < n) {
      throw new GattError(
        `${this.what}: ${field} needs ${n} bytes at offset ${this.#at}, only ${this.remaining} left`,
      );
    }
  }

  u8(field: string): number {
    this.#need(1, field);
    return this.view.getUint8(this.#at++);
  }

  u16(field: string): number {
    this.#need(2, field);
    const v = this.view.getUint16(this.#at, true);
    this.#at += 2;
    return v;
  }

  u24(field: string): number {
    this.#need(3, field);
    const v = this.view.getUint16(this.#at, true) | (this.view.getUint8(this.#at + 2) << 16);
    this.#at += 3;
    return v;
  }

  u32(field: string): number {
    this.#need(4, field);
    const v = this.view.getUint32(this.#at, true);
    this.#at += 4;
    return v;
  }

  sfloat(field: string): number {
    return sfloat(this.u16(field));
  }

  /** An SFLOAT that must be a measurement: a special value (NaN, NRes, ±INFINITY, reserved) is refused. */
  measuredSfloat(field: string): number {
    const raw = this.u16(field);
    const special = sfloatSpecial(raw);
    if (special) throw this.special(field, special, raw, 4);
    return sfloat(raw);
  }

  /** A 32-bit FLOAT that must be a measurement, likewise. */
  measuredFloat(field: string): number {
    const raw = this.u32(field);
    const special = floatSpecial(raw);
    if (special) throw this.special(field, special, raw, 8);
    return float11073(raw);
  }

  special(field: string, special: SpecialValue, raw: number, digits: number): GattError {
    return new GattError(
      `${this.what}: ${field} is the special value ${special} (0x${raw.toString(16).padStart(digits, '0')}): ${SPECIAL_MEANING[special]}, so there is no measurement to use`,
    );
  }

  /** A Date Time (7 bytes: year uint16, month, day, hours, minutes, seconds) as local ISO 8601 text. */
  dateTime(field: string, check = true): string {
    const year = this.u16(`${field} year`);
    const [month, day, hours, minutes, seconds] = ['month', 'day', 'hours', 'minutes', 'seconds'].map((f) =>
      this.u8(`${field} ${f}`),
    ) as [number, number, number, number, number];
    if (
      check &&
      (year < 1582 ||
        year > 9999 ||
        month < 1 ||
        month > 12 ||
        day < 1 ||
        day > 31 ||
        hours > 23 ||
        minutes > 59 ||
        seconds > 59)
    ) {
      throw new GattError(
        `${this.what}: ${field} ${year}-${month}-${day} ${hours}:${minutes}:${seconds} is not a date (0 year/month/day means "unknown" and is refused too)`,
      );
    }
    const two = (n: number) => String(n).padStart(2, '0');
    return `${year}-${two(month)}-${two(day)}T${two(hours)}:${two(minutes)}:${two(seconds)}`;
  }

  end(): void {
    if (this.remaining > 0) throw new GattError(`${this.what}: ${this.remaining} bytes after the last field`);
  }
}

/** The IEEE 11073-20601 special values (exponent 0, reserved mantissas). */
export type SpecialValue = 'NaN' | 'NRes' | '+INFINITY' | '-INFINITY' | 'reserved';

const SPECIAL_MEANING: Readonly<Record<SpecialValue, string>> = Object.freeze({
  NaN: 'not a number (the device has no valid value)',
  NRes: 'not at this resolution (the value does not fit the format)',
  '+INFINITY': 'positive infinity (above the sensor range)',
  '-INFINITY': 'negative infinity (below the sensor range)',
  reserved: 'a value reserved for future use',
});

/** Which special value a raw SFLOAT is (0x07FF NaN, 0x0800 NRes, 0x07FE +INF, 0x0802 −INF, 0x0801 reserved), if any. */
export function sfloatSpecial(raw: number): SpecialValue | undefined {
  switch (raw & 0xffff) {
    case 0x07ff:
      return 'NaN';
    case 0x0800:
      return 'NRes';
    case 0x07fe:
      return '+INFINITY';
    case 0x0802:
      return '-INFINITY';
    case 0x0801:
      return 'reserved';
    default:
      return undefined;
  }
}

/**
 * Which special value a raw 32-bit FLOAT is (0x007FFFFF NaN, 0x00800000 NRes, 0x007FFFFE +INF,
 * 0x00800002 −INF, 0x00800001 reserved), if any.
 */
export function floatSpecial(raw: number): SpecialValue | undefined {
  switch (raw >>> 0) {
    case 0x007fffff:
      return 'NaN';
    case 0x00800000:
      return 'NRes';
    case 0x007ffffe:
      return '+INFINITY';
    case 0x00800002:
      return '-INFINITY';
    case 0x00800001:
      return 'reserved';
    default:
      return undefined;
  }
}

/** m · 10^e, rounded to the digits the exponent allows (so 36.6 does not print as 36.60000000000001). */
const scaled = (m: number, e: number): number =>
  e < 0 && e >= -100 ? Number((m * 10 ** e).toFixed(-e)) : m * 10 ** e;

/**
 * IEEE 11073-20601 FLOAT (32 bits): a signed 8-bit exponent (base 10) over a signed 24-bit
 * mantissa. Special values as sfloat: NaN, NRes and reserved become NaN, the infinities ±Infinity.
 */
export function float11073(raw: number): number {
  const special = floatSpecial(raw);
  if (special === '+INFINITY') return Number.POSITIVE_INFINITY;
  if (special === '-INFINITY') return Number.NEGATIVE_INFINITY;
  if (special) return Number.NaN;
  const mantissa = raw & 0x00ffffff;
  const exponent = (raw >>> 24) & 0xff;
  const m = mantissa >= 0x800000 ? mantissa - 0x1000000 : mantissa;
  const e = exponent >= 0x80 ? exponent - 0x100 : exponent;
  return scaled(m, e);
}

/**
 * IEEE 11073-20601 SFLOAT: a signed 4-bit exponent (base 10) over a signed 12-bit mantissa.
 * The reserved mantissas with exponent 0 are NaN, NRes (not at this resolution), ±infinity and
 * a reserved value: all but the infinities become NaN.
 */
export function sfloat(raw: number): number {
  const mantissa = raw & 0x0fff;
  const exponent = raw >> 12;
  if (exponent === 0) {
    if (mantissa === 0x07fe) return Number.POSITIVE_INFINITY;
    if (mantissa === 0x0802) return Number.NEGATIVE_INFINITY;
    if (mantissa === 0x07ff || mantissa === 0x0800 || mantissa === 0x0801) return Number.NaN;
  }
  const m = mantissa >= 0x0800 ? mantissa - 0x1000 : mantissa;
  const e = exponent >= 0x8 ? exponent - 0x10 : exponent;
  // Rounding to the digits the exponent allows keeps 93.3 from printing as 93.30000000000001.
  return scaled(m, e);
}

export function parseHeartRate(input: DataView | ArrayBufferView | ArrayBuffer): HeartRateMeasurement {
  const r = new Reader(bytesOf(input), 'Heart Rate Measurement');
  const flags = r.u8('flags');
  if (flags & 0xe0)
    throw new GattError(`Heart Rate Measurement: reserved flag bits set (0x${flags.toString(16)})`);
  const heartRate = flags & 0x01 ? r.u16('heart rate (uint16)') : r.u8('heart rate (uint8)');
  const contactSupported = (flags & 0x04) !== 0;
  const energyExpended = flags & 0x08 ? r.u16('energy expended') : undefined;
  const rrIntervals: number[] = [];
  if (flags & 0x10) {
    if (r.remaining === 0 || r.remaining % 2 !== 0) {
      throw new GattError(`Heart Rate Measurement: RR intervals need pairs of bytes, ${r.remaining} left`);
    }
    while (r.remaining > 0) rrIntervals.push(r.u16('RR interval') / 1024);
  } else if (r.remaining > 0) {
    throw new GattError(`Heart Rate Measurement: ${r.remaining} bytes after the last field`);
  }
  return {
    heartRate,
    sensorContact: contactSupported ? (flags & 0x02) !== 0 : undefined,
    energyExpended,
    rrIntervals,
  };
}

const RANGES: readonly PulseRateRange[] = ['within', 'above', 'below', 'reserved'];

export function parseBloodPressure(
  input: DataView | ArrayBufferView | ArrayBuffer,
): BloodPressureMeasurement {
  const r = new Reader(bytesOf(input), 'Blood Pressure Measurement');
  const flags = r.u8('flags');
  if (flags & 0xe0) {
    throw new GattError(`Blood Pressure Measurement: reserved flag bits set (0x${flags.toString(16)})`);
  }
  const kPa = (flags & 0x01) !== 0;
  const toMmHg = (v: number) => (kPa ? Number((v * MMHG_PER_KPA).toFixed(1)) : v);
  const systolic = toMmHg(r.sfloat('systolic'));
  const diastolic = toMmHg(r.sfloat('diastolic'));
  const meanArterialPressure = toMmHg(r.sfloat('mean arterial pressure'));
  const timestamp = flags & 0x02 ? r.dateTime('time stamp') : undefined;
  const pulseRate = flags & 0x04 ? r.sfloat('pulse rate') : undefined;
  const userId = flags & 0x08 ? r.u8('user id') : undefined;
  let status: MeasurementStatus | undefined;
  if (flags & 0x10) {
    const s = r.u16('measurement status');
    status = {
      bodyMovement: (s & 0x01) !== 0,
      cuffTooLoose: (s & 0x02) !== 0,
      irregularPulse: (s & 0x04) !== 0,
      pulseRateRange: RANGES[(s >> 3) & 0x03] as PulseRateRange,
      improperPosition: (s & 0x20) !== 0,
    };
  }
  if (r.remaining > 0)
    throw new GattError(`Blood Pressure Measurement: ${r.remaining} bytes after the last field`);
  return {
    systolic,
    diastolic,
    meanArterialPressure,
    unit: kPa ? 'kPa' : 'mmHg',
    timestamp,
    pulseRate,
    userId,
    status,
  };
}

// ---------------------------------------------------------------------------------------------
// Pulse Oximeter service (0x1822): PLX Service specification v1.0 (Bluetooth SIG, 2015), the
// characteristics PLX Spot-check Measurement and PLX Continuous Measurement.

function plxMeasurementStatus(s: number): PlxMeasurementStatus {
  const bit = (n: number) => (s & (1 << n)) !== 0;
  return {
    measurementOngoing: bit(5),
    earlyEstimatedData: bit(6),
    validatedData: bit(7),
    fullyQualifiedData: bit(8),
    fromMeasurementStorage: bit(9),
    forDemonstration: bit(10),
    forTesting: bit(11),
    calibrationOngoing: bit(12),
    measurementUnavailable: bit(13),
    questionableMeasurement: bit(14),
    invalidMeasurement: bit(15),
  };
}

function plxDeviceStatus(s: number): PlxDeviceStatus {
  const bit = (n: number) => (s & (1 << n)) !== 0;
  return {
    extendedDisplayUpdateOngoing: bit(0),
    equipmentMalfunction: bit(1),
    signalProcessingIrregularity: bit(2),
    inadequateSignal: bit(3),
    poorSignal: bit(4),
    lowPerfusion: bit(5),
    erraticSignal: bit(6),
    nonpulsatileSignal: bit(7),
    questionablePulse: bit(8),
    signalAnalysisOngoing: bit(9),
    sensorInterference: bit(10),
    sensorUnconnectedToUser: bit(11),
    unknownSensorConnected: bit(12),
    sensorDisplaced: bit(13),
    sensorMalfunctioning: bit(14),
    sensorDisconnected: bit(15),
  };
}

const pair = (r: Reader, which: string): SpO2PulseRate => ({
  spo2: r.measuredSfloat(`${which}SpO2`),
  pulseRate: r.measuredSfloat(`${which}pulse rate`),
});

/**
 * PLX Spot-check Measurement (0x2A5E, indicated): flags (bit 0 time stamp present, bit 1
 * measurement status present, bit 2 device and sensor status present, bit 3 pulse amplitude index
 * present, bit 4 device clock not set; bits 5–7 reserved), SpO2 and pulse rate (SFLOAT each), then
 * the optional fields in that order: time stamp (Date Time, 7 bytes), measurement status (16
 * bits), device and sensor status (24 bits), pulse amplitude index (SFLOAT). A special value in
 * SpO2, pulse rate or the index is refused.
 */
export function parsePlxSpotCheck(input: DataView | ArrayBufferView | ArrayBuffer): PlxSpotCheckMeasurement {
  const r = new Reader(bytesOf(input), 'PLX Spot-check Measurement');
  const flags = r.u8('flags');
  if (flags & 0xe0) {
    throw new GattError(`PLX Spot-check Measurement: reserved flag bits set (0x${flags.toString(16)})`);
  }
  const { spo2, pulseRate } = pair(r, '');
  const deviceClockSet = (flags & 0x10) === 0;
  // With the clock not set the time stamp means nothing (often all zeros): read past it, unchecked.
  const stamp = flags & 0x01 ? r.dateTime('time stamp', deviceClockSet) : undefined;
  const measurementStatus = flags & 0x02 ? plxMeasurementStatus(r.u16('measurement status')) : undefined;
  const deviceStatus = flags & 0x04 ? plxDeviceStatus(r.u24('device and sensor status')) : undefined;
  const pulseAmplitudeIndex = flags & 0x08 ? r.measuredSfloat('pulse amplitude index') : undefined;
  r.end();
  return {
    spo2,
    pulseRate,
    timestamp: deviceClockSet ? stamp : undefined,
    deviceClockSet,
    measurementStatus,
    deviceStatus,
    pulseAmplitudeIndex,
  };
}

/**
 * PLX Continuous Measurement (0x2A5F, notified): flags (bit 0 SpO2PR-Fast present, bit 1
 * SpO2PR-Slow present, bit 2 measurement status present, bit 3 device and sensor status present,
 * bit 4 pulse amplitude index present; bits 5–7 reserved), SpO2PR-Normal (SpO2 and pulse rate,
 * SFLOAT each), then SpO2PR-Fast, SpO2PR-Slow (two SFLOATs each), measurement status (16 bits),
 * device and sensor status (24 bits) and pulse amplitude index (SFLOAT) as the flags announce. A
 * special value in any SpO2, pulse rate or the index is refused.
 */
export function parsePlxContinuous(
  input: DataView | ArrayBufferView | ArrayBuffer,
): PlxContinuousMeasurement {
  const r = new Reader(bytesOf(input), 'PLX Continuous Measurement');
  const flags = r.u8('flags');
  if (flags & 0xe0) {
    throw new GattError(`PLX Continuous Measurement: reserved flag bits set (0x${flags.toString(16)})`);
  }
  const normal = pair(r, '');
  const fast = flags & 0x01 ? pair(r, 'fast ') : undefined;
  const slow = flags & 0x02 ? pair(r, 'slow ') : undefined;
  const measurementStatus = flags & 0x04 ? plxMeasurementStatus(r.u16('measurement status')) : undefined;
  const deviceStatus = flags & 0x08 ? plxDeviceStatus(r.u24('device and sensor status')) : undefined;
  const pulseAmplitudeIndex = flags & 0x10 ? r.measuredSfloat('pulse amplitude index') : undefined;
  r.end();
  return { ...normal, fast, slow, measurementStatus, deviceStatus, pulseAmplitudeIndex };
}

const PLX_UNUSABLE: readonly [keyof PlxMeasurementStatus, string][] = [
  ['measurementUnavailable', 'measurement unavailable'],
  ['invalidMeasurement', 'invalid measurement detected'],
  ['questionableMeasurement', 'questionable measurement detected'],
  ['calibrationOngoing', 'calibration ongoing'],
  ['forDemonstration', 'data for demonstration'],
  ['forTesting', 'data for testing'],
];
const PLX_DEVICE_UNUSABLE: readonly [keyof PlxDeviceStatus, string][] = [
  ['equipmentMalfunction', 'equipment malfunction detected'],
  ['sensorMalfunctioning', 'sensor malfunctioning'],
  ['sensorDisconnected', 'sensor disconnected'],
  ['sensorUnconnectedToUser', 'sensor unconnected to user'],
  ['sensorDisplaced', 'sensor displaced'],
  ['unknownSensorConnected', 'unknown sensor connected'],
];

/**
 * Why an oximeter's own status says this measurement is not to be used (unavailable, invalid or
 * questionable, calibration, demonstration or test data, a faulty or displaced sensor), or
 * undefined. Poor signal or low perfusion alone are not reasons: the value is still the device's
 * measurement.
 */
export function plxUnusable(m: {
  measurementStatus: PlxMeasurementStatus | undefined;
  deviceStatus: PlxDeviceStatus | undefined;
}): string | undefined {
  const reasons = [
    ...PLX_UNUSABLE.filter(([k]) => m.measurementStatus?.[k]).map(([, t]) => t),
    ...PLX_DEVICE_UNUSABLE.filter(([k]) => m.deviceStatus?.[k]).map(([, t]) => t),
  ];
  return reasons.length > 0 ? `the oximeter reports ${reasons.join(', ')}` : undefined;
}

// ---------------------------------------------------------------------------------------------
// Health Thermometer service (0x1809): Health Thermometer Service specification v1.0 (Bluetooth
// SIG, 2011), the characteristic Temperature Measurement.

/** °F → °C, rounded to 0.01 °C (a 0.1 °F step is 0.056 °C, so nothing a thermometer resolves is lost). */
export const celsiusOf = (fahrenheit: number): number => Number((((fahrenheit - 32) * 5) / 9).toFixed(2));

/**
 * Temperature Measurement (0x2A1C, indicated): flags (bit 0 unit, 0 Celsius and 1 Fahrenheit; bit
 * 1 time stamp present; bit 2 temperature type present; bits 3–7 reserved), the temperature (a
 * 32-bit IEEE 11073-20601 FLOAT in that unit), then time stamp (Date Time, 7 bytes) and
 * temperature type (uint8) as the flags announce. A special value (NaN, NRes, ±INFINITY) is
 * refused; °F is converted to °C.
 */
export function parseTemperature(input: DataView | ArrayBufferView | ArrayBuffer): TemperatureMeasurement {
  const r = new Reader(bytesOf(input), 'Temperature Measurement');
  const flags = r.u8('flags');
  if (flags & 0xf8) {
    throw new GattError(`Temperature Measurement: reserved flag bits set (0x${flags.toString(16)})`);
  }
  const fahrenheit = (flags & 0x01) !== 0;
  const measured = r.measuredFloat('temperature');
  const timestamp = flags & 0x02 ? r.dateTime('time stamp') : undefined;
  let type: TemperatureType | undefined;
  if (flags & 0x04) {
    const code = r.u8('temperature type');
    type = TEMPERATURE_TYPES[code - 1];
    if (type === undefined)
      throw new GattError(`Temperature Measurement: temperature type ${code} is reserved`);
  }
  r.end();
  return {
    temperature: fahrenheit ? celsiusOf(measured) : measured,
    measured,
    unit: fahrenheit ? 'Fahrenheit' : 'Celsius',
    timestamp,
    type,
  };
}
