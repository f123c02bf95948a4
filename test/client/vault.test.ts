import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { decode, encode, rfc8949EncodeOptions } from 'cborg';
import {
  CkksContext,
  Decryptor,
  Encryptor,
  loadCiphertext,
  loadKey,
  SecretKey,
} from '../../src/ckks/index.ts';
import { FolderStore } from '../../src/client/node/folder-store.ts';
import { type ClientStore, MemoryStore } from '../../src/client/store.ts';
import {
  changePassphrase,
  DEFAULT_KDF,
  exportBackup,
  FAST_KDF_FOR_TESTS,
  importBackup,
  inspectVault,
  type KdfParams,
  openVault,
  sealVault,
  VAULT_KEY,
  Vault,
  type VaultContents,
  VaultError,
  type VaultErrorCode,
  type VaultSubscription,
} from '../../src/client/vault.ts';
import {
  exportPrivateKey,
  exportPublicKey,
  generateIdentity,
  importPrivateKey,
  sign,
  verify,
} from '../../src/protocol/identity.ts';

const FAST = { kdf: FAST_KDF_FOR_TESTS };
const PASS = 'correct horse battery staple';
const OTHER = 'a different passphrase';
const VALUES = [72, 121.5, 0.25, -3, 98.6];

let context: CkksContext;
let secret: SecretKey;
let secretBytes: Uint8Array;
let seed: Uint8Array;
let publicKey: Uint8Array;
let sample: Uint8Array; // a vault of `contents()` under PASS, FAST
const temps: string[] = [];

before(async () => {
  context = await CkksContext.create('secure-4096');
  secret = SecretKey.generate(context);
  secretBytes = secret.save();
  const identity = await generateIdentity();
  seed = await exportPrivateKey(identity.privateKey);
  publicKey = await exportPublicKey(identity.publicKey);
  sample = await sealVault(contents(), PASS, FAST);
});
after(async () => {
  secret.dispose();
  for (const dir of temps) await rm(dir, { recursive: true, force: true });
});

const tempDir = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pmhe-vault-'));
  temps.push(dir);
  return dir;
};

function contents(extra: Partial<VaultContents> = {}): VaultContents {
  return {
    userId: 'alice',
    server: 'https://pmhe.example',
    createdAt: 1_760_000_000_000,
    identitySeed: seed,
    subscriptions: [
      {
        modelId: 'chd-logistic',
        layout: 'packed',
        presetId: 'secure-4096',
        ckksSecretKey: secretBytes,
        addedAt: 1_760_000_000_000,
      },
    ],
    profile: { age: 54, sex: 1, height: 1.72 },
    ...extra,
  };
}

async function refuses(promise: Promise<unknown>, code: VaultErrorCode, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof VaultError, `expected a VaultError, got ${String(e)}`);
    assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
    if (message) assert.match(e.message, message);
    return true;
  });
}

/** The documented layout (docs/client.md): offsets of each part. */
function layout(bytes: Uint8Array) {
  const headerBytes = (bytes[5] ?? 0) | ((bytes[6] ?? 0) << 8);
  const prefixEnd = 7 + headerBytes;
  return {
    headerStart: 7,
    prefixEnd,
    check: prefixEnd,
    ciphertext: prefixEnd + 32,
    tag: bytes.length - 32 - 16,
    checksum: bytes.length - 32,
  };
}

const sha256 = async (bytes: Uint8Array) =>
  new Uint8Array(await crypto.subtle.digest('SHA-256', new Uint8Array(bytes)));

/** Rewrites the trailing checksum: what someone altering the file on purpose would do. */
async function withChecksum(bytes: Uint8Array): Promise<Uint8Array> {
  const out = new Uint8Array(bytes);
  out.set(await sha256(out.subarray(0, out.length - 32)), out.length - 32);
  return out;
}

function flipped(bytes: Uint8Array, at: number, mask: number): Uint8Array {
  const out = new Uint8Array(bytes);
  out[at] = (out[at] ?? 0) ^ mask;
  return out;
}

