/**
 * A reader for R workspaces (`.rda`/`.RData`: "RDX2"/"RDX3" + XDR serialization, R's
 * serialize.c) sufficient to take data frames out of CRAN packages without running R. It walks
 * the general object graph (pairlists, symbols, reference table, environments, ALTREP compact
 * sequences and wrappers) and refuses byte code, external pointers and other non-data objects
 * by name, with the byte offset where they appear.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';

export type RAttributes = ReadonlyMap<string, RObject>;

/** Vector payloads use `null` for R's NA; a double NaN that is not NA stays NaN. */
export type RObject =
  | { type: 'null' }
  | { type: 'symbol'; name: string }
  | { type: 'logical'; values: (boolean | null)[]; attributes: RAttributes }
  | { type: 'integer'; values: (number | null)[]; attributes: RAttributes }
  | { type: 'double'; values: (number | null)[]; attributes: RAttributes }
  | { type: 'string'; values: (string | null)[]; attributes: RAttributes }
  | { type: 'raw'; values: Uint8Array; attributes: RAttributes }
  | { type: 'list'; values: RObject[]; attributes: RAttributes }
  /** Pairlists, calls, closures and promises: tagged cells in order. */
  | {
      type: 'pairlist';
      sexp: number;
      cells: { tag: string | null; value: RObject }[];
      attributes: RAttributes;
    }
  | { type: 'environment'; name: string; frame: RObject | null; attributes: RAttributes }
  | { type: 's4'; attributes: RAttributes };

export type RColumn =
  | { type: 'integer'; values: (number | null)[] }
  | { type: 'double'; values: (number | null)[] }
  | { type: 'logical'; values: (boolean | null)[] }
  | { type: 'string'; values: (string | null)[] }
  /** `codes` are 1-based indices into `levels`, as in R; `values` are the labels. */
  | {
      type: 'factor';
      levels: string[];
      ordered: boolean;
      codes: (number | null)[];
      values: (string | null)[];
    };

export interface RDataFrame {
  rowCount: number;
  /** Column names in their stored order. */
  names: string[];
  columns: ReadonlyMap<string, RColumn>;
}

export class RDataError extends Error {
  override name = 'RDataError';
}

// SEXP type codes and pseudo-types of serialize.c.
const SEXP = {
  NIL: 0,
  SYM: 1,
  LIST: 2,
  CLO: 3,
  ENV: 4,
  PROM: 5,
  LANG: 6,
  SPECIAL: 7,
  BUILTIN: 8,
  CHAR: 9,
  LGL: 10,
  INT: 13,
  REAL: 14,
  CPLX: 15,
  STR: 16,
  DOT: 17,
  VEC: 19,
  EXPR: 20,
  BCODE: 21,
  EXTPTR: 22,
  WEAKREF: 23,
  RAW: 24,
  S4: 25,
  BASEENV: 241,
  EMPTYENV: 242,
  BCREPREF: 243,
  BCREPDEF: 244,
  GENERICREF: 245,
  CLASSREF: 246,
  PERSIST: 247,
  PACKAGE: 248,
  NAMESPACE: 249,
  BASENAMESPACE: 250,
  MISSINGARG: 251,
  UNBOUNDVALUE: 252,
  GLOBALENV: 253,
  NILVALUE: 254,
  REF: 255,
  ALTREP: 238,
  ATTRLIST: 239,
  ATTRLANG: 240,
} as const;

const NO_ATTRIBUTES: RAttributes = new Map();
const MAX_DEPTH = 1000;
const NA_INTEGER = -2147483648;
/** R's NA_real_ is a NaN whose low word is 1954. */
const NA_REAL_LOW_WORD = 1954;

const named = (name: string): RObject => ({
  type: 'environment',
  name,
  frame: null,
  attributes: NO_ATTRIBUTES,
});

class XdrReader {
  private offset = 0;
  private readonly view: DataView;
  /** Symbols, environments and persistent names, in order, for REFSXP back-references. */
  readonly refs: RObject[] = [];
  latin1 = false;
  depth = 0;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get position(): number {
    return this.offset;
  }

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  fail(message: string): never {
    throw new RDataError(`at byte ${this.offset}: ${message}`);
  }

  need(n: number, what: string): void {
    if (n > this.remaining) this.fail(`${what} needs ${n} bytes, only ${this.remaining} left (truncated?)`);
  }

  int(): number {
    this.need(4, 'an integer');
    const v = this.view.getInt32(this.offset, false);
    this.offset += 4;
    return v;
  }

  double(): number {
    this.need(8, 'a double');
    const v = this.view.getFloat64(this.offset, false);
    this.offset += 8;
    return v;
  }

