/**
 * CSV replay of recorded readings. The format, one reading a row after a header:
 *
 *   time,heart_rate,diastolic,systolic,respiratory_rate
 *   2024-01-01T08:00:00.000Z,72,78,121,15
 *
 * - time: ISO-8601 (`2024-01-01T08:00:00Z`, `…+01:00`, or without a zone: the device's own zone,
 *   as a wearable's export writes it), or integer milliseconds since the Unix epoch; strictly
 *   increasing row to row.
 * - heart_rate beats/min, diastolic and systolic mmHg, respiratory_rate breaths/min: decimal
 *   numbers within READING_LIMITS, diastolic below systolic. One exception: a respiratory rate
 *   from 0 up to the limit's minimum (2) is "no breathing detected", passed on as read so that the
 *   client's filter raises it to the person instead of the whole file being refused.
 * - Optional columns, each cell of which may be empty (not recorded): spo2 (%), temperature (°C),
 *   within OBSERVATION_LIMITS; supplemental_oxygen (yes/no, true/false or 1/0); consciousness
 *   (ACVPU: A, C, V, P or U, or alert, confusion, voice, pain, unresponsive).
 * Columns may come in any order; extra columns are ignored; blank lines and lines starting with
 * `#` are skipped. Every refusal is a CsvReadingError naming the line (1-based) and the column:
 * readCsv keeps the good rows and returns every bad one; parseCsv refuses the file at the first.
 */
import { CsvError, parse } from 'csv-parse/sync';
import {
  ACVPU_LETTERS,
  CONSCIOUSNESS_LEVELS,
  type Consciousness,
  OBSERVATION_LIMITS,
  READING_LIMITS,
  type Reading,
  VITAL_UNITS,
  type Vital,
} from './reading.ts';

export const CSV_COLUMNS = Object.freeze([
  'time',
  'heart_rate',
  'diastolic',
  'systolic',
  'respiratory_rate',
] as const);
export type CsvColumn = (typeof CSV_COLUMNS)[number];

/** Columns a file may add; an empty cell means "not recorded". */
export const CSV_OPTIONAL_COLUMNS = Object.freeze([
  'spo2',
  'temperature',
  'supplemental_oxygen',
  'consciousness',
] as const);
export type CsvOptionalColumn = (typeof CSV_OPTIONAL_COLUMNS)[number];

const YES = new Set(['yes', 'true', '1']);
const NO = new Set(['no', 'false', '0']);

/** A consciousness cell: an ACVPU letter or the level's name, any case. */
function consciousnessOf(s: string): Consciousness | undefined {
  const v = s.toLowerCase();
  return CONSCIOUSNESS_LEVELS.find((level) => level === v || ACVPU_LETTERS[level].toLowerCase() === v);
}

const VITAL_OF: Readonly<Record<Exclude<CsvColumn, 'time'>, Vital>> = Object.freeze({
  heart_rate: 'x',
  diastolic: 'y',
  systolic: 'z',
  respiratory_rate: 'w',
});

export class CsvReadingError extends Error {
  override readonly name = 'CsvReadingError';
  /** 1-based line of the input (for a quoted field spanning lines: where its record ends). */
  readonly line: number;
  /** The column at fault, when the fault is in one field. */
  readonly column: string | undefined;
  constructor(line: number, column: string | undefined, problem: string) {
    super(column === undefined ? `line ${line}: ${problem}` : `line ${line}, column ${column}: ${problem}`);
    this.line = line;
    this.column = column;
  }
}

interface Row {
  fields: string[];
  line: number;
}

function records(text: string): Row[] {
  try {
    const parsed: unknown = parse(text, {
      bom: true,
      comment: '#',
      skip_empty_lines: true,
      trim: true,
      relax_column_count: true, // column-count faults are reported below, with the column's name
      info: true, // each record comes as { record, info } (csv-parse's overloads do not type this)
    });
    return (parsed as { record: string[]; info: { lines: number } }[]).map((r) => ({
      fields: r.record,
      line: r.info.lines,
    }));
  } catch (e) {
    if (e instanceof CsvError) {
      const line = typeof e.lines === 'number' ? e.lines : 1;
      throw new CsvReadingError(line, undefined, `malformed CSV: ${e.message}`);
    }
    throw e;
  }
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const EPOCH_MS = /^\d+$/;
const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|[+-](\d{2}):?(\d{2}))?$/;