/**
 * An independent writer that follows docs/client.md step by step, so the tests check the
 * documented format and can seal contents sealVault itself would refuse.
 */
async function sealPerDocs(
  plaintext: Uint8Array,
  passphrase: string,
  options: { version?: number; kdf?: Record<string, unknown> } = {},
): Promise<Uint8Array> {
  const kdf = options.kdf ?? { ...FAST_KDF_FOR_TESTS };
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const header = encode({ kdf, salt, iv }, rfc8949EncodeOptions);
  const prefix = new Uint8Array(7 + header.length);
  prefix.set([0x50, 0x4d, 0x48, 0x56, options.version ?? 1, header.length & 0xff, header.length >> 8]);
  prefix.set(header, 7);
  // A custom `kdf` is one the reader must refuse before deriving, so any key will do here.
  const { N, r, p } = FAST_KDF_FOR_TESTS;
  const derived = await scryptAsync(new TextEncoder().encode(passphrase.normalize('NFC')), salt, {
    N,
    r,
    p,
    dkLen: 64,
  });
  const aes = await crypto.subtle.importKey('raw', derived.slice(0, 32), 'AES-GCM', false, ['encrypt']);
  const mac = await crypto.subtle.importKey(
    'raw',
    derived.slice(32),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  const check = new Uint8Array(await crypto.subtle.sign('HMAC', mac, prefix));
  const ciphertext = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv, additionalData: prefix },
      aes,
      new Uint8Array(plaintext),
    ),
  );
  const out = new Uint8Array(prefix.length + 32 + ciphertext.length + 32);
  out.set(prefix);
  out.set(check, prefix.length);
  out.set(ciphertext, prefix.length + 32);
  return withChecksum(out);
}

/** Contents as a plain object for cborg, with fields sealVault would not let through. */
/** Contents with changes; a subscription's fields change the first subscription. */
function rawContents(changes: Record<string, unknown>): Uint8Array {
  const base: Record<string, unknown> = { ...contents() };
  const first: Record<string, unknown> = { ...contents().subscriptions[0] };
  for (const [k, v] of Object.entries(changes)) {
    const at = ['modelId', 'layout', 'presetId', 'ckksSecretKey', 'addedAt'].includes(k) ? first : base;
    if (v === undefined) delete at[k];
    else at[k] = v;
  }
  return encode({ ...base, subscriptions: [first] }, rfc8949EncodeOptions);
}

async function snapshot(store: ClientStore) {
  const keys = await store.keys('');
  return Promise.all(keys.map(async (k) => [k, await store.get(k)] as const));
}

// ---------------------------------------------------------------------------------------------

test('seal and open round-trip every field', async () => {
  const opened = await openVault(sample, PASS);
  assert.deepEqual(opened, contents());
  assert.equal(opened.identitySeed.constructor, Uint8Array);
  const info = await inspectVault(sample);
  assert.deepEqual(info, { version: 1, kdf: FAST_KDF_FOR_TESTS, bytes: sample.length });
  // Optional fields may be absent.
  const { server: _s, profile: _p, ...bare } = contents();
  assert.deepEqual(await openVault(await sealVault(bare, PASS, FAST), PASS), bare);
});

test('the vault follows the documented format: a vault written from docs/client.md opens', async () => {
  const bytes = await sealPerDocs(encode(contents(), rfc8949EncodeOptions), PASS);
  assert.deepEqual(await openVault(bytes, PASS), contents());
  // And the other way: sealVault's header decodes to what the docs say.
  const { headerStart, prefixEnd } = layout(sample);
  const header = decode(sample.subarray(headerStart, prefixEnd), { useMaps: true }) as Map<string, unknown>;
  assert.deepEqual([...header.keys()].sort(), ['iv', 'kdf', 'salt']);
  assert.deepEqual(Object.fromEntries(header.get('kdf') as Map<string, unknown>), FAST_KDF_FOR_TESTS);
  assert.equal((header.get('salt') as Uint8Array).length, 16);
  assert.equal((header.get('iv') as Uint8Array).length, 12);
  assert.deepEqual([...sample.subarray(0, 5)], [0x50, 0x4d, 0x48, 0x56, 1]);
});

