import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CSV_COLUMNS,
  CsvReadingError,
  parseCsv,
  type Reading,
  readCsv,
  simulateCohort,
  simulatePerson,
  toCsv,
} from '../../src/device/index.ts';

const HEADER = CSV_COLUMNS.join(',');
const plain = ({ time, x, y, z, w }: Reading): Reading => ({ time, x, y, z, w });

/** Asserts that parsing `text` fails at `line` and `column` with a message matching `problem`. */
function refuses(text: string, line: number, column: string | undefined, problem: RegExp): void {
  assert.throws(
    () => parseCsv(text),
    (e: unknown) => {
      assert.ok(e instanceof CsvReadingError, String(e));
      assert.equal(e.line, line, e.message);
      assert.equal(e.column, column, e.message);
      assert.match(e.message, problem);
      assert.match(
        e.message,
        new RegExp(`^line ${line}${column === undefined ? ':' : `, column ${column}:`}`),
      );
      return true;
    },
  );
}

test('a simulated series survives toCsv → parseCsv unchanged, with ISO or epoch times', () => {
  for (const member of simulateCohort({ seed: 5, people: 6, days: 3 })) {
    const expected = member.readings.map(plain);
    assert.deepEqual(parseCsv(toCsv(member.readings)), expected);
    assert.deepEqual(parseCsv(toCsv(member.readings, { time: 'epoch' })), expected);
  }
});

test('toCsv writes the documented columns, ISO-8601 UTC with milliseconds, one row per reading', () => {
  const text = toCsv([{ time: Date.UTC(2024, 0, 1, 8), x: 72, y: 78, z: 121, w: 15 }]);
  assert.equal(text, `${HEADER}\n2024-01-01T08:00:00.000Z,72,78,121,15\n`);
  assert.equal(toCsv([]), `${HEADER}\n`);
  assert.deepEqual(parseCsv(toCsv([])), []);
  assert.throws(() => toCsv([{ time: 1.5, x: 72, y: 78, z: 121, w: 15 }]), /reading 0: time/);
  assert.throws(() => toCsv([{ time: 1, x: Number.NaN, y: 78, z: 121, w: 15 }]), /reading 0: x/);
});

test('the parser accepts any column order, extra columns, comments, blank lines, CRLF, a BOM, decimals and offsets', () => {
  const text = [
    '\ufeff# exported by a wearable',
    'systolic, respiratory_rate ,time,heart_rate,steps,diastolic',
    '',
    '121,15,2024-01-01T09:00:00+01:00,72,98,78',
    '# a comment between rows',
    '118.5,14,1704099600000,70.5,97,76',
    '119,16,2024-01-01T09:30Z,71,96,77',
  ].join('\r\n');
  assert.deepEqual(parseCsv(text), [
    { time: Date.UTC(2024, 0, 1, 8), x: 72, y: 78, z: 121, w: 15 },
    { time: Date.UTC(2024, 0, 1, 9), x: 70.5, y: 76, z: 118.5, w: 14 },
    { time: Date.UTC(2024, 0, 1, 9, 30), x: 71, y: 77, z: 119, w: 16 },
  ]);
});

test('the header must be there and complete', () => {
  refuses('', 1, undefined, /no header row/);
  refuses('# only a comment\n', 1, undefined, /no header row/);
  refuses('time,heart_rate,diastolic,systolic\n', 1, 'respiratory_rate', /missing from the header/);
  refuses(`${HEADER},heart_rate\n`, 1, 'heart_rate', /appears twice/);
  refuses(`# comment\n\n${HEADER.replace('time', 'timestamp')}\n`, 3, 'time', /missing from the header/);
});

test('a missing or empty field names its line and column', () => {
  refuses(
    `${HEADER}\n2024-01-01T00:00:00Z,70,80,120,15\n2024-01-01T00:15:00Z,70,80,120\n`,
    3,
    'respiratory_rate',
    /missing value/,
  );
  refuses(`${HEADER}\n2024-01-01T00:00:00Z,70,,120,15\n`, 2, 'diastolic', /missing value/);
  refuses(`${HEADER}\n,70,80,120,15\n`, 2, 'time', /missing value/);
  refuses(`${HEADER}\n2024-01-01T00:00:00Z,70,80,120,15,1\n`, 2, undefined, /6 fields but the header has 5/);
});

test('non-numeric values are refused', () => {
  for (const bad of ['abc', '70bpm', 'NaN', 'Infinity', '0x46', '7;0', '--70']) {
    refuses(`${HEADER}\n2024-01-01T00:00:00Z,${bad},80,120,15\n`, 2, 'heart_rate', /not a number/);
  }
  refuses(`${HEADER}\n2024-01-01T00:00:00Z,70,80,1 20,15\n`, 2, 'systolic', /not a number: "1 20"/);
});