/** ms since the epoch, or a description of what is wrong. */
function parseTime(s: string): number | string {
  if (EPOCH_MS.test(s)) {
    const v = Number(s);
    return Number.isSafeInteger(v) ? v : `epoch milliseconds ${s} out of range`;
  }
  const m = ISO.exec(s);
  if (m === null) {
    return `"${s}" is neither ISO-8601 (2024-01-01T08:00:00Z, or without a zone for local time) nor epoch milliseconds`;
  }
  const [, ys, mos, ds, hs, mis, ss, fs, zone, zh, zm] = m;
  const [y, mo, d, h, mi] = [ys, mos, ds, hs, mis].map(Number) as [number, number, number, number, number];
  const sec = ss === undefined ? 0 : Number(ss);
  const ms = fs === undefined ? 0 : Number(fs.padEnd(3, '0'));
  const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth || h > 23 || mi > 59 || sec > 59) {
    return `"${s}" is not a valid date and time`;
  }
  if (zone === undefined) {
    // No zone: the device's local time, as the wearable that wrote it would mean it.
    const local = new Date(0);
    local.setFullYear(y, mo - 1, d);
    local.setHours(h, mi, sec, ms);
    return local.getTime();
  }
  let offset = 0;
  if (zone !== 'Z') {
    const oh = Number(zh);
    const om = Number(zm);
    if (oh > 14 || om > 59) return `"${s}" has an invalid zone offset`;
    offset = (zone?.startsWith('-') ? -1 : 1) * (oh * 60 + om);
  }
  const utc = new Date(0);
  utc.setUTCFullYear(y, mo - 1, d); // setUTCFullYear keeps years 0–99 literal, unlike Date.UTC
  utc.setUTCHours(h, mi, sec, ms);
  return utc.getTime() - offset * 60_000;
}

/** Parse a CSV of readings; throws CsvReadingError on the first bad row. */
export function parseCsv(text: string): Reading[] {
  const { readings, errors } = readCsv(text);
  if (errors[0]) throw errors[0];
  return readings;
}

export interface CsvRead {
  /** The good rows, in file order. */
  readings: Reading[];
  /** Every bad row, in file order: its line, its column and what is wrong. */
  errors: CsvReadingError[];
}

/**
 * Parse a CSV of readings, keeping the good rows and reporting every bad one (a file from a
 * wearable with one corrupt line still gives the rest). A bad header refuses the whole file.
 */
export function readCsv(text: string): CsvRead {
  const rows = records(text);
  const first = rows[0];
  if (first === undefined)
    throw new CsvReadingError(1, undefined, `no header row: expected ${CSV_COLUMNS.join(',')}`);
  const header = first;
  const index = new Map<string, number>();
  header.fields.forEach((name, i) => {
    if (index.has(name)) throw new CsvReadingError(header.line, name, 'appears twice in the header');
    index.set(name, i);
  });
  for (const c of CSV_COLUMNS) {
    if (!index.has(c)) {
      throw new CsvReadingError(
        header.line,
        c,
        `missing from the header (expected ${CSV_COLUMNS.join(',')})`,
      );
    }
  }
  const at = (c: CsvColumn) => index.get(c) as number;

  const out: Reading[] = [];
  const errors: CsvReadingError[] = [];
  let previous: { time: number; line: number } | undefined;
  for (const { fields, line } of rows.slice(1)) {
    try {
      const reading = row(fields, line);
      if (previous !== undefined && reading.time <= previous.time) {
        throw new CsvReadingError(
          line,
          'time',
          `${new Date(reading.time).toISOString()} is not after the previous reading (line ${previous.line})`,
        );
      }
      out.push(reading);
      previous = { time: reading.time, line };
    } catch (error) {
      if (!(error instanceof CsvReadingError)) throw error;
      errors.push(error);
    }
  }
  return { readings: out, errors };

  function row(fields: string[], line: number): Reading {
    if (fields.length > header.fields.length) {
      throw new CsvReadingError(
        line,
        undefined,
        `${fields.length} fields but the header has ${header.fields.length}`,
      );
    }
    const field = (c: CsvColumn): string => {
      const v = fields[at(c)];
      if (v === undefined || v === '') throw new CsvReadingError(line, c, 'missing value');
      return v;
    };
    const time = parseTime(field('time'));
    if (typeof time === 'string') throw new CsvReadingError(line, 'time', time);
    const reading: Reading = { time, x: 0, y: 0, z: 0, w: 0 };
    for (const [column, vital] of Object.entries(VITAL_OF) as [Exclude<CsvColumn, 'time'>, Vital][]) {
      const s = field(column);
      if (!NUMBER.test(s)) throw new CsvReadingError(line, column, `not a number: "${s}"`);
      const v = Number(s);
      const { min, max } = READING_LIMITS[vital];
      // 0 ≤ w < min is "no breathing detected": the filter reports it rather than the file failing.
      const noBreathing = vital === 'w' && v >= 0 && v < min;
      if (!(v >= min && v <= max) && !noBreathing) {
        throw new CsvReadingError(line, column, `${v} ${VITAL_UNITS[vital]} is outside ${min}–${max}`);
      }
      reading[vital] = v;
    }
    const optional = (c: CsvOptionalColumn): string | undefined => {
      const i = index.get(c);
      const v = i === undefined ? undefined : fields[i];
      return v === undefined || v === '' ? undefined : v;
    };
    for (const column of ['spo2', 'temperature'] as const) {
      const s = optional(column);
      if (s === undefined) continue;
      if (!NUMBER.test(s)) throw new CsvReadingError(line, column, `not a number: "${s}"`);
      const v = Number(s);
      const { min, max, unit } = OBSERVATION_LIMITS[column];
      if (!(v >= min && v <= max)) {
        throw new CsvReadingError(line, column, `${v} ${unit} is outside ${min}–${max}`);
      }
      reading[column] = v;
    }
    const oxygen = optional('supplemental_oxygen');
    if (oxygen !== undefined) {
      const o = oxygen.toLowerCase();
      if (!YES.has(o) && !NO.has(o)) {
        throw new CsvReadingError(line, 'supplemental_oxygen', `"${oxygen}" is not yes or no`);
      }
      reading.oxygen = YES.has(o);
    }
    const acvpu = optional('consciousness');
    if (acvpu !== undefined) {
      const level = consciousnessOf(acvpu);
      if (level === undefined) {
        throw new CsvReadingError(
          line,
          'consciousness',
          `"${acvpu}" is not on the ACVPU scale (A, C, V, P, U or alert, confusion, voice, pain, unresponsive)`,
        );
      }
      reading.consciousness = level;
    }
    if (reading.y >= reading.z) {
      throw new CsvReadingError(
        line,
        'diastolic',
        `diastolic ${reading.y} is not below systolic ${reading.z}`,
      );
    }
    return reading;
  }
}