test('every seal uses a fresh salt and IV', async () => {
  const again = await sealVault(contents(), PASS, FAST);
  assert.notDeepEqual(
    again.subarray(0, layout(again).prefixEnd),
    sample.subarray(0, layout(sample).prefixEnd),
  );
});

test('the passphrase is compared after Unicode NFC normalization', async () => {
  const bytes = await sealVault(contents(), 'caf\u00e9 au lait', FAST);
  assert.deepEqual(await openVault(bytes, 'cafe\u0301 au lait'), contents());
});

test('Vault round trip in a MemoryStore', async () => {
  const store = new MemoryStore();
  await refuses(Vault.open(store, PASS), 'NOT_FOUND');
  assert.equal(await Vault.exists(store), false);
  await Vault.create(store, contents(), PASS, FAST);
  assert.deepEqual(await store.keys(''), [VAULT_KEY]);
  assert.equal(Vault.KEY, 'vault.cbor');
  assert.deepEqual(await Vault.open(store, PASS), contents());
  assert.deepEqual((await Vault.inspect(store)).kdf, FAST_KDF_FOR_TESTS);
});

test('Vault round trip in a FolderStore, read back by a new store on the same folder', async () => {
  const dir = await tempDir();
  await Vault.create(new FolderStore(dir), contents(), PASS, FAST);
  assert.deepEqual(await readdir(dir), ['vault.cbor']);
  assert.equal((await stat(join(dir, 'vault.cbor'))).mode & 0o777, 0o600);
  assert.deepEqual(await Vault.open(new FolderStore(dir), PASS), contents());
});

test('the opened contents restore working keys: CKKS decryption and Ed25519 signatures', async () => {
  const opened = await Vault.open(await storeWith(sample), PASS);
  // CKKS: a ciphertext made with the original key decrypts with the restored one.
  let ciphertext: Uint8Array;
  {
    using encryptor = Encryptor.withSecretKey(secret);
    ciphertext = encryptor.encryptToBytes(VALUES);
  }
  using restored = loadKey(context, 'secretKey', opened.subscriptions[0]?.ckksSecretKey ?? new Uint8Array());
  using decryptor = new Decryptor(restored);
  using vector = loadCiphertext(context, ciphertext);
  const out = decryptor.decrypt(vector, VALUES.length);
  for (const [i, v] of VALUES.entries()) assert.ok(Math.abs((out[i] ?? Number.NaN) - v) < 1e-3, `slot ${i}`);
  // Ed25519: the restored seed signs for the original public key.
  const data = new TextEncoder().encode('setup request');
  const signature = await sign(await importPrivateKey(opened.identitySeed), data);
  assert.equal(await verify(publicKey, signature, data), true);
});

async function storeWith(bytes: Uint8Array): Promise<MemoryStore> {
  const store = new MemoryStore();
  await store.put(VAULT_KEY, bytes);
  return store;
}

test('a wrong passphrase is WRONG_PASSPHRASE and leaves the stored vault unchanged', async () => {
  await refuses(openVault(sample, OTHER), 'WRONG_PASSPHRASE', /^wrong passphrase$/);
  await refuses(openVault(sample, ''), 'WRONG_PASSPHRASE');
  const store = await storeWith(sample);
  const before = await snapshot(store);
  await refuses(Vault.open(store, OTHER), 'WRONG_PASSPHRASE');
  assert.deepEqual(await snapshot(store), before);
  // On disk: same bytes, same mtime, no stray temporary file.
  const dir = await tempDir();
  await Vault.create(new FolderStore(dir), contents(), PASS, FAST);
  const path = join(dir, 'vault.cbor');
  const [bytes, mtime] = [await readFile(path), (await stat(path)).mtimeMs];
  await refuses(Vault.open(new FolderStore(dir), OTHER), 'WRONG_PASSPHRASE');
  await refuses(Vault.changePassphrase(new FolderStore(dir), OTHER, 'new passphrase'), 'WRONG_PASSPHRASE');
  await refuses(exportBackup(new FolderStore(dir), OTHER, 'backup passphrase', FAST), 'WRONG_PASSPHRASE');
  assert.deepEqual(await readFile(path), bytes);
  assert.equal((await stat(path)).mtimeMs, mtime);
  assert.deepEqual(await readdir(dir), ['vault.cbor']);
});

