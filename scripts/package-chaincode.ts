/**
 * `npm run chaincode:package`: the Fabric 2.5 chaincode package for `peer lifecycle chaincode
 * install`, chaincode-as-a-service layout: pmhe.tgz holding metadata.json ({"type":"ccaas",
 * "label":…}) and code.tar.gz, which holds connection.json (where the peer dials the chaincode
 * server). Options: `--address HOST:PORT` (replaces connection.json's address), `--label NAME`,
 * `--out FILE` (chaincode/pmhe.tgz by default). Prints the package ID the peer will compute.
 *
 * The package is reproducible: entries are written in a fixed order with mtime 0, so the same
 * inputs give the same bytes and the same package ID on every machine.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CHAINCODE_DIR = join(ROOT, 'chaincode');

/** Fabric's label rule (core/chaincode/persistence: LabelRegexp). */
const LABEL = /^[A-Za-z0-9][A-Za-z0-9_.+-]*$/;

export interface TarEntry {
  name: string;
  data: Uint8Array;
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/**
 * A POSIX ustar archive of regular files, all that a chaincode package holds (Fabric refuses
 * any other entry type at the top level). No dependency needed for two files.
 */
export function tar(entries: readonly TarEntry[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const { name, data } of entries) {
    const nameBytes = Buffer.from(name, 'utf8');
    if (nameBytes.length > 100) throw new Error(`tar entry name longer than 100 bytes: ${name}`);
    const header = Buffer.alloc(512);
    nameBytes.copy(header, 0);
    header.write(octal(0o644, 8), 100, 'ascii');
    header.write(octal(0, 8), 108, 'ascii'); // uid
    header.write(octal(0, 8), 116, 'ascii'); // gid
    header.write(octal(data.length, 12), 124, 'ascii');
    header.write(octal(0, 12), 136, 'ascii'); // mtime: reproducible packages
    header.write(' '.repeat(8), 148, 'ascii'); // checksum field counts as spaces while summing
    header.write('0', 156, 'ascii'); // regular file
    header.write('ustar\0', 257, 'ascii');
    header.write('00', 263, 'ascii');
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    blocks.push(header, data, new Uint8Array((512 - (data.length % 512)) % 512));
  }
  blocks.push(new Uint8Array(1024)); // two zero blocks end the archive
  return Buffer.concat(blocks);
}

export interface PackageOptions {
  /** host:port the peer dials; connection.json's (a {{.peername}} template) by default. */
  address?: string;
  /** Package label; metadata.json's by default. */
  label?: string;
  out?: string;
}

export interface PackageResult {
  path: string;
  label: string;
  /** What `peer lifecycle chaincode calculatepackageid` prints: label:sha256 of the package. */
  packageId: string;
  connection: Record<string, unknown>;
}

export async function packageChaincode(options: PackageOptions = {}): Promise<PackageResult> {
  const connection = JSON.parse(await readFile(join(CHAINCODE_DIR, 'connection.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  const metadata = JSON.parse(await readFile(join(CHAINCODE_DIR, 'metadata.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  if (options.address !== undefined) connection.address = options.address;
  if (options.label !== undefined) metadata.label = options.label;
  const label = metadata.label;
  if (typeof label !== 'string' || !LABEL.test(label)) {
    throw new Error(`chaincode label ${JSON.stringify(label)} must match ${LABEL.source}`);
  }
  if (metadata.type !== 'ccaas') throw new Error('chaincode/metadata.json: "type" must be "ccaas"');
  if (typeof connection.address !== 'string' || !/:\d+$/.test(connection.address)) {
    throw new Error(`chaincode connection address ${JSON.stringify(connection.address)} must be host:port`);
  }
  const json = (value: unknown): Uint8Array => Buffer.from(`${JSON.stringify(value, null, 2)}\n`);
  const code = gzipSync(tar([{ name: 'connection.json', data: json(connection) }]));
  const pkg = gzipSync(
    tar([
      { name: 'metadata.json', data: json(metadata) },
      { name: 'code.tar.gz', data: code },
    ]),
  );
  const path = resolve(options.out ?? join(CHAINCODE_DIR, `${label}.tgz`));
  await writeFile(path, pkg);
  const packageId = `${label}:${createHash('sha256').update(pkg).digest('hex')}`;
  return { path, label, packageId, connection };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const { values } = parseArgs({
    options: { address: { type: 'string' }, label: { type: 'string' }, out: { type: 'string' } },
  });
  const options: PackageOptions = {};
  if (values.address !== undefined) options.address = values.address;
  if (values.label !== undefined) options.label = values.label;
  if (values.out !== undefined) options.out = values.out;
  try {
    const result = await packageChaincode(options);
    console.log(`${relative(process.cwd(), result.path)}: peer dials ${String(result.connection.address)}`);
    console.log(`package ID: ${result.packageId}`);
    console.log('start the chaincode server with CHAINCODE_ID set to this package ID');
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  }
}
