/**
 * The user's side of `pmhe`: init, register, device simulate|replay, submit, outbox
 * [retry|discard], results, diagnose, export, keys export|import. Everything lives in one client folder (--home, PMHE_HOME): the
 * encrypted vault, the outbox and the local history. Exit codes: see EXIT.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { SingleBar } from 'cli-progress';
import Table from 'cli-table3';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { ApiError } from '../client/api-client.ts';
import { ModelChoiceError, PmheClient } from '../client/app.ts';
import { toCsv as historyCsv, toFhirBundle } from '../client/export.ts';
import { formatReport } from '../client/filter.ts';
import { entryTime, type HistoryEntry, lastVitals } from '../client/history.ts';
import { fetchTrusting } from '../client/node/ca-fetch.ts';
import { FolderStore } from '../client/node/folder-store.ts';
import { OutboxError, type OutboxItem } from '../client/outbox.ts';
import { ResultError } from '../client/results.ts';
import { localTime } from '../client/time.ts';
import { exportBackup, importBackup, VaultError } from '../client/vault.ts';
import { readCsv, toCsv } from '../device/csv.ts';
import { isPersonaName, PERSONA_NAMES, type PersonaName, simulatePerson } from '../device/index.ts';
import { earlyWarning, SPO2_SCALE_FIELD } from '../models/catalogue/early-warning.ts';
import { CATALOGUE } from '../models/catalogue/index.ts';
import { fmt } from '../models/diagnosis.ts';
import { guidanceFor, NOT_A_MEDICAL_DEVICE } from '../models/guidance.ts';
import { ProtocolError } from '../protocol/errors.ts';
import type { Layout } from '../protocol/schema.ts';

/** What each exit code means, for scripts. */
export const EXIT = Object.freeze({
  ok: 0,
  /** The work ran and something in it failed (refused submissions, a tampered result). */
  failed: 1,
  /** Bad usage or configuration (unknown model, missing folder, unreadable file). */
  usage: 2,
  /** The vault: wrong passphrase, damaged, missing or already there. */
  vault: 3,
  /** The server could not be reached or is overloaded: nothing lost, try again later. */
  unavailable: 4,
  /** Readings sent and acknowledged whose results have not come yet: nothing lost, ask again later. */
  awaited: 5,
});

export interface Global {
  home: string;
  passphraseFile?: string;
  server?: string;
  caFile?: string;
  json?: boolean;
}

export class UsageError extends Error {}

/** What each profile flag takes: its option, and a refusal that names every missing one. */
const PROFILE_HINTS: Readonly<Record<'age' | 'bmi' | 'cholesterol' | 'smoker', string>> = Object.freeze({
  age: 'years',
  bmi: 'kg/m²',
  cholesterol: 'total, mg/dL',
  smoker: '0 or 1',
});
type ProfileOptions = Partial<Record<keyof typeof PROFILE_HINTS, number>> & { spo2Scale?: number };

/** The profile flags, on `init` and on `profile set`. */
function profileOptions(command: Command): Command {
  for (const [field, hint] of Object.entries(PROFILE_HINTS))
    command.option(`--${field} <${hint}>`, 'profile value, for models that read one', number);
  return command.option(
    '--spo2-scale <1|2>',
    'early-warning: the NEWS2 SpO2 scale; 2 only when your clinician set it (a target of 88–92%)',
    number,
  );
}

/** The profile values given on the command line, under their profile field names. */
function profileValues(o: ProfileOptions): Record<string, number> {
  const values: Record<string, number> = {};
  for (const f of Object.keys(PROFILE_HINTS) as (keyof typeof PROFILE_HINTS)[]) {
    const v = o[f];
    if (v !== undefined) values[f] = v;
  }
  if (o.spo2Scale !== undefined) {
    if (o.spo2Scale !== 1 && o.spo2Scale !== 2) throw new UsageError('--spo2-scale must be 1 or 2');
    values[SPO2_SCALE_FIELD] = o.spo2Scale;
  }
  return values;
}

export const globals = (command: Command): Global => command.opts() as Global;
export const storeOf = (g: Global) => new FolderStore(g.home);
export const out = (text: string) => process.stdout.write(`${text}\n`);
const bar = (g: Global, format: string) =>
  process.stderr.isTTY && !g.json ? new SingleBar({ format, hideCursor: true }) : undefined;