test('values outside the physiological range are refused, limits included as valid', () => {
  const row = (x: string, y: string, z: string, w: string) =>
    `${HEADER}\n2024-01-01T00:00:00Z,${x},${y},${z},${w}\n`;
  refuses(row('0', '80', '120', '15'), 2, 'heart_rate', /0 beats\/min is outside 20–300/);
  refuses(row('-5', '80', '120', '15'), 2, 'heart_rate', /outside/);
  refuses(row('301', '80', '120', '15'), 2, 'heart_rate', /outside/);
  refuses(row('70', '19', '120', '15'), 2, 'diastolic', /19 mmHg is outside 20–200/);
  refuses(row('70', '80', '301', '15'), 2, 'systolic', /outside 40–300/);
  refuses(row('70', '80', '120', '-1'), 2, 'respiratory_rate', /-1 breaths\/min is outside 2–80/);
  refuses(row('70', '80', '120', '81'), 2, 'respiratory_rate', /outside/);
  // 0 up to 2 breaths/min is "no breathing detected": read as it is, for the filter to raise.
  assert.deepEqual(
    [parseCsv(row('70', '80', '120', '0'))[0]?.w, parseCsv(row('70', '80', '120', '1.9'))[0]?.w],
    [0, 1.9],
  );
  assert.equal(parseCsv(row('20', '20', '40', '2')).length, 1);
  assert.equal(parseCsv(row('300', '200', '300', '80')).length, 1);
});

test('diastolic at or above systolic is refused', () => {
  refuses(
    `${HEADER}\n2024-01-01T00:00:00Z,70,120,120,15\n`,
    2,
    'diastolic',
    /diastolic 120 is not below systolic 120/,
  );
  refuses(`${HEADER}\n2024-01-01T00:00:00Z,70,130,120,15\n`, 2, 'diastolic', /not below systolic/);
});

test("times must be valid and strictly increasing; a time without a zone is the device's local time", () => {
  const at = (t: string) => `${HEADER}\n${t},70,80,120,15\n`;
  assert.equal(parseCsv(at('2024-03-01T08:30:00'))[0]?.time, new Date(2024, 2, 1, 8, 30).getTime());
  assert.equal(parseCsv(at('2024-03-01T08:30'))[0]?.time, new Date(2024, 2, 1, 8, 30).getTime());
  refuses(at('2024-01-01'), 2, 'time', /neither/);
  refuses(at('yesterday'), 2, 'time', /neither/);
  refuses(at('-1000'), 2, 'time', /neither/);
  refuses(at('2024-02-30T00:00:00Z'), 2, 'time', /not a valid date/);
  refuses(at('2023-02-29T00:00:00Z'), 2, 'time', /not a valid date/);
  refuses(at('2024-01-01T24:00:00Z'), 2, 'time', /not a valid date/);
  refuses(at('2024-01-01T00:00:00+15:00'), 2, 'time', /invalid zone offset/);
  refuses(at('99999999999999999999'), 2, 'time', /out of range/);
  assert.equal(parseCsv(at('2024-02-29T23:59:59.5Z'))[0]?.time, Date.UTC(2024, 1, 29, 23, 59, 59, 500));
  const rows = (a: string, b: string) => `${HEADER}\n${a},70,80,120,15\n${b},70,80,120,15\n`;
  refuses(
    rows('2024-01-01T00:15:00Z', '2024-01-01T00:00:00Z'),
    3,
    'time',
    /not after the previous reading \(line 2\)/,
  );
  refuses(rows('2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z'), 3, 'time', /not after the previous reading/);
  // The same instant written two ways is still a repeat.
  refuses(rows('2024-01-01T01:00:00+01:00', '1704067200000'), 3, 'time', /not after the previous reading/);
});

test('malformed CSV (an unclosed quote) is reported with its line', () => {
  refuses(
    `${HEADER}\n2024-01-01T00:00:00Z,70,80,120,15\n"2024-01-01T00:15:00Z,70,80,120,15\n`,
    3,
    undefined,
    /malformed CSV/,
  );
});

test('a long simulated series with artifacts replays in full', () => {
  const series = simulatePerson({ persona: 'sepsis', seed: 12, days: 30 });
  assert.ok(series.some((r) => r.artifact !== undefined));
  assert.deepEqual(parseCsv(toCsv(series)), series.map(plain));
});