  /** A double's NA-ness needs its bit pattern, not just its value. */
  doubleOrNa(): number | null {
    this.need(8, 'a double');
    const low = this.view.getUint32(this.offset + 4, false);
    const v = this.view.getFloat64(this.offset, false);
    this.offset += 8;
    return Number.isNaN(v) && low === NA_REAL_LOW_WORD ? null : v;
  }

  raw(n: number): Uint8Array {
    this.need(n, `${n} raw bytes`);
    const out = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  /** Vector length: an int, or -1 followed by two ints for long vectors. */
  length(elementSize: number, what: string): number {
    let n = this.int();
    if (n === -1) {
      const hi = this.int();
      const lo = this.int();
      n = hi * 2 ** 32 + (lo >>> 0);
    }
    if (n < 0) this.fail(`negative length ${n} for ${what}`);
    // Every element takes at least `elementSize` bytes: refuse lengths the input cannot hold.
    if (n * elementSize > this.remaining) {
      this.fail(`${what} of length ${n} cannot fit in the ${this.remaining} bytes left`);
    }
    return n;
  }
}

const TEXT_UTF8 = new TextDecoder('utf-8', { fatal: true });
const TEXT_LATIN1 = new TextDecoder('latin1');

/** Parses a decompressed workspace; returns its objects by name, in stored order. */
export function parseRData(bytes: Uint8Array): Map<string, RObject> {
  const magic = new TextDecoder('latin1').decode(bytes.subarray(0, 5));
  if (magic !== 'RDX2\n' && magic !== 'RDX3\n') {
    throw new RDataError(
      `not an R workspace: starts with ${JSON.stringify(magic)}, expected "RDX2\\n" or "RDX3\\n"`,
    );
  }
  // Annotated so that r.fail(): never narrows types (TS needs an explicit type for that).
  const r: XdrReader = new XdrReader(bytes.subarray(5));
  const format = new TextDecoder('latin1').decode(r.raw(2));
  if (format !== 'X\n') {
    r.fail(`serialization format ${JSON.stringify(format)} is not supported, only XDR ("X\\n")`);
  }
  const version = r.int();
  r.int(); // R version that wrote it
  r.int(); // oldest R version that can read it
  if (version === 3) {
    const n = r.length(1, 'native encoding name');
    const encoding = new TextDecoder('latin1').decode(r.raw(n));
    r.latin1 = /^(latin1|ISO-?8859-1)$/i.test(encoding);
  } else if (version !== 2) {
    r.fail(`serialization version ${version} is not supported (2 or 3)`);
  }
  const top = readItem(r);
  if (top.type === 'null') return new Map();
  if (top.type !== 'pairlist') r.fail(`a workspace is a pairlist of named objects, found ${top.type}`);
  const out = new Map<string, RObject>();
  for (const { tag, value } of top.cells) {
    if (tag === null) r.fail('workspace object without a name');
    out.set(tag, value);
  }
  return out;
}

/** Reads an `.rda` file compressed with xz (via `xz -dc`), gzip, or not at all. */
export async function readRDataFile(path: string): Promise<Map<string, RObject>> {
  const file = await readFile(path);
  return parseRData(await decompress(file, path));
}

async function decompress(file: Buffer, path: string): Promise<Uint8Array> {
  const starts = (...magic: number[]) => magic.every((b, i) => file[i] === b);
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) {
    try {
      const { stdout } = await promisify(execFile)('xz', ['-dc', path], {
        encoding: 'buffer',
        maxBuffer: 1 << 30,
      });
      return stdout;
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
      if (err.code === 'ENOENT')
        throw new RDataError(`${path} is xz-compressed and the xz command is missing`);
      throw new RDataError(`xz -dc ${path} failed: ${err.stderr?.toString().trim() || err.message}`);
    }
  }
  if (starts(0x1f, 0x8b)) return gunzipSync(file);
  if (starts(0x42, 0x5a, 0x68)) throw new RDataError(`${path} is bzip2-compressed, which is not supported`);
  return file;
}

/** Reads one object; `flags` is given when the caller already consumed the object's first word. */
function readItem(r: XdrReader, flags = r.int()): RObject {
  // Data frames nest two or three deep; a crafted file could nest until the stack overflows.
  if (++r.depth > MAX_DEPTH) r.fail(`objects nested more than ${MAX_DEPTH} deep`);
  try {
    return readItemBody(r, flags);
  } finally {
    r.depth--;
  }
}