export async function passphrase(
  g: Global,
  prompt = 'passphrase: ',
  env = 'PMHE_PASSPHRASE',
): Promise<string> {
  if (g.passphraseFile && env === 'PMHE_PASSPHRASE') {
    return (await readFile(g.passphraseFile, 'utf8')).replace(/\r?\n$/, '');
  }
  const fromEnv = process.env[env];
  if (fromEnv) return fromEnv;
  if (!process.stdin.isTTY) throw new UsageError(`no passphrase: set ${env} or pass --passphrase-file`);
  // Read without echo: readline writes nothing while muted.
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const write = (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput;
  let muted = false;
  (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s) => {
    if (!muted) write.call(rl, s);
  };
  const answer = rl.question(prompt);
  muted = true;
  try {
    return await answer;
  } finally {
    rl.close();
    process.stderr.write('\n');
  }
}

export async function open(g: Global): Promise<PmheClient> {
  return PmheClient.open(storeOf(g), await passphrase(g), connection(g));
}

/** Where the server is and how to reach it: --server, and --ca-file for a server's own CA. */
export function connection(g: Global): { server?: string; fetch?: typeof fetch } {
  return {
    ...(g.server ? { server: g.server } : {}),
    ...(g.caFile ? { fetch: fetchTrusting(g.caFile) } : {}),
  };
}

/** Runs a command body, printing errors as one line (or JSON) with a meaningful exit code. */
export function run<A extends unknown[]>(body: (...args: A) => Promise<number | undefined>) {
  return async (...args: A) => {
    const command = args.at(-1) as Command;
    const g = globals(command);
    try {
      process.exitCode = (await body(...args)) ?? EXIT.ok;
    } catch (error) {
      const [code, message] = classify(error);
      if (g.json) out(JSON.stringify({ ok: false, error: message }));
      else process.stderr.write(`pmhe ${command.name()}: ${message}\n`);
      process.exitCode = code;
    }
  };
}

function classify(error: unknown): [number, string] {
  if (error instanceof VaultError && error.code === 'NOT_FOUND')
    return [
      EXIT.vault,
      `${error.message}: run \`pmhe init\` to make one, or \`pmhe keys import\` to restore a backup`,
    ];
  if (error instanceof VaultError) return [EXIT.vault, error.message];
  if (error instanceof UsageError || error instanceof OutboxError) return [EXIT.usage, error.message];
  if (error instanceof ApiError)
    return [error.retryable ? EXIT.unavailable : EXIT.failed, `${error.code}: ${error.message}`];
  if (error instanceof ResultError) return [EXIT.failed, error.message];
  if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [EXIT.usage, (error as Error).message];
  return [EXIT.failed, error instanceof Error ? error.message : String(error)];
}

/**
 * Checks a model and layout from the command line against the catalogue, and that the profile
 * (given, beside what the vault holds) has every value the model reads, naming all missing flags.
 * Returns the given values the model reads.
 */
function modelChoice(
  modelId: string,
  layout: Layout,
  given: Record<string, number>,
  held: Readonly<Record<string, number>> = {},
): Record<string, number> {
  const model = CATALOGUE.find((m) => m.id === modelId);
  if (!model)
    throw new UsageError(`no model "${modelId}": the catalogue has ${CATALOGUE.map((m) => m.id).join(', ')}`);
  if (!model.layouts[layout]) {
    throw new UsageError(
      `${modelId} has no ${layout} layout; it has ${Object.keys(model.layouts).join(', ')}`,
    );
  }
  const missing = model.profile.filter((f) => given[f] === undefined && held[f] === undefined);
  if (missing.length > 0) {
    throw new UsageError(
      `${modelId} needs your profile: ${missing.map((f) => `--${f} <${PROFILE_HINTS[f as keyof typeof PROFILE_HINTS] ?? 'value'}>`).join(' ')}`,
    );
  }
  const profile: Record<string, number> = Object.fromEntries(
    model.profile.flatMap((f) => (given[f] === undefined ? [] : [[f, given[f] as number]])),
  );
  if (given[SPO2_SCALE_FIELD] !== undefined) {
    if (modelId !== earlyWarning.id) throw new UsageError(`--spo2-scale is for ${earlyWarning.id} only`);
    profile[SPO2_SCALE_FIELD] = given[SPO2_SCALE_FIELD] as number;
  }
  return profile;
}

function modelOption(): Option {
  return new Option('--model <id>', 'the model to run')
    .choices(CATALOGUE.map((m) => m.id))
    .makeOptionMandatory();
}

/** A positive whole number, e.g. --last. */
export const count = (value: string) => {
  const n = number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`not a whole number ≥ 1: "${value}"`);
  return n;
};

/** An option's number; commander reports a refusal as one usage line (no stack trace). */
export const number = (value: string) => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`not a number: "${value}"`);
  return n;
};

