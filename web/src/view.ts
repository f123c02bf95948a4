/** Rendering of results: the diagnosis card, the table of recent results and the upload statistics. */
import { entryTime, type HistoryEntry, lastVitals } from '../../src/client/history.ts';
import { localTime } from '../../src/client/time.ts';
import { CATALOGUE } from '../../src/models/catalogue/index.ts';
import { errorBoundsFor } from '../../src/models/error-bounds.ts';
import { guidanceFor } from '../../src/models/guidance.ts';
import type { Model } from '../../src/models/model.ts';

export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from the page`);
  return element as T;
};

/** A new element with text and attributes (no innerHTML anywhere: nothing is parsed as markup). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attributes)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

export const modelOf = (id: string): Model | undefined => CATALOGUE.find((m) => m.id === id);

export const fmtNumber = (v: number, digits = 3) =>
  Math.abs(v) >= 100 ? v.toFixed(1) : Number(v.toPrecision(digits)).toString();

/** A decrypted value to a few decimals: CKKS adds noise in the fifth or sixth. */
export const fmtFixed = (v: number) => {
  const a = Math.abs(v);
  if (a < 0.0005) return '0.000'; // never "-0.000"
  return a >= 100 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
};

export const fmtBytes = (n: number) =>
  n >= 1024 * 1024
    ? `${(n / 1024 / 1024).toFixed(2)} MiB`
    : n >= 1024
      ? `${(n / 1024).toFixed(1)} KiB`
      : `${n} B`;

export const fmtMs = (ms: number) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);

/** A time as the person reads it: their own zone, to the minute. */
export const fmtTime = localTime;

/** The last reading's vitals in whole numbers, as a person reads them. */
export function measuredText(entry: HistoryEntry): string {
  const v = lastVitals(entry);
  if (!v) return '';
  const vitals = `heart rate ${v.heartRate}/min, blood pressure ${v.systolic}/${v.diastolic} mmHg, breathing ${v.breathing}/min`;
  return v.readings > 1 ? `${v.readings} readings; the last: ${vitals}` : vitals;
}

/** The diagnosis card: model, label, borderline, each output's Q in its range, criteria, findings. */
export function renderDiagnosis(card: HTMLElement, entry: HistoryEntry): void {
  const model = modelOf(entry.modelId);
  const d = entry.diagnosis;
  card.dataset.level = d.level;
  card.dataset.borderline = String(d.borderline);
  const title = el('h3', {}, d.label);
  if (d.borderline) {
    title.append(el('span', { class: 'badge borderline', 'data-testid': 'borderline' }, 'borderline'));
  }
  const bounds = errorBoundsFor(entry.modelId, entry.layout);
  const rows = (model?.outputs ?? []).map((output) => {
    const values = entry.q[output.name] ?? [];
    const value = values.at(-1);
    const bound = bounds[output.name];
    const [lo, hi] = output.range;
    const cells: (Node | string)[] =
      value === undefined
        ? ['–']
        : [
            fmtNumber(value, 4),
            bound !== undefined ? el('span', { class: 'help' }, ` ± ${bound}`) : '',
            ' ',
            el('meter', {
              min: String(lo),
              max: String(hi),
              value: String(Math.min(hi, Math.max(lo, value))),
              'aria-label': `${output.name} ${fmtNumber(value)} on a scale of ${lo} to ${hi}`,
            }),
          ];
    return el(
      'tr',
      {},
      el('th', { scope: 'row' }, output.name),
      el('td', {}, ...cells),
      el('td', {}, `${output.description} (${output.unit})`),
    );
  });
  const criteria = [...new Set((model?.outputs ?? []).map((o) => o.criteria))];
  const guidance = guidanceFor(entry.modelId, d);
  card.replaceChildren(
    el(
      'p',
      { class: 'help' },
      `${model?.name ?? entry.modelId} · ${entry.restored ? 'evaluated' : 'reading of'} ${fmtTime(entryTime(entry))}`,
    ),
    title,
    el(
      'p',
      { 'data-testid': 'measured' },
      entry.restored
        ? 'Measured: on the device that took the reading (this result was rebuilt from the server)'
        : `Measured: ${measuredText(entry)}`,
    ),
    ...(guidance
      ? [
          el(
            'p',
            { class: 'guidance', 'data-testid': 'guidance' },
            guidance.text,
            ' ',
            el('span', { class: 'help' }, `(${guidance.source})`),
          ),
        ]
      : []),
    // The numbers behind it (decrypted outputs, error bounds, criteria) one click away.
    el(
      'details',
      { class: 'details' },
      el('summary', {}, 'Details: the decrypted values and the criteria'),
      el('p', {}, `Level: ${d.level}${d.candidates ? ` (could be: ${d.candidates.join(' or ')})` : ''}`),
      details(rows, criteria, d.findings),
    ),
  );
}

function details(rows: HTMLTableRowElement[], criteria: string[], findings: string[]): DocumentFragment {
  const fragment = document.createDocumentFragment();
  fragment.append(
    el(
      'table',
      { class: 'q-values' },
      el('caption', { class: 'visually-hidden' }, 'Decrypted outputs Q'),
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          el('th', { scope: 'col' }, 'Output'),
          el('th', { scope: 'col' }, 'Q'),
          el('th', { scope: 'col' }, 'Meaning'),
        ),
      ),
      el('tbody', {}, ...rows),
    ),
    el('p', {}, el('strong', {}, 'Reference criteria: '), criteria.join('; ')),
    el('p', {}, el('strong', {}, 'Where Q falls:')),
    el('ul', { class: 'findings' }, ...findings.map((f) => el('li', {}, f))),
  );
  return fragment;
}

const MAX_ROWS = 50;

/** A row of the results table, newest first. */
export function addResultRow(tbody: HTMLTableSectionElement, entry: HistoryEntry, primary: string): void {
  const q = entry.values[primary] ?? entry.q[primary]?.at(-1);
  const row = el(
    'tr',
    {
      'data-tx': entry.txId,
      'data-block': String(entry.blockNumber),
      'data-level': entry.diagnosis.level,
      'data-model': entry.modelId,
    },
    el('td', {}, fmtTime(entryTime(entry))),
    el('td', {}, entry.diagnosis.label),
    el('td', {}, q === undefined ? '–' : `${primary} ${fmtFixed(q)}`),
    el('td', {}, entry.restored ? '–' : fmtMs(entry.latencyMs)),
    el('td', {}, entry.restored ? '–' : fmtBytes(entry.uploadedBytes)),
    el('td', {}, el('code', { class: 'tx' }, entry.txId)),
    el('td', { class: 'block' }, String(entry.blockNumber)),
  );
  tbody.prepend(row);
  while (tbody.rows.length > MAX_ROWS) tbody.deleteRow(-1);
}

/** Count, bytes uploaded per reading and the median latency of reading → diagnosis. */
export class Stats {
  #latencies: number[] = [];
  #bytes = 0;
  #readings = 0;
  rejected = 0;

  add(entry: HistoryEntry): void {
    if (entry.restored) return; // rebuilt from the server: no upload or latency of its own here
    this.#latencies.push(entry.latencyMs);
    this.#bytes += entry.uploadedBytes;
    this.#readings += Math.max(1, entry.readings.length);
  }

  reset(): void {
    this.#latencies = [];
    this.#bytes = 0;
    this.#readings = 0;
    this.rejected = 0;
  }

  render(): void {
    const sorted = [...this.#latencies].sort((a, b) => a - b);
    const median = sorted.length ? (sorted[Math.floor((sorted.length - 1) / 2)] as number) : undefined;
    $('stat-count').textContent = String(sorted.length);
    $('stat-bytes').textContent = this.#readings ? fmtBytes(Math.round(this.#bytes / this.#readings)) : '–';
    $('stat-latency').textContent = median === undefined ? '–' : fmtMs(median);
    $('stat-rejected').textContent = String(this.rejected);
  }
}