export interface ToCsvOptions {
  /** How to write time: ISO-8601 UTC with milliseconds (default) or epoch milliseconds. */
  time?: 'iso' | 'epoch';
}

/**
 * Write readings in the format parseCsv reads (extra fields such as `truth` are left out). The
 * optional columns are written only when some reading has that observation.
 */
export function toCsv(readings: readonly Reading[], options: ToCsvOptions = {}): string {
  const has = {
    spo2: readings.some((r) => r.spo2 !== undefined),
    temperature: readings.some((r) => r.temperature !== undefined),
    supplemental_oxygen: readings.some((r) => r.oxygen !== undefined),
    consciousness: readings.some((r) => r.consciousness !== undefined),
  };
  const extra = CSV_OPTIONAL_COLUMNS.filter((c) => has[c]);
  const lines = [[...CSV_COLUMNS, ...extra].join(',')];
  readings.forEach((r, i) => {
    if (!Number.isSafeInteger(r.time))
      throw new RangeError(`reading ${i}: time must be integer ms, got ${r.time}`);
    for (const v of ['x', 'y', 'z', 'w'] as const) {
      if (!Number.isFinite(r[v]))
        throw new RangeError(`reading ${i}: ${v} must be a finite number, got ${r[v]}`);
    }
    for (const v of ['spo2', 'temperature'] as const) {
      if (r[v] !== undefined && !Number.isFinite(r[v]))
        throw new RangeError(`reading ${i}: ${v} must be a finite number, got ${r[v]}`);
    }
    if (r.consciousness !== undefined && !CONSCIOUSNESS_LEVELS.includes(r.consciousness))
      throw new RangeError(`reading ${i}: consciousness must be an ACVPU level, got ${r.consciousness}`);
    const time = options.time === 'epoch' ? String(r.time) : new Date(r.time).toISOString();
    const cells = extra.map((c) => {
      if (c === 'supplemental_oxygen') return r.oxygen === undefined ? '' : r.oxygen ? 'yes' : 'no';
      if (c === 'consciousness') return r.consciousness === undefined ? '' : ACVPU_LETTERS[r.consciousness];
      return r[c] === undefined ? '' : String(r[c]);
    });
    lines.push([time, r.x, r.y, r.z, r.w, ...cells].join(','));
  });
  return `${lines.join('\n')}\n`;
}