test('optional columns: SpO2, temperature, supplemental oxygen and ACVPU consciousness, empty = not recorded', () => {
  const text = [
    `${HEADER},spo2,temperature,supplemental_oxygen,consciousness`,
    '2024-01-01T08:00:00Z,72,78,121,15,97,36.8,no,A',
    '2024-01-01T08:15:00Z,92,70,101,23,91,38.4,Yes,confusion',
    '2024-01-01T08:30:00Z,95,70,99,24,,,,',
    '2024-01-01T08:45:00Z,96,70,98,25,88,39.2,1,u',
  ].join('\n');
  const t = (m: number) => Date.UTC(2024, 0, 1, 8, m);
  const readings = parseCsv(text);
  assert.deepEqual(readings, [
    {
      time: t(0),
      x: 72,
      y: 78,
      z: 121,
      w: 15,
      spo2: 97,
      temperature: 36.8,
      oxygen: false,
      consciousness: 'alert',
    },
    {
      time: t(15),
      x: 92,
      y: 70,
      z: 101,
      w: 23,
      spo2: 91,
      temperature: 38.4,
      oxygen: true,
      consciousness: 'confusion',
    },
    { time: t(30), x: 95, y: 70, z: 99, w: 24 },
    {
      time: t(45),
      x: 96,
      y: 70,
      z: 98,
      w: 25,
      spo2: 88,
      temperature: 39.2,
      oxygen: true,
      consciousness: 'unresponsive',
    },
  ]);
  // The round trip keeps them (letters and yes/no), and a file without them keeps five columns.
  assert.deepEqual(parseCsv(toCsv(readings)), readings);
  assert.equal(
    toCsv(readings).split('\n')[0],
    `${HEADER},spo2,temperature,supplemental_oxygen,consciousness`,
  );
  assert.equal(toCsv(readings).split('\n')[2], '2024-01-01T08:15:00.000Z,92,70,101,23,91,38.4,yes,C');
  assert.equal(
    toCsv([{ time: t(0), x: 72, y: 78, z: 121, w: 15, spo2: 97 }]).split('\n')[0],
    `${HEADER},spo2`,
  );
  // Only some of them, in any order.
  assert.deepEqual(
    parseCsv(`consciousness,${HEADER}\nV,2024-01-01T08:00:00Z,72,78,121,15\n`)[0]?.consciousness,
    'voice',
  );
});

test('optional columns: bad values are refused with their line and column', () => {
  const row = (cells: string) =>
    `${HEADER},spo2,temperature,supplemental_oxygen,consciousness\n2024-01-01T00:00:00Z,70,80,120,15,${cells}\n`;
  refuses(row('abc,,,'), 2, 'spo2', /not a number: "abc"/);
  refuses(row('0,,,'), 2, 'spo2', /0 % is outside 1–100/);
  refuses(row('101,,,'), 2, 'spo2', /101 % is outside 1–100/);
  refuses(row(',98.6,,'), 2, 'temperature', /98.6 °C is outside 25–45/);
  refuses(row(',24.9,,'), 2, 'temperature', /outside 25–45/);
  refuses(row(',,maybe,'), 2, 'supplemental_oxygen', /"maybe" is not yes or no/);
  refuses(row(',,,X'), 2, 'consciousness', /"X" is not on the ACVPU scale/);
  assert.equal(parseCsv(row('1,25,,'))[0]?.spo2, 1);
  assert.equal(parseCsv(row('100,45,,'))[0]?.temperature, 45);
  assert.throws(
    () => toCsv([{ time: 0, x: 72, y: 78, z: 121, w: 15, consciousness: 'asleep' as 'alert' }]),
    /consciousness must be an ACVPU level/,
  );
  assert.throws(
    () => toCsv([{ time: 0, x: 72, y: 78, z: 121, w: 15, spo2: Number.NaN }]),
    /spo2 must be a finite/,
  );
});

test('readCsv keeps the good rows and reports every bad one with its line and column', () => {
  const text = [
    HEADER,
    '2024-01-01T00:00:00Z,70,80,120,15',
    '2024-01-01T00:15:00Z,70,80,abc,15', // line 3: systolic not a number
    '2024-01-01T00:30:00Z,71,80,121,15',
    '2024-01-01T00:20:00Z,72,80,122,15', // line 5: before line 4
    '2024-01-01T00:45:00Z,900,80,122,15', // line 6: heart rate out of range
    '2024-01-01T01:00:00Z,73,80,123,15',
  ].join('\n');
  const { readings, errors } = readCsv(text);
  assert.deepEqual(
    readings.map((r) => r.x),
    [70, 71, 73],
  );
  assert.deepEqual(
    errors.map((e) => [e.line, e.column]),
    [
      [3, 'systolic'],
      [5, 'time'],
      [6, 'heart_rate'],
    ],
  );
  assert.match(errors[1]?.message ?? '', /not after the previous reading \(line 4\)/);
  // parseCsv stays strict: the first bad line refuses the file.
  assert.throws(
    () => parseCsv(text),
    (e: unknown) => e instanceof CsvReadingError && e.line === 3,
  );
  // A bad header refuses the whole file either way.
  assert.throws(() => readCsv('time,heart_rate\n'), /missing from the header/);
});
