/**
 * JSON Schemas (TypeBox) for what the server tells the client: the tuple template P (eq. 2) and
 * its result schema. One definition gives the runtime validation, the TypeScript types and,
 * later, the server's OpenAPI document.
 */
import { type Static, Type } from '@sinclair/typebox';
import type { PresetId } from '../ckks/presets.ts';

const VitalSchema = Type.Union([Type.Literal('x'), Type.Literal('y'), Type.Literal('z'), Type.Literal('w')]);
const ProfileFieldSchema = Type.Union([
  Type.Literal('age'),
  Type.Literal('bmi'),
  Type.Literal('cholesterol'),
  Type.Literal('smoker'),
]);

export const ElementSpecSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[a-zA-Z][a-zA-Z0-9_]*$', maxLength: 64 }),
    fn: Type.String({ maxLength: 64 }),
    of: Type.Optional(Type.Union([VitalSchema, Type.Tuple([VitalSchema, VitalSchema])])),
    k: Type.Optional(Type.Integer({ minimum: 1, maximum: 4 })),
    from: Type.Optional(Type.Union([Type.Number(), Type.Null()])),
    to: Type.Optional(Type.Union([Type.Number(), Type.Null()])),
    field: Type.Optional(ProfileFieldSchema),
    /** For `deviation`: ((v − center)/spread)^k, which keeps squares small enough to encrypt. */
    center: Type.Optional(Type.Number()),
    spread: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  },
  { additionalProperties: false },
);

export const ResultSlotSchema = Type.Object(
  {
    name: Type.String({ maxLength: 64 }),
    unit: Type.String({ maxLength: 64 }),
    /** Which ciphertext of Z holds it, and which slot. */
    output: Type.Integer({ minimum: 0 }),
    slot: Type.Integer({ minimum: 0 }),
    description: Type.String({ maxLength: 300 }),
    /** The reference criteria the client applies to this value. */
    criteria: Type.String({ maxLength: 200 }),
  },
  { additionalProperties: false },
);

export const LayoutSchema = Type.Union([
  Type.Literal('paper'),
  Type.Literal('packed'),
  Type.Literal('batch'),
]);

export const TemplateSchema = Type.Object(
  {
    id: Type.String({ pattern: '^[a-z][a-z0-9-]*$', maxLength: 64 }),
    version: Type.Integer({ minimum: 1 }),
    preset: Type.Unsafe<PresetId>(Type.String({ maxLength: 32 })),
    layout: LayoutSchema,
    vitals: Type.Array(VitalSchema, { uniqueItems: true, maxItems: 4 }),
    profile: Type.Array(ProfileFieldSchema, { uniqueItems: true, maxItems: 4 }),
    elements: Type.Array(ElementSpecSchema, { minItems: 1, maxItems: 64 }),
    /** Batch layout: readings per upload (one per slot) and their spacing. */
    batch: Type.Optional(
      Type.Object(
        {
          readings: Type.Integer({ minimum: 1 }),
          intervalMinutes: Type.Number({ exclusiveMinimum: 0 }),
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * Packed layout: the element vector is written this many times, block b in slots
     * [b·m, b·m + n) with m the power of two ≥ n, so that one product and log2(m) rotations
     * give every output its own slot of one ciphertext (block k → output k at slot k·m).
     */
    copies: Type.Optional(Type.Integer({ minimum: 2, maximum: 64 })),
    result: Type.Array(ResultSlotSchema, { minItems: 1, maxItems: 64 }),
  },
  { additionalProperties: false },
);

export type Layout = Static<typeof LayoutSchema>;
export type ResultSlot = Static<typeof ResultSlotSchema>;
export type Template = Static<typeof TemplateSchema>;