/** The options every client command takes (on each command, so `ledger verify --json` keeps its own). */
export function clientOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--home <dir>', 'client folder (vault, outbox, history)')
        .env('PMHE_HOME')
        .default(join(homedir(), '.pmhe', 'client')),
    )
    .addOption(
      new Option(
        '--passphrase-file <file>',
        'read the vault passphrase from a file (else PMHE_PASSPHRASE, else a prompt)',
      ),
    )
    .addOption(
      new Option('--server <url>', 'the PMHE server (default: the one given at init)').env('PMHE_SERVER'),
    )
    .addOption(
      new Option(
        '--ca-file <file>',
        "trust this PEM certificate authority for the server's HTTPS (a hospital's own CA)",
      ).env('PMHE_CA_FILE'),
    )
    .option('--json', 'print data as JSON');
}

export function clientCommands(program: Command): void {
  const init = clientOptions(program.command('init'))
    .description('generate the keys on this device and seal them in an encrypted vault')
    .requiredOption('--user <id>', 'your user id on the server')
    .addOption(modelOption())
    .addOption(
      new Option('--layout <layout>', 'tuple layout').choices(['paper', 'packed', 'batch']).default('packed'),
    );
  profileOptions(init).action(
    run(async (o: { user: string; model: string; layout: Layout } & ProfileOptions, command: Command) => {
      const g = globals(command);
      const profile = modelChoice(o.model, o.layout, profileValues(o));
      const pass = await passphrase(g, 'new passphrase: ');
      const progress = bar(g, 'generating keys and sealing the vault {bar} {value}/{total}');
      progress?.start(2, 0);
      const t = performance.now();
      using client = await PmheClient.init(storeOf(g), {
        userId: o.user,
        modelId: o.model,
        layout: o.layout,
        passphrase: pass,
        ...(g.server ? { server: g.server } : {}),
        ...(Object.keys(profile).length ? { profile } : {}),
      });
      progress?.update(2);
      progress?.stop();
      const info = {
        home: g.home,
        userId: o.user,
        modelId: o.model,
        layout: o.layout,
        presetId: client.user.plan.preset.id,
        ms: Math.round(performance.now() - t),
      };
      if (g.json) out(JSON.stringify(info));
      else
        out(
          `vault created in ${g.home}: ${o.user} runs ${o.model}/${o.layout} on ${info.presetId} (${info.ms} ms)`,
        );
      return EXIT.ok;
    }),
  );

  const profile = program.command('profile').description('the profile your model reads beside your readings');
  clientOptions(profile.command('show', { isDefault: true }))
    .description('show it (the default)')
    .action(
      run(async (_o: object, command: Command) => {
        const g = globals(command);
        using client = await open(g);
        const values = client.profile as Record<string, number>;
        if (g.json) out(JSON.stringify({ models: client.models, profile: values }));
        else {
          const fields = Object.entries(values);
          out(
            fields.length
              ? fields.map(([k, v]) => `${k}: ${v}`).join('\n')
              : `${client.models.join(', ')} ${client.models.length === 1 ? 'reads' : 'read'} no profile`,
          );
        }
        return EXIT.ok;
      }),
    );
  profileOptions(
    clientOptions(profile.command('set')).description(
      'change profile values; uploads from now on carry them (results already made keep theirs)',
    ),
  ).action(
    run(async (o: ProfileOptions, command: Command) => {
      const g = globals(command);
      const values = profileValues(o);
      if (Object.keys(values).length === 0)
        throw new UsageError('nothing to set: give --age, --bmi, --cholesterol, --smoker or --spo2-scale');
      const pass = await passphrase(g);
      using client = await PmheClient.open(storeOf(g), pass, connection(g));
      try {
        const now = await client.setProfile(values, pass);
        out(
          g.json
            ? JSON.stringify({ profile: now })
            : `profile saved in the vault: ${Object.entries(now)
                .map(([k, v]) => `${k} ${v}`)
                .join(', ')}`,
        );
      } catch (error) {
        if (error instanceof RangeError || error instanceof ProtocolError)
          throw new UsageError(error.message);
        throw error;
      }
      return EXIT.ok;
    }),
  );

  clientOptions(program.command('register'))
    .description("send your public and evaluation keys to the server (the contract's setup)")
    .option('--enrolment <code>', 'the enrolment code your care team gave you (servers that enrol)')
    .option('--model <id>', 'register this model only (default: every model you follow)')
    .action(
      run(async (o: { enrolment?: string; model?: string }, command: Command) => {
        const g = globals(command);
        using client = await open(g);
        if (o.model && !client.models.includes(o.model)) {
          throw new UsageError(`you do not follow ${o.model}; you follow ${client.models.join(', ')}`);
        }
        const registered = await client.register(o.enrolment, o.model ? [o.model] : client.models);
        if (g.json) out(JSON.stringify({ userId: client.user.userId, registered }));
        else {
          for (const r of registered)
            out(`registered ${client.user.userId} for ${r.modelId}: setup transaction ${r.txId}`);
        }
        return EXIT.ok;
      }),
    );

  const models = program.command('models').description('the models you follow: list, add, remove');
  clientOptions(models.command('list', { isDefault: true }))
    .description('the models you follow (the default)')
    .action(
      run(async (_o: object, command: Command) => {
        const g = globals(command);
        using client = await open(g);
        const rows = client.contents.subscriptions.map((x) => ({
          modelId: x.modelId,
          name: CATALOGUE.find((m) => m.id === x.modelId)?.name ?? x.modelId,
          layout: x.layout,
          presetId: x.presetId,
          addedAt: new Date(x.addedAt).toISOString(),
        }));
        if (g.json) out(JSON.stringify({ models: rows }));
        else for (const r of rows) out(`${r.modelId}: ${r.name} (since ${localTime(Date.parse(r.addedAt))})`);
        return EXIT.ok;
      }),
    );
  profileOptions(
    clientOptions(models.command('add'))
      .description(
        'follow another model: new keys for it in your vault, registered with the server if one is set',
      )
      .argument('<model>', `one of ${CATALOGUE.map((m) => m.id).join(', ')}`)
      .addOption(
        new Option('--layout <layout>', 'tuple layout (default: packed, or the one the model has)').choices([
          'paper',
          'packed',
          'batch',
        ]),
      )
      .option('--no-register', 'only add the keys; register later with `pmhe register --model <model>`'),
  ).action(
    run(
      async (
        modelId: string,
        o: { layout?: Layout; register: boolean } & ProfileOptions,
        command: Command,
      ) => {
        const g = globals(command);
        const pass = await passphrase(g);
        using client = await PmheClient.open(storeOf(g), pass, connection(g));
        const known = CATALOGUE.find((m) => m.id === modelId);
        const layout =
          o.layout ?? (known?.layouts.packed ? 'packed' : (Object.keys(known?.layouts ?? {})[0] as Layout));
        const profile = modelChoice(
          modelId,
          layout,
          profileValues(o),
          client.profile as Record<string, number>,
        );
        const progress = bar(g, 'generating keys and sealing the vault {bar} {value}/{total}');
        progress?.start(1, 0);
        const user = await client.addModel(modelId, layout, pass, profile).catch((error: unknown) => {
          progress?.stop();
          if (error instanceof ModelChoiceError || error instanceof ProtocolError)
            throw new UsageError(error.message);
          throw error;
        });
        progress?.update(1);
        progress?.stop();
        const canRegister = o.register && (g.server ?? client.contents.server);
        const registered = canRegister ? await client.register(undefined, [modelId]) : [];
        if (g.json) out(JSON.stringify({ modelId, layout, presetId: user.plan.preset.id, registered }));
        else {
          out(`you now follow ${modelId}/${layout}: keys added to the vault`);
          for (const r of registered) out(`registered for ${r.modelId}: setup transaction ${r.txId}`);
          if (!canRegister)
            out(`register it with \`pmhe register --model ${modelId}\` before sending readings`);
        }
        return EXIT.ok;
      },
    ),
  );
  clientOptions(models.command('remove'))
    .description(
      'stop following a model: the server ends the subscription, its unsent uploads and its key go (results already here stay)',
    )
    .argument('<model>', 'a model you follow')
    .action(
      run(async (modelId: string, _o: object, command: Command) => {
        const g = globals(command);
        const pass = await passphrase(g);
        using client = await PmheClient.open(storeOf(g), pass, connection(g));
        const done = await client.removeModel(modelId, pass).catch((error: unknown) => {
          if (error instanceof ModelChoiceError) throw new UsageError(error.message);
          throw error;
        });
        if (g.json) out(JSON.stringify({ modelId, ...done }));
        else {
          out(
            `you no longer follow ${modelId}${done.txId ? ` (unsubscribe transaction ${done.txId})` : ''}; its key left the vault`,
          );
          if (done.discarded) out(`${done.discarded} upload(s) of it not yet evaluated were dropped`);
        }
        return EXIT.ok;
      }),
    );

  const device = program
    .command('device')
    .description('readings from a wearable: the simulator or a CSV file');
  clientOptions(device.command('simulate'))
    .description('simulate a persona wearing the device; queue the readings (or --out to write CSV)')
    .addOption(new Option('--persona <name>', 'who wears it').choices([...PERSONA_NAMES]).default('healthy'))
    .option('--days <n>', 'length of the series', number, 1)
    .option('--interval <minutes>', 'minutes between readings', number, 15)
    .option('--seed <n>', 'random seed (same seed, same series)', number, 1)
    .option(
      '--start <time>',
      'first reading (ISO-8601, or epoch ms); default: now, or after the newest reading on this device',
    )
    .option('--out <file>', 'write the readings as CSV instead of queueing them')
    .action(
      run(
        async (
          o: { persona: string; days: number; interval: number; seed: number; start?: string; out?: string },
          command: Command,
        ) => {
          if (!isPersonaName(o.persona)) throw new UsageError(`unknown persona ${o.persona}`);
          const step = o.interval * 60_000;
          const given = o.start === undefined ? undefined : timeOption(o.start);
          // From --start, else now on the interval's grid; on a device with readings, after the newest.
          const series = (newest: number | undefined) =>
            simulatePerson({
              persona: o.persona as PersonaName,
              seed: o.seed,
              days: o.days,
              intervalMinutes: o.interval,
              start: given ?? Math.ceil(Math.max(Date.now(), (newest ?? 0) + 1) / step) * step,
            });
          if (o.out) {
            const readings = series(undefined);
            await writeFile(o.out, toCsv(readings));
            out(`${readings.length} readings written to ${o.out}`);
            return EXIT.ok;
          }
          return queue(globals(command), series);
        },
      ),
    );
  clientOptions(device.command('replay'))
    .description(
      'queue the readings of a CSV file (time,heart_rate,diastolic,systolic,respiratory_rate; optionally spo2,temperature,supplemental_oxygen,consciousness, kept on this device)',
    )
    .argument('<file>', 'CSV file')
    .action(
      run(async (file: string, _o: object, command: Command) => {
        const g = globals(command);
        const { readings, errors } = readCsv(await readFile(file, 'utf8'));
        // Every bad line, each with its number; the good ones still go.
        for (const e of errors) process.stderr.write(`${file}: ${e.message}\n`);
        if (errors.length)
          process.stderr.write(`${file}: ${errors.length} line(s) skipped, ${readings.length} read\n`);
        const code = await queue(g, readings);
        return errors.length && code === EXIT.ok ? EXIT.failed : code;
      }),
    );

  clientOptions(program.command('submit'))
    .description('send the outbox to the server (retried later with backoff if it cannot take them)')
    .action(
      run(async (_o: object, command: Command) => {
        const g = globals(command);
        using client = await open(g);
        const total = (await client.outbox.items('pending')).length;
        const progress = bar(g, 'uploading {bar} {value}/{total}');
        progress?.start(total, 0);
        let sent = 0;
        const report = await client.flush(() => progress?.update(++sent));
        progress?.stop();
        const refused = await client.outbox.items('failed');
        if (g.json) out(JSON.stringify({ ...report, refused: refused.map(outboxSummary) }));
        else {
          out(`${report.sent} sent, ${report.failed} refused, ${report.waiting} waiting`);
          if (report.unregisteredModels) {
            for (const m of report.unregisteredModels)
              out(
                `waiting: ${m} is not registered with the server yet; run \`pmhe register --model ${m}\`, then \`pmhe submit\``,
              );
          } else if (report.unregistered) {
            out(
              `waiting: the server does not know this device's keys yet; run \`pmhe register\`, then \`pmhe submit\``,
            );
          } else if (report.error) {
            const due = report.nextAttemptAt ? ` after ${localTime(report.nextAttemptAt)}` : '';
            out(`waiting: ${report.error}; nothing is lost; run \`pmhe submit\` again${due}`);
          }
          for (const item of refused)
            out(`refused ${item.id.slice(0, 12)}: ${item.lastError ?? 'no reason given'}`);
          if (refused.length)
            out(
              'see `pmhe outbox`; `pmhe outbox retry` sends them again, `pmhe outbox discard ID` drops one',
            );
        }
        if (report.failed || refused.length) return EXIT.failed;
        return report.unregistered ? EXIT.usage : report.waiting ? EXIT.unavailable : EXIT.ok;
      }),
    );

  const outbox = program
    .command('outbox')
    .description(
      'uploads on this device not yet done: waiting, refused (with the reason), or awaiting a result',
    );
  clientOptions(outbox.command('list', { isDefault: true }))
    .description('list them (the default)')
    .action(
      run(async (_o: object, command: Command) => {
        const g = globals(command);
        using client = await open(g);
        const items = await client.outbox.items();
        if (g.json) out(JSON.stringify({ items: items.map(outboxSummary) }));
        else if (items.length === 0) out('the outbox is empty: every reading was sent and has its result');
        else {
          const t = fitted(['first reading', 'id', 'state', 'readings', 'reason'], [16, 15, 10, 17]);
          for (const i of items) {
            const o = outboxSummary(i);
            t.push([o.firstReading, o.id.slice(0, 12), o.state, String(o.readings), o.reason ?? '']);
          }
          out(t.toString());
        }
        return EXIT.ok;
      }),
    );
  clientOptions(outbox.command('retry'))
    .description('send refused uploads again (all of them, or the ids given) at the next `pmhe submit`')
    .argument('[ids...]', 'upload ids, or their first 6 or more characters')
    .action(
      run(async (ids: string[], _o: object, command: Command) => {
        using client = await open(globals(command));
        const n = await client.outbox.retry(await client.outbox.select(ids));
        out(n ? `${n} upload(s) back in line; run \`pmhe submit\` to send them` : 'no refused uploads');
        return EXIT.ok;
      }),
    );
  clientOptions(outbox.command('discard'))
    .description(
      'drop uploads from the outbox for good (refused or waiting ones; never one awaiting its result)',
    )
    .argument('<ids...>', 'upload ids, or their first 6 or more characters')
    .action(
      run(async (ids: string[], _o: object, command: Command) => {
        using client = await open(globals(command));
        const n = await client.outbox.discard(await client.outbox.select(ids));
        out(`${n} upload(s) discarded`);
        return EXIT.ok;
      }),
    );

  clientOptions(program.command('results'))
    .description('wait for the results of sent readings, check, decrypt and diagnose them')
    .option('--wait <seconds>', 'how long to wait', number, 30)
    .option('--verbose', 'also the decrypted values, ledger block and transaction')
    .action(
      run(async (o: { wait: number; verbose?: boolean }, command: Command) => {
        const g = globals(command);
        using client = await open(g);
        const refused: string[] = [];
        const entries = await client.collect({
          timeoutMs: o.wait * 1000,
          onRefused: (item, reason) => refused.push(`upload ${item.id.slice(0, 12)}…: ${reason}`),
        });
        const waiting = (await client.outbox.items('sent')).length;
        if (g.json) out(JSON.stringify({ results: entries.map(summary), waiting, refused }));
        else {
          if (entries.length) out(`${table(entries, o.verbose)}\n${advice(entries)}`);
          for (const line of refused) out(line);
          out(
            waiting
              ? `${entries.length} new result(s); ${waiting} reading upload(s) still awaited: the ledger has not answered yet (nothing is lost; run \`pmhe results\` again later)`
              : `${entries.length} new result(s); none awaited`,
          );
        }
        return refused.length ? EXIT.failed : waiting ? EXIT.awaited : EXIT.ok;
      }),
    );

  clientOptions(program.command('diagnose'))
    .description('your diagnoses from the local history (decrypted on this device)')
    .option('--last <n>', 'only the last n', count)
    .option('--verbose', 'also the decrypted values, ledger block and transaction')
    .action(
      run(async (o: { last?: number; verbose?: boolean }, command: Command) => {
        const g = globals(command);
        using client = await open(g);
        const all = [...(await client.history.list())].sort((a, b) => entryTime(a) - entryTime(b));
        const entries = all.slice(-(o.last ?? Number.MAX_SAFE_INTEGER));
        if (g.json) out(JSON.stringify({ results: entries.map(summary) }));
        else
          out(
            entries.length
              ? `${table(entries, o.verbose)}\n${advice(entries)}`
              : 'no results yet: run `pmhe submit` and `pmhe results`',
          );
        return EXIT.ok;
      }),
    );

  clientOptions(program.command('export'))
    .description('your readings and diagnoses as a FHIR R4 Bundle (or CSV), for your doctor or another app')
    .addOption(new Option('--format <format>', 'output format').choices(['fhir', 'csv']).default('fhir'))
    .option('--out <file>', 'write to a file instead of stdout')
    .action(
      run(async (o: { format: 'fhir' | 'csv'; out?: string }, command: Command) => {
        const g = globals(command);
        using client = await open(g);
        const entries = await client.history.list();
        const text =
          o.format === 'fhir'
            ? `${JSON.stringify(toFhirBundle(entries, { userId: client.user.userId }), null, 2)}\n`
            : historyCsv(entries);
        if (o.out) {
          await writeFile(o.out, text, { mode: 0o600 });
          process.stderr.write(`${entries.length} result(s) exported to ${o.out}\n`);
        } else process.stdout.write(text);
        return EXIT.ok;
      }),
    );

  const keys = program.command('keys').description('encrypted backups of your keys');
  clientOptions(keys.command('export'))
    .description(
      'write an encrypted backup of the vault (optionally under another passphrase: PMHE_BACKUP_PASSPHRASE)',
    )
    .argument('<file>', 'backup file')
    .action(
      run(async (file: string, _o: object, command: Command) => {
        const g = globals(command);
        const pass = await passphrase(g);
        const backupPass = process.env.PMHE_BACKUP_PASSPHRASE;
        await writeFile(file, await exportBackup(storeOf(g), pass, backupPass), { mode: 0o600 });
        out(`encrypted backup written to ${file}`);
        return EXIT.ok;
      }),
    );
  clientOptions(keys.command('import'))
    .description('restore a vault from an encrypted backup (checked before anything is written)')
    .argument('<file>', 'backup file')
    .option('--replace', 'replace an existing vault')
    .action(
      run(async (file: string, o: { replace?: boolean }, command: Command) => {
        const g = globals(command);
        const pass = await passphrase(g, 'backup passphrase: ');
        await importBackup(storeOf(g), new Uint8Array(await readFile(file)), pass, {
          replace: o.replace ?? false,
        });
        out(`vault restored into ${g.home}`);
        // The history follows the keys: rebuilt from the server now, or later by hand.
        try {
          using client = await PmheClient.open(storeOf(g), pass, connection(g));
          out(rebuiltMessage(await client.restoreHistory()));
        } catch (error) {
          if (!(error instanceof ApiError)) throw error;
          out(
            `your results were not fetched (${error.code}: ${error.message}); run \`pmhe history restore\` when the server is reachable`,
          );
        }
        return EXIT.ok;
      }),
    );

  const history = program.command('history').description('the results on this device');
  clientOptions(history.command('restore'))
    .description(
      'rebuild the history from your results on the server (after restoring your keys on a new device)',
    )
    .action(
      run(async (_o: object, command: Command) => {
        const g = globals(command);
        using client = await open(g);
        const report = await client.restoreHistory();
        if (g.json) out(JSON.stringify(report));
        else out(rebuiltMessage(report));
        return report.refused.length ? EXIT.failed : EXIT.ok;
      }),
    );
}