function readItemBody(r: XdrReader, flags: number): RObject {
  const type = flags & 0xff;
  const levels = flags >>> 12;
  const hasAttributes = (flags & (1 << 9)) !== 0;

  switch (type) {
    case SEXP.NILVALUE:
      return { type: 'null' };
    case SEXP.EMPTYENV:
      return named('R_EmptyEnv');
    case SEXP.BASEENV:
      return named('R_BaseEnv');
    case SEXP.GLOBALENV:
      return named('R_GlobalEnv');
    case SEXP.BASENAMESPACE:
      return named('namespace:base');
    case SEXP.UNBOUNDVALUE:
    case SEXP.MISSINGARG:
      return { type: 'null' };
    case SEXP.REF: {
      const index = flags >> 8 === 0 ? r.int() : flags >> 8;
      const target = r.refs[index - 1];
      if (target === undefined)
        r.fail(`reference ${index} to an object not read yet (${r.refs.length} known)`);
      return target;
    }
    case SEXP.PERSIST:
    case SEXP.PACKAGE:
    case SEXP.NAMESPACE: {
      // A name (string vector) standing for an environment that the reader would look up.
      if (r.int() !== 0) r.fail('persistent-name string vector must start with 0');
      const n = r.length(4, 'persistent name');
      const parts: string[] = [];
      for (let i = 0; i < n; i++) parts.push(asString(readItem(r), r, 'persistent name'));
      const env = named(`${type === SEXP.PERSIST ? 'persistent' : 'namespace'}:${parts.join(' ')}`);
      r.refs.push(env);
      return env;
    }
    case SEXP.SYM: {
      const symbol: RObject = { type: 'symbol', name: asString(readItem(r), r, 'symbol name') };
      r.refs.push(symbol);
      return symbol;
    }
    case SEXP.ENV: {
      r.int(); // locked
      const env: { type: 'environment'; name: string; frame: RObject | null; attributes: RAttributes } = {
        type: 'environment',
        name: '',
        frame: null,
        attributes: NO_ATTRIBUTES,
      };
      r.refs.push(env); // before its contents: they may refer back to it
      readItem(r); // enclosure
      const frame = readItem(r);
      const hashtab = readItem(r);
      env.frame = frame.type === 'null' ? hashtab : frame;
      env.attributes = attributesOf(readItem(r), r);
      return env;
    }
    case SEXP.LIST:
    case SEXP.LANG:
    case SEXP.CLO:
    case SEXP.PROM:
    case SEXP.DOT:
    case SEXP.ATTRLIST:
    case SEXP.ATTRLANG:
      return readPairlist(r, flags);
    case SEXP.ALTREP:
      return readAltrep(r);
    case SEXP.S4:
      return { type: 's4', attributes: hasAttributes ? attributesOf(readItem(r), r) : NO_ATTRIBUTES };
    case SEXP.CHAR:
      // A bare CHARSXP only occurs inside strings and symbols; read it as a one-element vector.
      return { type: 'string', values: [readChars(r, levels)], attributes: NO_ATTRIBUTES };
    default:
      break;
  }

  let object: RObject;
  switch (type) {
    case SEXP.LGL: {
      const n = r.length(4, 'logical vector');
      const values: (boolean | null)[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const v = r.int();
        values[i] = v === NA_INTEGER ? null : v !== 0;
      }
      object = { type: 'logical', values, attributes: NO_ATTRIBUTES };
      break;
    }
    case SEXP.INT: {
      const n = r.length(4, 'integer vector');
      const values: (number | null)[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const v = r.int();
        values[i] = v === NA_INTEGER ? null : v;
      }
      object = { type: 'integer', values, attributes: NO_ATTRIBUTES };
      break;
    }
    case SEXP.REAL: {
      const n = r.length(8, 'double vector');
      const values: (number | null)[] = new Array(n);
      for (let i = 0; i < n; i++) values[i] = r.doubleOrNa();
      object = { type: 'double', values, attributes: NO_ATTRIBUTES };
      break;
    }
    case SEXP.STR: {
      const n = r.length(4, 'string vector');
      const values: (string | null)[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const flagsI = r.int();
        if ((flagsI & 0xff) !== SEXP.CHAR)
          r.fail(`string vector element ${i} has SEXP type ${flagsI & 0xff}`);
        values[i] = readChars(r, flagsI >>> 12);
      }
      object = { type: 'string', values, attributes: NO_ATTRIBUTES };
      break;
    }
    case SEXP.VEC:
    case SEXP.EXPR: {
      const n = r.length(4, 'list');
      const values: RObject[] = [];
      for (let i = 0; i < n; i++) values.push(readItem(r));
      object = { type: 'list', values, attributes: NO_ATTRIBUTES };
      break;
    }
    case SEXP.RAW: {
      const n = r.length(1, 'raw vector');
      object = { type: 'raw', values: r.raw(n).slice(), attributes: NO_ATTRIBUTES };
      break;
    }
    default:
      return r.fail(`unsupported object: SEXP type ${type} (${typeName(type)})`);
  }
  if (hasAttributes) object.attributes = attributesOf(readItem(r), r);
  return object;
}

