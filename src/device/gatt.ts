/**
 * Parsers for the two standard Bluetooth GATT characteristics a wearable sends (Bluetooth SIG,
 * GATT Specification Supplement): Heart Rate Measurement (0x2A37) and Blood Pressure Measurement
 * (0x2A35). Bytes come straight from a notification (Web Bluetooth's DataView, or a capture);
 * every malformed packet is refused with a GattError naming the field.
 */

export class GattError extends Error {
  override readonly name = 'GattError';
}

export const HEART_RATE_MEASUREMENT = 0x2a37;
export const BLOOD_PRESSURE_MEASUREMENT = 0x2a35;

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

  sfloat(field: string): number {
    return sfloat(this.u16(field));
  }
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
  return e < 0 ? Number((m * 10 ** e).toFixed(-e)) : m * 10 ** e;
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
  let timestamp: string | undefined;
  if (flags & 0x02) {
    const year = r.u16('time stamp year');
    const [month, day, hours, minutes, seconds] = ['month', 'day', 'hours', 'minutes', 'seconds'].map((f) =>
      r.u8(`time stamp ${f}`),
    ) as [number, number, number, number, number];
    if (
      year < 1582 ||
      year > 9999 ||
      month < 1 ||
      month > 12 ||
      day < 1 ||
      day > 31 ||
      hours > 23 ||
      minutes > 59 ||
      seconds > 59
    ) {
      throw new GattError(
        `Blood Pressure Measurement: time stamp ${year}-${month}-${day} ${hours}:${minutes}:${seconds} is not a date (0 year/month/day means "unknown" and is refused too)`,
      );
    }
    const two = (n: number) => String(n).padStart(2, '0');
    timestamp = `${year}-${two(month)}-${two(day)}T${two(hours)}:${two(minutes)}:${two(seconds)}`;
  }
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