/** A time option: ISO-8601 (a time without a zone is local) or epoch milliseconds. */
function timeOption(text: string): number {
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isSafeInteger(ms))
    throw new UsageError(`not a time: ${text} (ISO-8601, e.g. 2026-12-01T08:00, or epoch ms)`);
  return ms;
}

type Readings = Parameters<PmheClient['queue']>[0];

/**
 * Queues readings after the newest one this device already holds (the vault opened once, the
 * readings made from that newest time when `source` is a function): replaying a file twice, or
 * simulating again, never queues the same times twice (their results would contradict).
 */
async function queue(
  g: Global,
  source: Readings | ((newest: number | undefined) => Readings),
): Promise<number> {
  using client = await open(g);
  const newest = await client.newestReadingTime();
  const all = typeof source === 'function' ? source(newest) : source;
  const readings = newest === undefined ? all : all.filter((r) => r.time > newest);
  const known = all.length - readings.length;
  if (readings.length === 0) {
    const message = `nothing new: all ${all.length} reading(s) are at or before the newest on this device (${localTime(newest ?? 0)})`;
    if (g.json) out(JSON.stringify({ queued: 0, known }));
    else out(message);
    return EXIT.ok;
  }
  const progress = bar(g, 'filtering, encrypting and signing {bar} {value}/{total} uploads');
  const queued = await client.queue(readings, Date.now(), (done, total) => {
    if (done === 1) progress?.start(total, 0);
    progress?.update(done);
  });
  progress?.stop();
  if (g.json)
    out(
      JSON.stringify({
        queued: queued.items.length,
        known,
        report: queued.report,
        timings: queued.timings,
        skipped: queued.skipped,
      }),
    );
  else {
    if (known)
      out(`${known} reading(s) at or before ${localTime(newest ?? 0)} are already on this device: skipped`);
    out(formatReport(queued.report));
    for (const x of queued.skipped) out(`${x.modelId} could not take these readings: ${x.reason}`);
    out(`${queued.items.length} upload(s) encrypted, signed and queued; run \`pmhe submit\` to send them`);
  }
  return EXIT.ok;
}