/** Pairlist cells are read in a loop along the CDR chain, so long lists do not deepen the stack. */
function readPairlist(r: XdrReader, firstFlags: number): RObject {
  const sexp = firstFlags & 0xff;
  const cells: { tag: string | null; value: RObject }[] = [];
  let attributes: RAttributes = NO_ATTRIBUTES;
  let flags = firstFlags;
  for (;;) {
    const type = flags & 0xff;
    const hasAttributes = (flags & (1 << 9)) !== 0 || type === SEXP.ATTRLIST || type === SEXP.ATTRLANG;
    const hasTag = (flags & (1 << 10)) !== 0;
    const attrs = hasAttributes ? attributesOf(readItem(r), r) : NO_ATTRIBUTES;
    if (cells.length === 0) attributes = attrs;
    let tag: string | null = null;
    if (hasTag) {
      // Closures and promises keep their environment in the tag slot: only symbols name a cell.
      const t = readItem(r);
      tag = t.type === 'symbol' ? t.name : null;
    }
    cells.push({ tag, value: readItem(r) });
    // The CDR: another cell of the same kind continues the loop, anything else ends the list.
    const next = r.int();
    const nextType = next & 0xff;
    if (nextType === SEXP.LIST || nextType === SEXP.ATTRLIST) {
      flags = next;
      continue;
    }
    if (nextType !== SEXP.NILVALUE) {
      // Closures and promises end in a body/environment that is not a list: keep it as a cell.
      cells.push({ tag: null, value: readItem(r, next) });
    }
    return { type: 'pairlist', sexp, cells, attributes };
  }
}

/** ALTREP objects serialize as (class info, state, attributes); we expand the known classes. */
function readAltrep(r: XdrReader): RObject {
  const info = readItem(r);
  const state = readItem(r);
  const attributes = attributesOf(readItem(r), r);
  const className =
    info.type === 'pairlist' && info.cells[0]?.value.type === 'symbol' ? info.cells[0].value.name : undefined;
  switch (className) {
    case 'compact_intseq':
    case 'compact_realseq': {
      const s = state.type === 'double' || state.type === 'integer' ? state.values : [];
      const [n, first, step] = s;
      if (s.length !== 3 || n == null || first == null || step == null || !Number.isInteger(n) || n < 0) {
        r.fail(`${className} state must be (length, first, step), got ${describe(state)}`);
      }
      if (n > 1 << 28) r.fail(`${className} of length ${n} is too long to expand`);
      const values = Array.from({ length: n }, (_, i) => first + i * step);
      return className === 'compact_intseq'
        ? { type: 'integer', values, attributes }
        : { type: 'double', values, attributes };
    }
    case 'wrap_integer':
    case 'wrap_real':
    case 'wrap_logical':
    case 'wrap_string':
    case 'wrap_list':
    case 'wrap_raw': {
      // State is (wrapped vector . metadata); the wrapper only caches sortedness and NA-ness.
      const wrapped = state.type === 'pairlist' ? state.cells[0]?.value : undefined;
      if (wrapped === undefined || !('values' in wrapped)) {
        r.fail(`${className} state must wrap a vector, got ${describe(state)}`);
      }
      return { ...wrapped, attributes } as RObject;
    }
    case 'deferred_string': {
      // State is (argument . scipen); integers convert to strings exactly, doubles would need R's formatting.
      const arg = state.type === 'pairlist' ? state.cells[0]?.value : undefined;
      if (arg?.type !== 'integer') r.fail(`deferred_string of ${describe(arg ?? state)} is not supported`);
      return { type: 'string', values: arg.values.map((v) => (v === null ? null : String(v))), attributes };
    }
    default:
      return r.fail(`unsupported ALTREP class ${className ?? describe(info)}`);
  }
}

function readChars(r: XdrReader, levels: number): string | null {
  const n = r.int();
  if (n === -1) return null;
  if (n < 0) r.fail(`negative string length ${n}`);
  const bytes = r.raw(n);
  const latin1 = (levels & 4) !== 0;
  const utf8 = (levels & 8) !== 0;
  const ascii = (levels & 64) !== 0;
  const bytesEncoded = (levels & 2) !== 0;
  if (latin1 || (!utf8 && !ascii && !bytesEncoded && r.latin1)) return TEXT_LATIN1.decode(bytes);
  try {
    return TEXT_UTF8.decode(bytes);
  } catch {
    return r.fail(`string of ${n} bytes is not valid UTF-8`);
  }
}

