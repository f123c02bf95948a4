/**
 * Tuple building (paper eq. 3): readings → tuple values (meta-functions in plaintext) → the
 * vectors to encrypt, one per ciphertext, in the template's layout:
 * - paper:  one reading; one ciphertext per tuple element (value in slot 0), as in the paper;
 * - packed: one reading; all elements in the slots of one ciphertext (written `copies` times, at
 *           a power-of-two stride, when each output gets its own block);
 * - batch:  many readings; one ciphertext per element, reading i in slot i (SIMD over time).
 */
import { ProtocolError } from './errors.ts';
import {
  checkProfile,
  checkReading,
  type MetaContext,
  metaFunction,
  type Profile,
} from './meta-functions.ts';
import type { Template } from './schema.ts';
import { blockSize } from './template.ts';
import type { VitalReading } from './vitals.ts';

/** The tuple's element values for one reading of a batch. */
export function tupleValues(template: Template, context: MetaContext): number[] {
  return template.elements.map((element) => metaFunction(element).compute(element, context));
}

/**
 * The plaintext vectors that become the encrypted tuple M. `slots` is the preset's slot count.
 * Every reading and profile value is range-checked first, and refused by name.
 */
export function layoutVectors(
  template: Template,
  readings: readonly VitalReading[],
  profile: Profile,
  slots: number,
): number[][] {
  if (readings.length === 0) throw new ProtocolError('LAYOUT', 'no readings to build a tuple from');
  readings.forEach((reading, i) => {
    checkReading(reading, i);
  });
  checkProfile(profile, template.profile);
  const rows = readings.map((reading) => tupleValues(template, { reading, batch: readings, profile }));
  const n = template.elements.length;
  switch (template.layout) {
    case 'paper':
    case 'packed': {
      if (readings.length !== 1) {
        throw new ProtocolError(
          'LAYOUT',
          `the ${template.layout} layout takes one reading, got ${readings.length}`,
        );
      }
      const row = rows[0] as number[];
      if (template.layout === 'paper') return row.map((v) => [v]);
      const copies = template.copies ?? 1;
      const stride = copies > 1 ? blockSize(template) : n;
      if (stride * (copies - 1) + n > slots) {
        throw new ProtocolError('LAYOUT', `${copies} × ${n} elements exceed ${slots} slots`);
      }
      if (copies === 1) return [row];
      const vector = new Array<number>(stride * (copies - 1) + n).fill(0);
      for (let b = 0; b < copies; b++) for (let i = 0; i < n; i++) vector[b * stride + i] = row[i] as number;
      return [vector];
    }
    case 'batch': {
      const capacity = Math.min(slots, template.batch?.readings ?? slots);
      if (readings.length > capacity) {
        throw new ProtocolError('LAYOUT', `${readings.length} readings exceed the batch of ${capacity}`);
      }
      return template.elements.map((_, e) => rows.map((row) => row[e] as number));
    }
  }
}