test('a single flipped byte anywhere checked is CORRUPT, never WRONG_PASSPHRASE', async () => {
  const at = layout(sample);
  const positions = new Set<number>();
  // Magic, version, header length, the whole header (KDF, salt, IV) and the check value: every byte.
  for (let i = 0; i < at.ciphertext; i++) positions.add(i);
  // Ciphertext: its first bytes, then a stride through it.
  for (let i = at.ciphertext; i < at.ciphertext + 16; i++) positions.add(i);
  for (let i = at.ciphertext; i < at.tag; i += 997) positions.add(i);
  // GCM tag and the checksum: every byte.
  for (let i = at.tag; i < sample.length; i++) positions.add(i);
  let checked = 0;
  for (const i of positions) {
    for (const mask of [0x01, 0x80, 0xff]) {
      await refuses(openVault(flipped(sample, i, mask), PASS), 'CORRUPT');
      checked++;
    }
  }
  assert.ok(checked > 3 * 150, `${checked} flips`);
  // The messages say what happened.
  await refuses(openVault(flipped(sample, at.ciphertext + 5, 1), PASS), 'CORRUPT', /damaged: .*checksum/);
  await refuses(openVault(flipped(sample, 0, 1), PASS), 'CORRUPT', /not a PMHE key vault/);
});

test('a truncated, extended or empty file is CORRUPT', async () => {
  for (const length of [
    0,
    1,
    4,
    7,
    20,
    87,
    88,
    layout(sample).ciphertext,
    sample.length >> 1,
    sample.length - 1,
  ]) {
    await refuses(openVault(sample.slice(0, length), PASS), 'CORRUPT', /damaged/);
  }
  await refuses(openVault(sample.slice(0, -32), PASS), 'CORRUPT');
  await refuses(openVault(sample.slice(1), PASS), 'CORRUPT');
  const longer = new Uint8Array(sample.length + 1);
  longer.set(sample);
  await refuses(openVault(longer, PASS), 'CORRUPT');
  await refuses(openVault(new Uint8Array(0), PASS), 'CORRUPT', /empty/);
  await refuses(openVault(new TextEncoder().encode('{"not": "a vault"}'.repeat(10)), PASS), 'CORRUPT');
});

test('altered on purpose with the checksum rewritten: ciphertext is CORRUPT, header reads as a wrong passphrase', async () => {
  const at = layout(sample);
  // Header and check value intact, so the passphrase checks out; then GCM fails: CORRUPT.
  await refuses(
    openVault(await withChecksum(flipped(sample, at.ciphertext + 100, 1)), PASS),
    'CORRUPT',
    /fail authentication/,
  );
  await refuses(openVault(await withChecksum(flipped(sample, at.tag + 3, 1)), PASS), 'CORRUPT');
  // A changed salt or check value cannot be told from a wrong passphrase (documented).
  await refuses(openVault(await withChecksum(flipped(sample, at.check - 1, 1)), PASS), 'WRONG_PASSPHRASE');
  await refuses(openVault(await withChecksum(flipped(sample, at.check, 1)), PASS), 'WRONG_PASSPHRASE');
  // A header length that does not fit, or a header that is not CBOR, is CORRUPT.
  const long = new Uint8Array(sample);
  long[6] = 0xff;
  await refuses(openVault(await withChecksum(long), PASS), 'CORRUPT', /header length/);
  const garbled = new Uint8Array(sample);
  garbled[7] = 0xff; // a CBOR break where the header map starts
  await refuses(openVault(await withChecksum(garbled), PASS), 'CORRUPT', /header/);
});