function outboxSummary(i: OutboxItem) {
  return {
    id: i.id,
    state: i.state === 'sent' ? 'awaiting result' : i.state === 'failed' ? 'refused' : 'waiting',
    readings: i.readings.length,
    firstReading: i.readings[0] ? localTime(i.readings[0].time) : '',
    ...(i.lastError ? { reason: i.lastError } : {}),
  };
}

/** Each model's newest result's guidance, and the notice, under a table. */
function advice(entries: readonly HistoryEntry[]): string {
  const sorted = [...entries].sort((a, b) => entryTime(a) - entryTime(b));
  const models = [...new Set(sorted.map((e) => e.modelId))];
  const lines = models.flatMap((m) => {
    const newest = sorted.filter((e) => e.modelId === m).at(-1) as HistoryEntry;
    const g = guidanceFor(m, newest.diagnosis);
    const what = models.length > 1 ? `the latest ${m} result` : 'the latest result';
    return g ? [`What ${what} means: ${g.text}`, `(${g.source})`] : [];
  });
  return [...lines, NOT_A_MEDICAL_DEVICE].map((l) => wrap(l)).join('\n');
}

/** Words wrapped to the terminal's width (80 columns when not one). */
function wrap(text: string, width = process.stdout.columns || 80): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.join('\n');
}