function attributesOf(object: RObject, r: XdrReader): RAttributes {
  if (object.type === 'null') return NO_ATTRIBUTES;
  if (object.type !== 'pairlist') r.fail(`attributes must be a pairlist, found ${object.type}`);
  const out = new Map<string, RObject>();
  for (const { tag, value } of object.cells) {
    if (tag === null) r.fail('attribute without a name');
    out.set(tag, value);
  }
  return out;
}

function asString(object: RObject, r: XdrReader, what: string): string {
  if (object.type === 'string' && object.values.length === 1 && object.values[0] != null) {
    return object.values[0];
  }
  return r.fail(`${what} must be a string, found ${describe(object)}`);
}

function describe(object: RObject): string {
  return 'values' in object ? `${object.type}[${object.values.length}]` : object.type;
}

function typeName(type: number): string {
  const entry = Object.entries(SEXP).find(([, code]) => code === type);
  return entry ? `${entry[0]}SXP` : 'unknown';
}

function stringsOf(attributes: RAttributes, name: string): (string | null)[] | undefined {
  const a = attributes.get(name);
  return a?.type === 'string' ? a.values : undefined;
}

/** Interprets an object as a data.frame: column vectors of equal length, named, with row.names. */
export function asDataFrame(object: RObject, what = 'object'): RDataFrame {
  if (object.type !== 'list') throw new RDataError(`${what} is a ${object.type}, not a data.frame`);
  const classes = stringsOf(object.attributes, 'class') ?? [];
  if (!classes.includes('data.frame')) {
    throw new RDataError(`${what} has class ${JSON.stringify(classes)}, not data.frame`);
  }
  const names = stringsOf(object.attributes, 'names');
  if (names === undefined || names.length !== object.values.length) {
    throw new RDataError(`${what} has ${object.values.length} columns but ${names?.length ?? 'no'} names`);
  }
  const rowCount = rowCountOf(object.attributes.get('row.names'), what);
  const columns = new Map<string, RColumn>();
  object.values.forEach((column, i) => {
    const name = names[i];
    if (name == null || name === '') throw new RDataError(`${what} column ${i + 1} has no name`);
    if (columns.has(name)) throw new RDataError(`${what} has two columns named "${name}"`);
    const c = asColumn(column, `${what}$${name}`);
    if (c.values.length !== rowCount) {
      throw new RDataError(`${what}$${name} has ${c.values.length} values for ${rowCount} rows`);
    }
    columns.set(name, c);
  });
  return { rowCount, names: names as string[], columns };
}

function rowCountOf(rowNames: RObject | undefined, what: string): number {
  if (rowNames === undefined) throw new RDataError(`${what} has no row.names`);
  // Compact form c(NA, -n) (automatic names) or c(NA, n).
  if (rowNames.type === 'integer' && rowNames.values.length === 2 && rowNames.values[0] === null) {
    const n = rowNames.values[1];
    if (n == null) throw new RDataError(`${what} has compact row.names with NA length`);
    return Math.abs(n);
  }
  if (rowNames.type === 'integer' || rowNames.type === 'string' || rowNames.type === 'double') {
    return rowNames.values.length;
  }
  throw new RDataError(`${what} has row.names of type ${rowNames.type}`);
}

function asColumn(object: RObject, what: string): RColumn {
  const classes = 'attributes' in object ? (stringsOf(object.attributes, 'class') ?? []) : [];
  if (classes.includes('factor')) {
    if (object.type !== 'integer') throw new RDataError(`${what} is a factor stored as ${object.type}`);
    const levels = stringsOf(object.attributes, 'levels');
    if (levels === undefined || levels.some((l) => l === null)) {
      throw new RDataError(`${what} is a factor without string levels`);
    }
    const labels = levels as string[];
    const values = object.values.map((code, row) => {
      if (code === null) return null;
      const label = labels[code - 1];
      if (label === undefined) {
        throw new RDataError(`${what} row ${row + 1} has code ${code} outside its ${labels.length} levels`);
      }
      return label;
    });
    return {
      type: 'factor',
      levels: labels,
      ordered: classes.includes('ordered'),
      codes: object.values,
      values,
    };
  }
  switch (object.type) {
    case 'integer':
    case 'double':
    case 'logical':
    case 'string':
      return { type: object.type, values: object.values } as RColumn;
    default:
      throw new RDataError(`${what} is a ${object.type} column, not a vector this reader supports`);
  }
}