test('an unknown format version or KDF, or a KDF too costly to run, is UNSUPPORTED (before any derivation)', async () => {
  const plaintext = encode(contents(), rfc8949EncodeOptions);
  await refuses(
    openVault(await sealPerDocs(plaintext, PASS, { version: 2 }), PASS),
    'UNSUPPORTED',
    /version 2/,
  );
  const argon = { name: 'argon2id', m: 19456, t: 2, p: 1 };
  await refuses(
    openVault(await sealPerDocs(plaintext, PASS, { kdf: argon }), PASS),
    'UNSUPPORTED',
    /argon2id/,
  );
  const started = performance.now();
  const huge = { name: 'scrypt', N: 2 ** 24, r: 8, p: 1 };
  await refuses(
    openVault(await sealPerDocs(plaintext, PASS, { kdf: huge }), PASS),
    'UNSUPPORTED',
    /more than/,
  );
  const slow = { name: 'scrypt', N: 2 ** 17, r: 8, p: 64 };
  await refuses(
    openVault(await sealPerDocs(plaintext, PASS, { kdf: slow }), PASS),
    'UNSUPPORTED',
    /more than/,
  );
  assert.ok(performance.now() - started < 500, 'refused without deriving');
  const odd = { name: 'scrypt', N: 1000, r: 8, p: 1 };
  await refuses(openVault(await sealPerDocs(plaintext, PASS, { kdf: odd }), PASS), 'CORRUPT', /power of two/);
  // sealVault will not write what it would not open.
  await refuses(sealVault(contents(), PASS, { kdf: huge as KdfParams }), 'UNSUPPORTED');
});

test('decoded contents are validated strictly', async () => {
  const cases: [Record<string, unknown>, VaultErrorCode, RegExp][] = [
    [{ identitySeed: seed.slice(0, 31) }, 'CORRUPT', /identitySeed is 31 bytes, expected 32/],
    [{ identitySeed: 'not bytes' }, 'CORRUPT', /identitySeed is not bytes/],
    [{ userId: undefined }, 'CORRUPT', /userId is missing/],
    [{ userId: 42 }, 'CORRUPT', /userId is not text/],
    [{ layout: 'sideways' }, 'CORRUPT', /subscriptions\[0\]\.layout must be one of/],
    [{ addedAt: -1 }, 'CORRUPT', /subscriptions\[0\]\.addedAt/],
    [{ createdAt: -1 }, 'CORRUPT', /createdAt/],
    [{ createdAt: 1.5 }, 'CORRUPT', /createdAt/],
    [{ ckksSecretKey: secret.savePublicKey() }, 'CORRUPT', /not a CKKS secret key/],
    [{ ckksSecretKey: new Uint8Array(40) }, 'CORRUPT', /not a CKKS secret key/],
    [{ presetId: 'paper-p1' }, 'CORRUPT', /not a CKKS secret key for paper-p1/],
    [{ presetId: 'secure-65536' }, 'UNSUPPORTED', /preset "secure-65536"/],
    [{ profile: { age: 'old' } }, 'CORRUPT', /profile.age/],
    [{ recoveryHint: 'x' }, 'UNSUPPORTED', /field "recoveryHint"/],
  ];
  for (const [changes, code, message] of cases) {
    await refuses(openVault(await sealPerDocs(rawContents(changes), PASS), PASS), code, message);
  }
  await refuses(
    openVault(await sealPerDocs(new Uint8Array([0xff, 1, 2]), PASS), PASS),
    'CORRUPT',
    /not valid CBOR/,
  );
  await refuses(openVault(await sealPerDocs(encode([1, 2]), PASS), PASS), 'CORRUPT', /not a map/);
  // "__proto__" in a profile is plain data.
  const proto = encode(
    new Map<string, unknown>([...Object.entries(contents()), ['profile', new Map([['__proto__', 1]])]]),
  );
  const opened = await openVault(await sealPerDocs(proto, PASS), PASS);
  assert.equal(Object.getOwnPropertyDescriptor(opened.profile, '__proto__')?.value, 1);
  assert.equal(Object.getPrototypeOf(opened.profile), Object.prototype);
});