function rebuiltMessage(r: Awaited<ReturnType<PmheClient['restoreHistory']>>): string {
  const lines = [
    `${r.restored} result(s) rebuilt from the server into this device's history (values and diagnoses; the readings stayed on the device that took them)`,
  ];
  if (r.batch)
    lines.push(`${r.batch} batch result(s) need their readings to be read and were left on the server`);
  for (const x of r.refused) lines.push(`not kept: ${x}`);
  return lines.join('\n');
}

function summary(e: HistoryEntry) {
  const g = guidanceFor(e.modelId, e.diagnosis);
  return {
    time: new Date(entryTime(e)).toISOString(),
    ...(e.restored ? { restored: true } : {}),
    modelId: e.modelId,
    values: e.values,
    diagnosis: e.diagnosis.label,
    ...(g ? { guidance: g.text, guidanceSource: g.source } : {}),
    level: e.diagnosis.level,
    borderline: e.diagnosis.borderline,
    txId: e.txId,
    blockNumber: e.blockNumber,
    latencyMs: e.latencyMs,
    uploadedBytes: e.uploadedBytes,
  };
}

/** Colour only for a person at a terminal that wants it (https://no-color.org). */
const colour = () => Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;

/**
 * A table that fits the terminal (80 columns when not one), wrapping long cells: the first column
 * (a local time, 16 characters) whole, `weights` sharing the rest.
 */
