/**
 * Rendering for sharing with clinicians: the person's list of grants, and the clinician's people
 * (each one's grant, latest diagnosis per model, a trend and every item with its transactions).
 * Plain DOM from data; main.ts wires the buttons to the worker.
 */
import type { Inbox, InboxItem } from '../../src/client/clinician.ts';
import type { Grant } from '../../src/protocol/api.ts';
import type { GrantRecord } from '../../src/protocol/contract.ts';
import { ResultsChart } from './charts.ts';
import { el, fmtFixed, fmtTime, modelOf } from './view.ts';

const modelName = (id: string) => modelOf(id)?.name ?? id;
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** A transaction id in full (it is what an auditor looks up), breaking anywhere on a narrow screen. */
const tx = (id: string, testid?: string) =>
  el('code', { class: 'tx', ...(testid ? { 'data-testid': testid } : {}) }, id);

// ---------------------------------------------------------------------------------------------
// The person's grants

const STATE_WORDS: Record<Grant['state'], string> = {
  active: 'active',
  revoked: 'revoked',
  expired: 'expired',
};

/** One item per grant, newest first; Revoke on those in force. */
export function renderGrants(
  list: HTMLElement,
  grants: readonly Grant[],
  onRevoke: (g: Grant) => void,
): void {
  const sorted = [...grants].sort((a, b) => Date.parse(b.from) - Date.parse(a.from));
  list.replaceChildren(
    ...sorted.map((g) => {
      const who = g.clinicianName ? `${g.clinicianName} (${g.clinicianId})` : g.clinicianId;
      const item = el(
        'li',
        {
          'data-clinician': g.clinicianId,
          'data-state': g.state,
          'data-shared': String(g.shared.length),
          'data-tx': g.txId,
        },
        el(
          'p',
          { class: 'grant-who' },
          el('strong', {}, who),
          el('span', { class: `badge state-${g.state}` }, STATE_WORDS[g.state]),
        ),
        el(
          'p',
          { class: 'help' },
          `${g.models.map(modelName).join(', ')} · until ${fmtTime(Date.parse(g.until))} · ${plural(g.shared.length, 'result')} shared`,
        ),
        el('p', { class: 'help' }, 'Granted in ledger transaction ', tx(g.txId, 'grant-tx')),
        ...(g.revokedAt
          ? [
              el(
                'p',
                { class: 'help' },
                `Revoked ${fmtTime(Date.parse(g.revokedAt))}`,
                ...(g.revokeTx ? [' in transaction ', tx(g.revokeTx)] : []),
              ),
            ]
          : []),
      );
      if (g.state === 'active') {
        const revoke = el(
          'button',
          {
            type: 'button',
            class: 'revoke-grant',
            'data-clinician': g.clinicianId,
            'aria-label': `Revoke ${who}`,
          },
          'Revoke',
        );
        revoke.addEventListener('click', () => onRevoke(g));
        item.append(revoke);
      }
      return item;
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// The clinician's people

/** A grant's state now, as the ledger's record says (the same rule the contract applies). */
export function grantState(g: GrantRecord, now = Date.now()): Grant['state'] {
  if (g.revokedAt !== null) return 'revoked';
  return g.until <= now ? 'expired' : 'active';
}

export interface PeopleOptions {
  /** The values of a model to draw in its trend (its headline outputs). */
  plotOf(modelId: string): readonly string[];
  onExport(userId: string): void;
}

/**
 * One article per person who granted (newest grant first), with their items; returns the charts
 * drawn, for the caller to destroy before the next refresh.
 */
export function renderPeople(container: HTMLElement, inbox: Inbox, options: PeopleOptions): ResultsChart[] {
  const charts: ResultsChart[] = [];
  const grants = [...inbox.grants].sort((a, b) => b.timestamp - a.timestamp);
  // Items of someone without a grant record cannot pass the checks, but are grouped all the same.
  const people = [...new Set([...grants.map((g) => g.userId), ...inbox.items.map((i) => i.userId)])];
  container.replaceChildren(
    ...people.map((userId) => {
      const items = inbox.items.filter((i) => i.userId === userId);
      const grant = grants.find((g) => g.userId === userId);
      const article = el(
        'article',
        { class: 'person', 'data-user': userId, 'aria-labelledby': `person-${cssId(userId)}` },
        el('h3', { id: `person-${cssId(userId)}` }, userId),
      );
      if (grant) article.append(grantLine(grant));
      if (items.length === 0) {
        article.append(
          el(
            'p',
            { class: 'help' },
            grant && grantState(grant) !== 'active'
              ? 'Nothing is shown: the grant has ended, and the server no longer serves what was shared.'
              : 'Nothing shared yet: results come as the person takes readings.',
          ),
        );
        return article;
      }
      const models = [...new Set(items.map((i) => i.modelId))];
      article.append(
        el(
          'div',
          { class: 'diagnoses' },
          ...models.map((m) => latestCard(items.filter((i) => i.modelId === m).at(-1) as InboxItem)),
        ),
      );
      for (const m of models) {
        const shown = items.filter((i) => i.modelId === m);
        const names = options.plotOf(m).filter((n) => shown.some((i) => i.values[n] !== undefined));
        if (names.length === 0 || shown.length < 2) continue;
        const canvas = el('canvas', {
          role: 'img',
          'aria-label': `Trend of ${userId}'s ${modelName(m)} results over time (${names.join(', ')}); every result is also listed below.`,
        });
        article.append(el('div', { class: 'chart small' }, canvas));
        const chart = new ResultsChart(canvas, names, modelName(m));
        for (const i of shown) chart.add(i.readAt, i.values);
        charts.push(chart);
      }
      const exportButton = el(
        'button',
        {
          type: 'button',
          class: 'export-fhir',
          'data-user': userId,
          'aria-label': `Export ${userId}'s shared results as a FHIR Bundle (JSON)`,
        },
        'Export FHIR',
      );
      exportButton.addEventListener('click', () => options.onExport(userId));
      article.append(itemsTable(userId, items), exportButton);
      return article;
    }),
  );
  return charts;
}

/** An id usable in an element id (user ids may hold any character). */
const cssId = (s: string) =>
  [...new TextEncoder().encode(s)].map((b) => b.toString(16).padStart(2, '0')).join('');

function grantLine(g: GrantRecord): HTMLElement {
  const state = grantState(g);
  return el(
    'p',
    { class: 'help grant-line', 'data-state': state },
    el('span', { class: `badge state-${state}` }, state),
    ` ${g.models.map(modelName).join(', ')} · until ${fmtTime(g.until)} · granted in transaction `,
    tx(g.txId),
  );
}

/** A model's latest shared diagnosis: label, level, guideline and where it is on the ledger. */
function latestCard(i: InboxItem): HTMLElement {
  const title = el('h4', {}, i.diagnosis.label);
  if (i.diagnosis.borderline)
    title.append(el('span', { class: 'badge borderline', 'data-testid': 'borderline' }, 'borderline'));
  return el(
    'div',
    {
      class: 'diagnosis',
      'data-model': i.modelId,
      'data-level': i.diagnosis.level,
      'data-borderline': String(i.diagnosis.borderline),
      'data-tx': i.txId,
      'data-share-tx': i.shareTx,
    },
    el(
      'p',
      { class: 'help' },
      `${modelName(i.modelId)} · reading of ${fmtTime(i.readAt)} · level ${i.diagnosis.level}`,
    ),
    title,
    ...(i.guidance
      ? [
          el(
            'p',
            { class: 'guidance', 'data-testid': 'guidance' },
            i.guidance.text,
            ' ',
            el('span', { class: 'help' }, `(${i.guidance.source})`),
          ),
        ]
      : []),
    el(
      'p',
      { class: 'help' },
      'Evaluated in ledger transaction ',
      tx(i.txId, 'eval-tx'),
      ` (block ${i.blockNumber})`,
    ),
    el('p', { class: 'help' }, `Shared ${fmtTime(i.sharedAt)} in transaction `, tx(i.shareTx, 'share-tx')),
    el(
      'details',
      { class: 'details' },
      el('summary', {}, 'Details: the values and where they fall'),
      el(
        'p',
        {},
        Object.entries(i.values)
          .map(([k, v]) => `${k} ${fmtFixed(v)}`)
          .join(' · '),
      ),
      el('ul', { class: 'findings' }, ...i.diagnosis.findings.map((f) => el('li', {}, f))),
    ),
  );
}

/** Every item of a person, newest first, with its two transactions. */
function itemsTable(userId: string, items: readonly InboxItem[]): HTMLElement {
  const rows = [...items]
    .reverse()
    .map((i) =>
      el(
        'tr',
        { 'data-result': i.resultId, 'data-tx': i.txId, 'data-share-tx': i.shareTx, 'data-model': i.modelId },
        el('td', { class: 'item-cell' }, fmtTime(i.readAt)),
        el('td', { class: 'item-cell' }, i.diagnosis.label),
        el('td', { class: 'item-cell' }, tx(i.txId)),
        el('td', { class: 'item-cell' }, tx(i.shareTx)),
      ),
    );
  return el(
    'details',
    { class: 'shared-items' },
    el('summary', { class: 'shared-items-summary' }, `All ${plural(items.length, 'shared result')}`),
    el(
      'div',
      { class: 'table-wrap' },
      el(
        'table',
        { class: 'items' },
        el('caption', { class: 'visually-hidden' }, `Results ${userId} shared, newest first`),
        el(
          'thead',
          {},
          el(
            'tr',
            {},
            el('th', { scope: 'col', class: 'item-cell' }, 'Reading time'),
            el('th', { scope: 'col', class: 'item-cell' }, 'Diagnosis'),
            el('th', { scope: 'col', class: 'item-cell' }, 'Evaluation transaction'),
            el('th', { scope: 'col', class: 'item-cell' }, 'Share transaction'),
          ),
        ),
        el('tbody', {}, ...rows),
      ),
    ),
  );
}

/** The items the checks refused, each naming its problem (never shown as results). */
export function renderRefused(box: HTMLElement, refused: Inbox['refused']): void {
  box.hidden = refused.length === 0;
  box.replaceChildren(
    ...(refused.length === 0
      ? []
      : [
          el('p', {}, `${plural(refused.length, 'shared result')} failed the checks and are not shown:`),
          el(
            'ul',
            {},
            ...refused.map((r) =>
              el(
                'li',
                { 'data-problem': r.problem, 'data-user': r.userId },
                el('strong', {}, r.problem),
                ` — from ${r.userId}, result ${r.resultId.slice(0, 12)}…: ${r.reason}`,
              ),
            ),
          ),
        ]),
  );
}