test('sealVault refuses invalid contents', async () => {
  await assert.rejects(
    sealVault(contents({ identitySeed: seed.slice(1) }), PASS, FAST),
    /identitySeed is 31 bytes/,
  );
  const broken = { ...contents().subscriptions[0], ckksSecretKey: new Uint8Array(8) } as VaultSubscription;
  await assert.rejects(sealVault(contents({ subscriptions: [broken] }), PASS, FAST), TypeError);
  const twice = contents().subscriptions[0] as VaultSubscription;
  await assert.rejects(
    sealVault(contents({ subscriptions: [twice, twice] }), PASS, FAST),
    /model "chd-logistic" is subscribed twice/,
  );
  await assert.rejects(
    sealVault(contents({ subscriptions: [] }), PASS, FAST),
    /subscriptions must be a list of 1/,
  );
});

test('several models: each its own CKKS key, in order; a vault from before subscriptions opens as its one model', async () => {
  const first = contents().subscriptions[0] as VaultSubscription;
  using other = SecretKey.generate(context);
  const second: VaultSubscription = {
    modelId: 'early-warning',
    layout: 'packed',
    presetId: 'secure-4096',
    ckksSecretKey: other.save(),
    addedAt: 1_760_000_100_000,
  };
  const opened = await openVault(
    await sealVault(contents({ subscriptions: [first, second] }), PASS, FAST),
    PASS,
  );
  assert.deepEqual(
    opened.subscriptions.map((x) => [x.modelId, x.addedAt]),
    [
      ['chd-logistic', 1_760_000_000_000],
      ['early-warning', 1_760_000_100_000],
    ],
  );
  assert.deepEqual(opened.subscriptions[1]?.ckksSecretKey, second.ckksSecretKey);
  // The format every vault had before: one model's fields at the top level.
  const legacy = {
    userId: 'alice',
    modelId: 'chd-logistic',
    layout: 'packed',
    presetId: 'secure-4096',
    createdAt: 1_760_000_000_000,
    identitySeed: seed,
    ckksSecretKey: secretBytes,
  };
  const old = await openVault(await sealPerDocs(encode(legacy, rfc8949EncodeOptions), PASS), PASS);
  assert.deepEqual(old.subscriptions, [
    {
      modelId: 'chd-logistic',
      layout: 'packed',
      presetId: 'secure-4096',
      ckksSecretKey: secretBytes,
      addedAt: 1_760_000_000_000,
    },
  ]);
  // Both shapes at once is no vault this client wrote.
  await assert.rejects(
    openVault(
      await sealPerDocs(encode({ ...legacy, subscriptions: [first] }, rfc8949EncodeOptions), PASS),
      PASS,
    ),
    /both subscriptions and the older/,
  );
  await assert.rejects(sealVault(contents({ profile: { x: Number.NaN } }), PASS, FAST), /profile.x/);
});

test('create refuses to overwrite an existing vault', async () => {
  const store = await storeWith(sample);
  const before = await snapshot(store);
  await refuses(
    Vault.create(store, contents({ userId: 'mallory' }), OTHER, FAST),
    'EXISTS',
    /never overwritten/,
  );
  assert.deepEqual(await snapshot(store), before);
  // Even a damaged vault is not overwritten.
  const damaged = await storeWith(flipped(sample, 50, 1));
  await refuses(Vault.create(damaged, contents(), PASS, FAST), 'EXISTS');
  assert.deepEqual(await damaged.get(VAULT_KEY), flipped(sample, 50, 1));
});

test('weak passphrases are refused, and nothing is written', async () => {
  for (const weak of ['', 'short', '1234567', '🔑🔑🔑🔑']) {
    await refuses(sealVault(contents(), weak, FAST), 'WEAK_PASSPHRASE', /too short/);
  }
  await sealVault(contents(), '12345678', FAST); // eight is enough
  const store = new MemoryStore();
  await refuses(Vault.create(store, contents(), 'short', FAST), 'WEAK_PASSPHRASE');
  assert.deepEqual(await store.keys(''), []);
  await refuses(changePassphrase(sample, PASS, 'short'), 'WEAK_PASSPHRASE');
  const stored = await storeWith(sample);
  await refuses(Vault.changePassphrase(stored, PASS, 'short'), 'WEAK_PASSPHRASE');
  await refuses(exportBackup(stored, PASS, 'short'), 'WEAK_PASSPHRASE');
  assert.deepEqual(await stored.get(VAULT_KEY), sample);
});