function fitted(head: string[], weights: number[]): Table.Table {
  const width = Math.max(60, process.stdout.columns || 80);
  const room = width - (head.length + 1) - 2 * head.length - 16; // borders, padding, the time
  const total = weights.reduce((a, b) => a + b, 0);
  return new Table({
    head,
    colWidths: [18, ...weights.map((w) => Math.max(6, Math.floor((room * w) / total)) + 2)],
    wordWrap: true,
    style: colour() ? { head: ['cyan'], border: ['grey'] } : { head: [], border: [] },
  });
}

/**
 * Results oldest first by reading time, in local time, with the measured vitals beside each. With
 * --verbose, one block per result instead: also the model, the decrypted values and the ledger
 * block and whole transaction id (lines, so nothing is cut at any width).
 */
function table(entries: readonly HistoryEntry[], verbose = false): string {
  const sorted = [...entries].sort((a, b) => entryTime(a) - entryTime(b));
  if (verbose) {
    return sorted
      .map((e) =>
        [
          `${localTime(entryTime(e))}  ${e.diagnosis.label}`,
          `  model: ${e.modelId} (${e.layout})`,
          `  measured: ${measured(e)}`,
          `  decrypted: ${Object.entries(e.values)
            .map(([k, v]) => `${k} ${fmt(v)}`)
            .join(', ')}`,
          `  ledger: block ${e.blockNumber}, transaction ${e.txId}`,
        ].join('\n'),
      )
      .join('\n\n');
  }
  // A person following several models sees which model each result is from.
  if (new Set(sorted.map((e) => e.modelId)).size > 1) {
    const t = fitted(['reading time', 'model', 'measured', 'result'], [14, 30, 36]);
    for (const e of sorted) t.push([localTime(entryTime(e)), e.modelId, measured(e), e.diagnosis.label]);
    return t.toString();
  }
  const t = fitted(['reading time', 'measured', 'result'], [30, 40]);
  for (const e of sorted) t.push([localTime(entryTime(e)), measured(e), e.diagnosis.label]);
  return t.toString();
}

/** The last reading's vitals, short enough for a table cell (a batch says how many). */
function measured(e: HistoryEntry): string {
  const v = lastVitals(e);
  if (!v) return e.restored ? '(on the device that took it)' : '';
  const vitals = `HR ${v.heartRate}, BP ${v.systolic}/${v.diastolic}, RR ${v.breathing}`;
  return v.readings > 1 ? `${v.readings} readings; last: ${vitals}` : vitals;
}
