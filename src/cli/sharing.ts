/**
 * `pmhe share …`, `pmhe clinician …` and `pmhe account close` (docs/sharing.md): a person grants
 * and revokes a clinician's access (after comparing the clinician's fingerprint), a clinician
 * keeps their own vault, registers, reads and exports what was shared with them; and a person
 * closes their account for good.
 */
import { writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline/promises';
import { type Command, Option } from 'commander';
import { PmheClient } from '../client/app.ts';
import { ClinicianClient, type InboxItem } from '../client/clinician.ts';
import { CATALOGUE } from '../models/catalogue/index.ts';
import type { Grant } from '../protocol/api.ts';
import {
  clientOptions,
  connection,
  count,
  EXIT,
  type Global,
  globals,
  open,
  out,
  passphrase,
  run,
  storeOf,
  UsageError,
} from './client.ts';

const DAY = 86_400_000;

/** Asks a yes/no question on a terminal; refuses (false) when there is none to ask on. */
async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

const when = (iso: string) => iso.slice(0, 16).replace('T', ' ');

function grantLine(g: Grant, role: 'person' | 'clinician'): string {
  const who = role === 'person' ? `${g.clinicianName} (${g.clinicianId})` : g.userId;
  const state =
    g.state === 'revoked'
      ? `revoked ${when(g.revokedAt ?? '')}`
      : g.state === 'expired'
        ? `expired ${when(g.until)}`
        : `until ${when(g.until)}`;
  return `${who}: ${g.models.join(', ')} from ${when(g.from)}, ${state}; ${g.shared.length} result(s) shared; grant transaction ${g.txId}`;
}

async function openClinician(g: Global): Promise<ClinicianClient> {
  return ClinicianClient.open(storeOf(g), await passphrase(g), connection(g));
}

export function sharingCommands(program: Command): void {
  const share = program
    .command('share')
    .description('share your results with a clinician: grant, revoke, list');

  clientOptions(share.command('grant <clinician>'))
    .description(
      'let a clinician receive your results of chosen models, until an expiry (a ledger transaction)',
    )
    .addOption(
      new Option(
        '--model <id...>',
        'the models whose results they receive (default: every model you follow)',
      ).choices(CATALOGUE.map((m) => m.id)),
    )
    .option('--days <n>', 'how long the grant lasts', count, 30)
    .option(
      '--fingerprint <fp>',
      'the fingerprint the clinician read out to you (else you are asked to compare)',
    )
    .action(
      run(
        async (
          clinicianId: string,
          o: { model?: string[]; days: number; fingerprint?: string },
          command: Command,
        ) => {
          const g = globals(command);
          using client = await open(g);
          const models = o.model ?? client.models;
          const clinician = await client.clinician(clinicianId);
          const norm = (f: string) => f.replace(/\s+/g, '').toLowerCase();
          if (o.fingerprint !== undefined) {
            if (norm(o.fingerprint) !== norm(clinician.fingerprint)) {
              throw new UsageError(
                `the fingerprint of ${clinicianId} here is "${clinician.fingerprint}", not "${o.fingerprint}": do not grant; ask your clinician and your server's operator`,
              );
            }
          } else {
            process.stderr.write(
              `${clinician.name} (${clinicianId}): fingerprint ${clinician.fingerprint}\n`,
            );
            if (!(await confirm('Is this the fingerprint your clinician read out to you?'))) {
              throw new UsageError(
                `not granted: compare the fingerprint ${clinician.fingerprint} with your clinician, then pass --fingerprint`,
              );
            }
          }
          const done = await client.grant(clinician, { models, until: Date.now() + o.days * DAY });
          if (g.json) out(JSON.stringify(done));
          else {
            out(`granted: ${grantLine(done.grant, 'person')}`);
            for (const f of done.failed)
              out(`not shared yet: result ${f.resultId.slice(0, 12)}: ${f.reason}`);
          }
          return done.failed.length ? EXIT.failed : EXIT.ok;
        },
      ),
    );

  clientOptions(share.command('revoke <clinician>'))
    .description('end a grant now: nothing more is shared, and the server refuses them what was')
    .action(
      run(async (clinicianId: string, _o: unknown, command: Command) => {
        const g = globals(command);
        using client = await open(g);
        const grant = await client.revoke(clinicianId);
        if (g.json) out(JSON.stringify(grant));
        else out(`revoked: ${grantLine(grant, 'person')} (revoke transaction ${grant.revokeTx})`);
        return EXIT.ok;
      }),
    );

  clientOptions(share.command('list', { isDefault: true }))
    .description('the grants you gave, and what was shared under each')
    .action(
      run(async (_o: unknown, command: Command) => {
        const g = globals(command);
        using client = await open(g);
        const grants = await client.grants();
        if (g.json) out(JSON.stringify({ grants }));
        else if (grants.length === 0) out('you have granted nobody access');
        else for (const grant of grants) out(grantLine(grant, 'person'));
        return EXIT.ok;
      }),
    );

  clientOptions(share.command('now'))
    .description(
      'share the results your grants cover that were not shared yet (results are shared as they arrive)',
    )
    .action(
      run(async (_o: unknown, command: Command) => {
        const g = globals(command);
        using client = await open(g);
        const report = await client.shareOutstanding();
        if (g.json) out(JSON.stringify(report));
        else {
          out(`${report.shared.length} result(s) shared`);
          for (const f of report.failed)
            out(`not shared: result ${f.resultId.slice(0, 12)} with ${f.clinicianId}: ${f.reason}`);
        }
        return report.failed.length ? EXIT.failed : EXIT.ok;
      }),
    );

  const clinician = program
    .command('clinician')
    .description('for clinicians: your keys, registration, and the results people share with you');

  clientOptions(clinician.command('init'))
    .description('generate your signing and receiving keys on this device, sealed in an encrypted vault')
    .requiredOption('--id <id>', 'your clinician id on the server')
    .requiredOption('--name <name>', 'the name people see when they look you up')
    .action(
      run(async (o: { id: string; name: string }, command: Command) => {
        const g = globals(command);
        const pass = await passphrase(g, 'new passphrase: ');
        const c = await ClinicianClient.init(storeOf(g), {
          clinicianId: o.id,
          name: o.name,
          passphrase: pass,
          ...(g.server ? { server: g.server } : {}),
        });
        if (g.json)
          out(JSON.stringify({ clinicianId: c.clinicianId, name: c.name, fingerprint: c.fingerprint }));
        else
          out(
            `vault created in ${g.home} for ${c.name} (${c.clinicianId}); your fingerprint: ${c.fingerprint}`,
          );
        return EXIT.ok;
      }),
    );

  clientOptions(clinician.command('register'))
    .description('register your keys with the server and the ledger')
    .option('--enrolment <code>', 'an enrolment code (servers that enrol)')
    .action(
      run(async (o: { enrolment?: string }, command: Command) => {
        const g = globals(command);
        const c = await openClinician(g);
        const registered = await c.register(o.enrolment);
        if (g.json) out(JSON.stringify(registered));
        else
          out(
            `registered ${registered.name} (${registered.clinicianId}): transaction ${registered.txId}; read your fingerprint ${registered.fingerprint} to people before they grant`,
          );
        return EXIT.ok;
      }),
    );

  clientOptions(clinician.command('show'))
    .description('your id, name and fingerprint')
    .action(
      run(async (_o: unknown, command: Command) => {
        const g = globals(command);
        const c = await openClinician(g);
        const info = { clinicianId: c.clinicianId, name: c.name, fingerprint: c.fingerprint };
        if (g.json) out(JSON.stringify(info));
        else out(`${info.name} (${info.clinicianId}): fingerprint ${info.fingerprint}`);
        return EXIT.ok;
      }),
    );

  clientOptions(clinician.command('inbox'))
    .description('what people shared with you, each item checked against the ledger and their signature')
    .option('--person <id>', 'one person only')
    .action(
      run(async (o: { person?: string }, command: Command) => {
        const g = globals(command);
        const c = await openClinician(g);
        const inbox = await c.inbox(o.person);
        if (g.json) {
          out(JSON.stringify(inbox));
        } else {
          const people = [...new Set(inbox.grants.map((x) => x.userId))];
          if (people.length === 0) out('nobody has granted you access');
          for (const person of people) {
            const grant = inbox.grants.find((x) => x.userId === person);
            const items = inbox.items.filter((i) => i.userId === person);
            const state = grant?.revokedAt
              ? 'revoked'
              : (grant?.until ?? 0) <= Date.now()
                ? 'expired'
                : 'active';
            out(`${person} (${state}; ${items.length} result(s)):`);
            for (const modelId of [...new Set(items.map((i) => i.modelId))]) {
              const ofModel = items.filter((i) => i.modelId === modelId);
              const latest = ofModel.at(-1) as InboxItem;
              out(
                `  ${modelId}: latest ${latest.diagnosis.label} (${new Date(latest.readAt).toISOString().slice(0, 16)}), evaluation ${latest.txId.slice(0, 16)}…, shared in ${latest.shareTx.slice(0, 16)}…`,
              );
              const [name] = Object.keys(latest.values);
              if (name && ofModel.length > 1)
                out(
                  `    trend of ${name}: ${ofModel.map((i) => Number(i.values[name]?.toFixed(1))).join(' → ')}`,
                );
              if (latest.guidance) out(`    ${latest.guidance.text} (${latest.guidance.source})`);
            }
          }
          for (const r of inbox.refused)
            out(`NOT SHOWN (${r.problem}): ${r.userId} result ${r.resultId.slice(0, 12)}: ${r.reason}`);
        }
        return inbox.refused.length ? EXIT.failed : EXIT.ok;
      }),
    );

  clientOptions(clinician.command('export'))
    .description('what one person shared with you as a FHIR R4 Bundle')
    .requiredOption('--person <id>', 'whose results')
    .option('--out <file>', 'write to a file instead of stdout')
    .action(
      run(async (o: { person: string; out?: string }, command: Command) => {
        const g = globals(command);
        const c = await openClinician(g);
        const inbox = await c.inbox(o.person);
        const text = `${JSON.stringify(c.fhirBundle(inbox.items, o.person), null, 2)}\n`;
        if (o.out) {
          await writeFile(o.out, text, { mode: 0o600 });
          process.stderr.write(`${inbox.items.length} result(s) of ${o.person} exported to ${o.out}\n`);
        } else process.stdout.write(text);
        return EXIT.ok;
      }),
    );

  const account = program.command('account').description('your account');
  clientOptions(account.command('close'))
    .description(
      'close your account for good: the ledger and the server delete your data, this device your keys',
    )
    .option('--yes', 'do not ask (for scripts): you have read what closing deletes')
    .action(
      run(async (o: { yes?: boolean }, command: Command) => {
        const g = globals(command);
        const pass = await passphrase(g);
        using client = await PmheClient.open(storeOf(g), pass, connection(g));
        if (!o.yes) {
          process.stderr.write(
            'Closing deletes your keys from this device, your data from the server, and your entries from the ledger’s state. The ledger’s blocks keep what was recorded, unreadable without your keys. It cannot be undone.\n',
          );
          if (!(await confirm(`Close the account of ${client.user.userId} for good?`))) {
            throw new UsageError('not closed: pass --yes to close without being asked');
          }
        }
        const closed = await client.closeAccount(pass);
        if (g.json) out(JSON.stringify(closed));
        else
          out(
            `closed ${closed.userId}: ${closed.ledgerKeys} ledger entries in ${closed.txIds.length} transaction(s), ${closed.serverRows} server rows, and this device's vault deleted`,
          );
        return EXIT.ok;
      }),
    );
}