test('changePassphrase re-seals: the old passphrase no longer opens it, the input is untouched', async () => {
  const copy = new Uint8Array(sample);
  const resealed = await changePassphrase(sample, PASS, OTHER, FAST);
  assert.deepEqual(sample, copy);
  assert.deepEqual(await openVault(resealed, OTHER), contents());
  await refuses(openVault(resealed, PASS), 'WRONG_PASSPHRASE');
  const store = await storeWith(sample);
  await Vault.changePassphrase(store, PASS, OTHER, FAST);
  assert.deepEqual(await Vault.open(store, OTHER), contents());
});

test('backup: export under another passphrase, import elsewhere; EXISTS unless replace', async () => {
  const home = await storeWith(sample);
  const backup = await exportBackup(home, PASS, OTHER, FAST);
  await refuses(openVault(backup, PASS), 'WRONG_PASSPHRASE');
  assert.deepEqual(await openVault(backup, OTHER), contents());
  assert.deepEqual(await exportBackup(home, PASS), sample); // same passphrase: the stored file
  assert.deepEqual(await home.get(VAULT_KEY), sample);

  // A new device (on disk): the backup is stored as it is and opens with the backup passphrase.
  const device = new FolderStore(await tempDir());
  assert.deepEqual(await importBackup(device, backup, OTHER), contents());
  assert.deepEqual(await Vault.open(device, OTHER), contents());

  // A device that already has a vault: refused unless replace.
  const other = await storeWith(await sealVault(contents({ userId: 'bob' }), PASS, FAST));
  const before = await snapshot(other);
  await refuses(importBackup(other, backup, OTHER), 'EXISTS');
  assert.deepEqual(await snapshot(other), before);
  await importBackup(other, backup, OTHER, {
    replace: true,
    newPassphrase: 'the new device passphrase',
    ...FAST,
  });
  assert.deepEqual(await Vault.open(other, 'the new device passphrase'), contents());
  assert.equal(Vault.importBackup, importBackup);
});

test('importing a corrupt backup, or with a wrong passphrase, writes nothing', async () => {
  const empty = new MemoryStore();
  const full = await storeWith(await sealVault(contents({ userId: 'bob' }), PASS, FAST));
  const before = await snapshot(full);
  const bad = [flipped(sample, 30, 4), sample.slice(0, -10), new Uint8Array(0)];
  for (const bytes of bad) {
    await refuses(importBackup(empty, bytes, PASS), 'CORRUPT');
    await refuses(importBackup(full, bytes, PASS, { replace: true }), 'CORRUPT');
  }
  await refuses(importBackup(empty, sample, OTHER), 'WRONG_PASSPHRASE');
  await refuses(importBackup(full, sample, OTHER, { replace: true }), 'WRONG_PASSPHRASE');
  assert.deepEqual(await empty.keys(''), []);
  assert.deepEqual(await snapshot(full), before);
  // On disk too: no file, no temporary left behind.
  const dir = await tempDir();
  await refuses(importBackup(new FolderStore(dir), flipped(sample, 100, 1), PASS), 'CORRUPT');
  assert.deepEqual(await readdir(dir), []);
});

test('DEFAULT_KDF seals and opens (once: ~1 s per derivation)', async () => {
  const started = performance.now();
  const bytes = await sealVault(contents(), PASS);
  const sealed = performance.now();
  assert.deepEqual(await openVault(bytes, PASS), contents());
  const opened = performance.now();
  assert.deepEqual((await inspectVault(bytes)).kdf, DEFAULT_KDF);
  assert.deepEqual(DEFAULT_KDF, { name: 'scrypt', N: 2 ** 17, r: 8, p: 1 });
  process.stderr.write(
    `# DEFAULT_KDF: seal ${(sealed - started).toFixed(0)} ms, open ${(opened - sealed).toFixed(0)} ms\n`,
  );
});
