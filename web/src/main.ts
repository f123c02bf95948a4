/**
 * The PMHE browser client's page: onboarding, unlock, and the monitoring screen. Plain DOM; the
 * keys, the vault and every CKKS operation live in ./worker.ts, which this page talks to through
 * ./messages.ts. The page talks to no server itself: the worker calls this page's own origin.
 *
 * Element ids for tests (stable):
 *   screens     #loading  #onboarding  #unlock-screen  #app  #restore (details)
 *   messages    #status (aria-live)  #error (role=alert)  #progress-box  #progress  #progress-label
 *   onboarding  #create-form  #user-id  #enrolment  input[name=model] (#model-early-warning, #model-blood-pressure,
 *               #model-chd-risk)  #news2-fields (#spo2-scale-2)  #profile-fields (#age #bmi #cholesterol #smoker)
 *               #passphrase  #passphrase-confirm  #create
 *   unlock      #unlock-form  #unlock-passphrase  #unlock
 *   restore     #import-file  #import-passphrase  #import-replace  #import
 *   main        #account  #lock  #persona  #count  #pace  #seed  #start  #stop  #csv-file  #connect-hr
 *               #connect-bp  #connect-spo2  #connect-temp  #bluetooth-note  #resp-rate  #spo2  #temperature
 *               #oxygen  #consciousness  #stream-progress  #alert (role=alert: no breathing detected)
 *               #diagnosis (one .diagnosis card per model followed: data-model, data-level,
 *               data-borderline; [data-testid=borderline] badge)
 *               #readings-chart  #results-chart  #stats (#stat-count #stat-bytes #stat-latency
 *               #stat-rejected)  #results (tbody rows: data-tx, data-block, data-level, data-model)
 *   models      #models-panel (details)  #models-summary  #model-list (li[data-model], each with
 *               button.remove-model)  #add-model-form  #add-model (select)  #add-profile-fields (#add-age
 *               #add-bmi #add-cholesterol #add-smoker)  #add-news2-field (#add-spo2-scale-2)  #add-model-button
 *   profile     #profile-panel (details)  #profile-summary  #profile-values (div[data-field] of dt, dd)
 *               #profile-none  #profile-note  #profile-edit  #profile-form (#profile-age #profile-bmi
 *               #profile-cholesterol #profile-smoker #profile-spo2-scale-2)  #profile-save  #profile-cancel
 *   passphrase  #vault-dialog  #vault-passphrase  #vault-confirm  #vault-cancel  #vault-error
 *               #export-fhir  #export-csv  #export-backup
 *   backup      #backup-dialog  #backup-passphrase  #backup-new-passphrase  #backup-confirm  #backup-cancel
 *               #backup-error
 *   role        #role-person  #role-clinician (onboarding: which form shows)
 *   clinician's #clinician-form  #clinician-id  #clinician-name  #clinician-enrolment  #clinician-passphrase
 *   keys        #clinician-passphrase-confirm  #create-clinician
 *   share       #share-lookup-form  #share-clinician-id  #share-lookup  #share-grant-form (#share-name
 *               #share-id  #share-fingerprint  input[name=share-model]  #share-days  #share-until
 *               #share-grant  #share-cancel)  #share-note  #grant-list (li[data-clinician][data-state]
 *               [data-shared][data-tx], each active one with button.revoke-grant)
 *   close       #close-panel (details)  #close-form  #close-passphrase  #close-account
 *   confirm     #confirm-dialog  #confirm-title  #confirm-text  #confirm-ok  #confirm-cancel
 *   clinician's #clinician-app  #clinician-account  #clinician-lock  #clinician-fingerprint  #inbox-refresh
 *   screen      #inbox-note  #inbox-warnings (li[data-problem])  #people (article.person[data-user]: a
 *               .grant-line[data-state], .diagnosis[data-model][data-level][data-tx][data-share-tx] per
 *               model, canvas trends, table.items rows [data-result][data-tx][data-share-tx],
 *               button.export-fhir[data-user])
 * document.body.dataset.screen is 'loading' | 'onboarding' | 'unlock' | 'app' | 'clinician';
 * data-busy="true" while a slow operation runs.
 */
import './style.css';
import type { RawReading } from '../../src/client/filter.ts';
import { entryTime, type HistoryEntry } from '../../src/client/history.ts';
import { PERSONA_NAMES, PERSONAS } from '../../src/device/personas.ts';
import type { Consciousness } from '../../src/device/reading.ts';
import { NOT_A_MEDICAL_DEVICE } from '../../src/models/guidance.ts';
import type { Grant } from '../../src/protocol/api.ts';
import type { Layout } from '../../src/protocol/schema.ts';
import { bluetooth, connect, type Measurement } from './bluetooth.ts';
import { ReadingsChart, ResultsChart } from './charts.ts';
import type { ClinicianSummary, Event, ProgressPhase, VaultSummary } from './messages.ts';
import { renderGrants, renderPeople, renderRefused } from './sharing-view.ts';
import { $, addResultRow, el, fmtMs, fmtTime, modelOf, renderDiagnosis, Stats } from './view.ts';
import { WorkerCallError, WorkerClient } from './worker-client.ts';

/** The models offered, in plain language, with the layout each is used in. */
const MODELS: readonly {
  id: string;
  layout: Layout;
  explanation: string;
  sends: string;
  plot: string[];
  simulator: { count: number; paceMs: number };
}[] = [
  {
    id: 'early-warning',
    layout: 'packed',
    explanation:
      'After every reading, scores your breathing rate, systolic blood pressure and heart rate on the NEWS2 early-warning chart that hospitals use, and says whether the total calls for attention. With oxygen saturation, temperature, oxygen and consciousness (measured or entered), this device completes the full NEWS2 and checks qSOFA. The fastest choice.',
    sends:
      'Sends: each reading, encrypted; the server never sees it. Oxygen saturation, temperature, oxygen and consciousness stay on this device.',
    plot: ['total', 'rrScore', 'sbpScore', 'hrScore'],
    simulator: { count: 30, paceMs: 1000 },
  },
  {
    id: 'blood-pressure',
    layout: 'batch',
    explanation:
      'Looks at a whole week of blood-pressure readings at once: day, night and 24-hour averages, their spread and the night-time dip, against the ambulatory thresholds. One result per week of readings.',
    sends: 'Sends: a week of readings in one encrypted upload; the server never sees them.',
    plot: ['daySbp', 'nightSbp', 'dayDbp', 'nightDbp'],
    simulator: { count: 672, paceMs: 20 },
  },
  {
    id: 'chd-risk',
    layout: 'packed',
    explanation:
      'Estimates your risk of coronary heart disease from your blood pressure and a profile you enter once (age, body-mass index, cholesterol, smoking). The server computes an encrypted score; this device turns it into your risk.',
    sends: 'Sends: each reading and your profile, encrypted; the server never sees them.',
    plot: ['risk'],
    simulator: { count: 10, paceMs: 3000 },
  },
];

const PHASES: Record<ProgressPhase, string> = {
  keys: 'Generating your keys on this device…',
  seal: 'Sealing your keys under your passphrase…',
  unlock: 'Unlocking your keys…',
  register: 'Sending your public and evaluation keys to the server…',
  encrypt: 'Encrypting readings…',
  upload: 'Uploading encrypted readings…',
  backup: 'Sealing the backup…',
  inbox: 'Fetching what was shared and checking each result against the ledger…',
  share: 'Recording the grant on the ledger and sharing the results it covers…',
  close: 'Closing your account…',
};

/** Phases that report only their start and end: an indeterminate bar meanwhile. */
const UNMEASURED: readonly ProgressPhase[] = ['keys', 'register', 'inbox', 'share', 'close'];

const worker = new WorkerClient();
$('notice').textContent = NOT_A_MEDICAL_DEVICE;
const server = location.origin;
const stats = new Stats();
let vault: VaultSummary | null = null;
let readingsChart: ReadingsChart | undefined;
let resultsChart: ResultsChart | undefined;

// ---------------------------------------------------------------------------------------------
// Messages

function say(message: string): void {
  $('status').textContent = message;
}

function showError(message: string | null, focus?: HTMLElement): void {
  const box = $('error');
  box.textContent = message ?? '';
  box.hidden = message === null;
  if (message !== null && focus) {
    focus.setAttribute('aria-invalid', 'true');
    focus.setAttribute('aria-errormessage', 'error');
    focus.focus();
  }
}

function clearInvalid(): void {
  for (const e of document.querySelectorAll('[aria-invalid]')) {
    e.removeAttribute('aria-invalid');
    e.removeAttribute('aria-errormessage');
  }
}

function messageOf(error: unknown): string {
  if (error instanceof WorkerCallError) {
    switch (error.code) {
      case 'WRONG_PASSPHRASE':
        return 'Wrong passphrase. Check it and try again.';
      case 'NETWORK':
      case 'TIMEOUT':
        return `The server cannot be reached right now (${error.message}). Nothing is lost: readings wait on this device.`;
      default:
        return error.message;
    }
  }
  return (error as Error).message ?? String(error);
}

function progress(phase: ProgressPhase, done: number, total: number): void {
  if (phase === 'encrypt' || phase === 'upload') return; // shown per stream below
  const box = $('progress-box');
  const bar = $<HTMLProgressElement>('progress');
  box.hidden = false;
  $('progress-label').textContent = PHASES[phase];
  if (UNMEASURED.includes(phase) && done < total) bar.removeAttribute('value');
  else {
    bar.max = total;
    bar.value = done;
  }
}

function endProgress(): void {
  $('progress-box').hidden = true;
}

/** Runs a slow operation with the submit buttons off and the progress bar right after `near`. */
async function busy<T>(what: () => Promise<T>, near?: HTMLElement): Promise<T> {
  const box = $('progress-box');
  if (near) near.after(box);
  else $('status').after(box);
  document.body.dataset.busy = 'true';
  for (const b of document.querySelectorAll<HTMLButtonElement>('form button[type=submit]')) b.disabled = true;
  try {
    return await what();
  } finally {
    delete document.body.dataset.busy;
    for (const b of document.querySelectorAll<HTMLButtonElement>('form button[type=submit]'))
      b.disabled = false;
    endProgress();
  }
}

// ---------------------------------------------------------------------------------------------
// Screens

type Screen = 'loading' | 'onboarding' | 'unlock' | 'app' | 'clinician';

function show(screen: Screen): void {
  document.body.dataset.screen = screen;
  $('loading').hidden = screen !== 'loading';
  $('onboarding').hidden = screen !== 'onboarding';
  $('unlock-screen').hidden = screen !== 'unlock';
  $('app').hidden = screen !== 'app';
  $('clinician-app').hidden = screen !== 'clinician';
  $('restore').hidden = screen !== 'onboarding' && screen !== 'unlock';
  $('import-replace-field').hidden = screen !== 'unlock';
  $('loading').removeAttribute('aria-busy');
}

function renderModels(): void {
  const fieldset = $('models');
  MODELS.forEach((m, i) => {
    const model = modelOf(m.id);
    if (!model) return;
    const id = `model-${m.id}`;
    const radio = el('input', {
      type: 'radio',
      name: 'model',
      id,
      value: m.id,
      'aria-describedby': `${id}-about ${id}-sends`,
    });
    radio.checked = i === 0;
    fieldset.append(
      el(
        'div',
        { class: 'model' },
        radio,
        el('label', { for: id }, model.name),
        el('p', { id: `${id}-about` }, m.explanation),
        el('p', { id: `${id}-sends` }, m.sends),
      ),
    );
  });
  fieldset.addEventListener('change', () => {
    $('profile-fields').hidden = (modelOf(chosenModel().id)?.profile.length ?? 0) === 0;
    $('news2-fields').hidden = chosenModel().id !== 'early-warning';
  });
}

const chosenModel = () => {
  const checked = document.querySelector<HTMLInputElement>('input[name=model]:checked');
  return MODELS.find((m) => m.id === checked?.value) ?? (MODELS[0] as (typeof MODELS)[number]);
};

function renderPersonas(): void {
  const select = $<HTMLSelectElement>('persona');
  for (const name of PERSONA_NAMES) select.append(el('option', { value: name }, name));
  const describe = () => {
    $('persona-description').textContent = PERSONAS[select.value as keyof typeof PERSONAS]?.description ?? '';
  };
  select.addEventListener('change', describe);
  describe();
}

const modelName = (id: string) => modelOf(id)?.name ?? id;
const allBatch = (summary: VaultSummary) => summary.models.every((m) => m.layout === 'batch');

async function enterApp(summary: VaultSummary): Promise<void> {
  // The simulator's defaults suit the first real-time model (else the first one): readings come at its pace.
  const lead = summary.models.find((m) => m.layout !== 'batch') ?? summary.models[0];
  const choice = MODELS.find((m) => m.id === lead?.modelId);
  if (choice) {
    $<HTMLInputElement>('count').value = String(choice.simulator.count);
    $<HTMLSelectElement>('pace').value = String(choice.simulator.paceMs);
  }
  const history = await renderVault(summary);
  resetShare();
  if (!summary.registered) await register();
  else say(`Unlocked. ${history.length} earlier result${history.length === 1 ? '' : 's'} loaded.`);
  if (history.length === 0) await restoreHistory();
  if (vault?.registered) await loadGrants();
}

/** Whichever client the vault unlocked: a person's monitoring, or a clinician's inbox. */
function enter(unlocked: VaultSummary | ClinicianSummary): Promise<void> {
  return unlocked.role === 'clinician' ? enterClinician(unlocked) : enterApp(unlocked);
}

/** The account line, the models panel, one diagnosis card per model, charts and table from the history. */
async function renderVault(summary: VaultSummary): Promise<HistoryEntry[]> {
  vault = summary;
  // The layouts and CKKS presets are for the curious: in the tooltip, not in the line people read.
  $('account').textContent = `${summary.userId} · keys made ${fmtTime(summary.createdAt)}`;
  $('account').title = summary.models
    .map((m) => `${m.modelId}: tuple layout ${m.layout}, CKKS parameters ${m.presetId}`)
    .join('\n');
  $('count-label').textContent = allBatch(summary)
    ? 'Time slots (15 simulated minutes each; 672 make a week)'
    : 'Readings';
  renderModelsPanel(summary);
  renderProfile(summary);
  renderShareModels(summary);
  const history = await worker.call('results', {});
  show('app');
  readingsChart ??= new ReadingsChart($<HTMLCanvasElement>('readings-chart'));
  readingsChart.clear();
  resultsChart?.destroy();
  // One model: its main outputs; several: each one's headline output (their scales differ).
  const plots = summary.models.map(
    (m) =>
      MODELS.find((x) => x.id === m.modelId)?.plot ?? modelOf(m.modelId)?.outputs.map((o) => o.name) ?? [],
  );
  const plot = plots.length === 1 ? (plots[0] ?? []).slice(0, 4) : plots.flatMap((p) => p.slice(0, 1));
  resultsChart = new ResultsChart($<HTMLCanvasElement>('results-chart'), plot, 'decrypted result');
  stats.reset();
  $<HTMLTableElement>('results').tBodies[0]?.replaceChildren();
  $('diagnosis').replaceChildren(
    ...summary.models.map((m) =>
      el(
        'div',
        { class: 'diagnosis', 'data-model': m.modelId, 'data-level': 'none' },
        el('p', { class: 'help' }, modelName(m.modelId)),
        el('p', {}, 'No result yet: start a source of readings.'),
      ),
    ),
  );
  for (const entry of history) showResult(entry, false);
  stats.render();
  return history;
}

/** The models followed, each with a Remove button, and a choice of the models not followed yet. */
function renderModelsPanel(summary: VaultSummary): void {
  const followed = summary.models.map((m) => m.modelId);
  $('models-summary').textContent = `Your models: ${followed.map(modelName).join(' · ')}`;
  $('model-list').replaceChildren(
    ...followed.map((id) => {
      const remove = el(
        'button',
        { type: 'button', class: 'remove-model', 'data-model': id, 'aria-label': `Remove ${modelName(id)}` },
        'Remove',
      );
      remove.disabled = followed.length === 1;
      remove.addEventListener('click', () => removeModel(id));
      return el(
        'li',
        { 'data-model': id },
        el('span', {}, modelName(id), ' ', el('span', { class: 'help' }, `(${id})`)),
        remove,
      );
    }),
  );
  $('model-list-note').hidden = followed.length > 1;
  const select = $<HTMLSelectElement>('add-model');
  const offered = MODELS.filter((m) => !followed.includes(m.id));
  select.replaceChildren(...offered.map((m) => el('option', { value: m.id }, modelName(m.id))));
  $('add-model-form').hidden = offered.length === 0;
  $('add-model-none').hidden = offered.length > 0;
  describeAddChoice();
}

/** The add form shows what the chosen model computes and asks for the profile values it needs. */
function describeAddChoice(): void {
  const choice = MODELS.find((m) => m.id === $<HTMLSelectElement>('add-model').value);
  $('add-model-about').textContent = choice ? `${choice.explanation} ${choice.sends}` : '';
  $('add-profile-fields').hidden = (modelOf(choice?.id ?? '')?.profile.length ?? 0) === 0;
  $('add-news2-field').hidden = choice?.id !== 'early-warning';
}

/**
 * The profile values a model needs, from the create form (prefix ''), the add form ('add-') or
 * the profile editor ('profile-').
 */
function profileFor(modelId: string, prefix: '' | 'add-' | 'profile-'): Record<string, number> {
  const profile: Record<string, number> = {};
  if (modelOf(modelId)?.profile.length) {
    profile.age = Number($<HTMLInputElement>(`${prefix}age`).value);
    profile.bmi = Number($<HTMLInputElement>(`${prefix}bmi`).value);
    profile.cholesterol = Number($<HTMLInputElement>(`${prefix}cholesterol`).value);
    profile.smoker = $<HTMLInputElement>(`${prefix}smoker`).checked ? 1 : 0;
  }
  // The NEWS2 SpO2 scale a clinician set (src/models/catalogue/early-warning.ts SPO2_SCALE_FIELD).
  if (modelId === 'early-warning' && $<HTMLInputElement>(`${prefix}spo2-scale-2`).checked)
    profile.spo2Scale = 2;
  return profile;
}

function removeModel(modelId: string): void {
  const name = modelName(modelId);
  askPassphrase(
    `Stop following ${name}?`,
    'Its key leaves this device and the server stops computing it. Its results so far stay in your history here; readings of it not yet computed are dropped.',
    'Remove',
    async (passphrase) => {
      await renderVault(await worker.call('removeModel', { modelId, passphrase }));
      say(`You no longer follow ${name}.`);
    },
  );
}

/** Each profile field in plain words: its name and its value with the unit. */
const PROFILE_WORDS: Readonly<Record<string, { label: string; text: (v: number) => string }>> = {
  age: { label: 'Age', text: (v) => `${v} years` },
  bmi: { label: 'Body-mass index', text: (v) => `${v} kg/m²` },
  cholesterol: { label: 'Total cholesterol', text: (v) => `${v} mg/dL` },
  smoker: { label: 'Smoker', text: (v) => (v === 1 ? 'yes' : 'no') },
  spo2Scale: {
    label: 'NEWS2 SpO2 scale',
    text: (v) => (v === 2 ? '2 (the 88–92% target your clinician set)' : '1 (the usual one)'),
  },
};

/** The profile fields the models followed read (early-warning reads the SpO2 scale on this device). */
function profileFields(summary: VaultSummary): string[] {
  const read = new Set<string>(summary.models.flatMap((m) => modelOf(m.modelId)?.profile ?? []));
  if (summary.models.some((m) => m.modelId === 'early-warning')) read.add('spo2Scale');
  return Object.keys(PROFILE_WORDS).filter((f) => read.has(f));
}

/** A profile value as the models read it: an absent SpO2 scale is scale 1. */
const profileValue = (profile: Record<string, number>, field: string): number | undefined =>
  profile[field] ?? (field === 'spo2Scale' ? 1 : undefined);

/** The profile in plain words (the editor closed); `saved` says when the change applies. */
function renderProfile(summary: VaultSummary, saved = false): void {
  const fields = profileFields(summary);
  $('profile-values').replaceChildren(
    ...fields.map((f) => {
      const v = profileValue(summary.profile, f);
      const words = PROFILE_WORDS[f];
      return el(
        'div',
        { 'data-field': f },
        el('dt', {}, words?.label ?? f),
        el('dd', {}, v === undefined ? 'not set' : (words?.text(v) ?? String(v))),
      );
    }),
  );
  $('profile-values').hidden = false;
  $('profile-none').hidden = fields.length > 0;
  $('profile-edit').hidden = fields.length === 0;
  $('profile-form').hidden = true;
  $('profile-note').hidden = !saved;
  $('profile-note').textContent = saved
    ? 'Saved: used for readings from now on; results already made keep theirs.'
    : '';
}

/** The editor, prefilled with the current values, showing only the fields the models followed read. */
function editProfile(): void {
  if (!vault) return;
  const fields = profileFields(vault);
  const profile = vault.profile;
  for (const f of ['age', 'bmi', 'cholesterol']) {
    const v = profile[f];
    $<HTMLInputElement>(`profile-${f}`).value = v === undefined ? '' : String(v);
  }
  $<HTMLInputElement>('profile-smoker').checked = profile.smoker === 1;
  $<HTMLInputElement>('profile-spo2-scale-2').checked = profile.spo2Scale === 2;
  for (const field of $('profile-form').querySelectorAll<HTMLElement>('[data-field]'))
    field.hidden = !fields.includes(field.dataset.field ?? '');
  $('profile-values').hidden = true;
  $('profile-edit').hidden = true;
  $('profile-note').hidden = true;
  $('profile-form').hidden = false;
  $('profile-form').querySelector<HTMLInputElement>('.field:not([hidden]) input')?.focus();
}

/** Save: the values changed go to the worker once the passphrase is given; its refusal stays in the dialog. */
function saveProfile(): void {
  if (!vault) return;
  const current = vault.profile;
  const models = vault.models.map((m) => m.modelId);
  const entered = models.reduce<Record<string, number>>(
    (all, m) => Object.assign(all, profileFor(m, 'profile-')),
    {},
  );
  // Unticked, the scale goes back to 1 (profileFor only adds a 2: a new vault or model needs no 1).
  if (models.includes('early-warning')) entered.spo2Scale ??= 1;
  const changed = Object.fromEntries(
    Object.entries(entered).filter(([f, v]) => v !== profileValue(current, f)),
  );
  if (Object.keys(changed).length === 0) {
    renderProfile(vault);
    say('Your profile is unchanged.');
    return;
  }
  askPassphrase(
    'Save your profile?',
    'It is sealed with your keys under your passphrase. Readings from now on are sent with it; results already made keep the profile they were computed with.',
    'Save',
    async (passphrase) => {
      const r = await worker.call('setProfile', { values: changed, passphrase }).catch((error: unknown) => {
        throw new Error(`Nothing was saved: ${messageOf(error)}`);
      });
      if (!vault) return;
      vault.profile = r.profile;
      renderProfile(vault, true);
      say('Your profile is saved: readings from now on are sent with it.');
    },
  );
}

let vaultAction: ((passphrase: string) => Promise<void>) | undefined;

/** Asks the passphrase for a change to the sealed keys, then runs it (the dialog stays open on an error). */
function askPassphrase(
  title: string,
  text: string,
  confirm: string,
  action: (passphrase: string) => Promise<void>,
): void {
  vaultAction = action;
  $('vault-title').textContent = title;
  $('vault-text').textContent = text;
  $('vault-confirm').textContent = confirm;
  $('vault-error').hidden = true;
  $<HTMLDialogElement>('vault-dialog').showModal();
  $('vault-passphrase').focus();
}

/** Keys restored into a browser with no history: the person's results come back from the server. */
async function restoreHistory(): Promise<void> {
  try {
    const r = await worker.call('restoreHistory', {});
    if (r.entries.length === 0 && r.batch === 0) return;
    for (const entry of r.entries) showResult(entry, false);
    stats.render();
    say(
      `${r.entries.length} earlier result${r.entries.length === 1 ? '' : 's'} rebuilt from the server (the readings themselves stayed on the device that took them)` +
        `${r.batch ? `; ${r.batch} weekly result(s) need their readings and stay on the server` : ''}.`,
    );
    if (r.refused.length)
      showError(`Some results failed their checks and were not kept: ${r.refused.join('; ')}`);
  } catch (error) {
    say(`Earlier results could not be fetched now (${messageOf(error)}); they stay on the server.`);
  }
}

async function register(): Promise<void> {
  try {
    const enrolment = $<HTMLInputElement>('enrolment').value.trim();
    // No reading source until the server knows the keys (readings taken meanwhile would wait).
    const sources = [$<HTMLButtonElement>('start'), $<HTMLInputElement>('csv-file')];
    for (const s of sources) s.disabled = true;
    const r = await busy(() => worker.call('register', enrolment ? { enrolment } : {}), $('account')).finally(
      () => {
        for (const s of sources) s.disabled = false;
      },
    );
    if (vault) vault.registered = true;
    const txs = r.registered.map((x) => x.txId);
    say(
      txs.length === 0
        ? 'Your keys are registered with the server.'
        : `Your keys are registered with the server (ledger transaction${txs.length === 1 ? '' : 's'} ${txs.join(', ')}, ${fmtMs(r.ms)}).`,
    );
  } catch (error) {
    if (error instanceof WorkerCallError && error.code === 'USER_EXISTS') {
      // Keys made for a user id the server gave to someone else: unused, so they can go.
      const userId = vault?.userId ?? '';
      await worker.call('discard', {}).catch(() => undefined);
      vault = null;
      show('onboarding');
      showError(
        `The user id "${userId}" is taken on this server by other keys: choose another one.`,
        $('user-id'),
      );
      return;
    }
    if (
      error instanceof WorkerCallError &&
      (error.code === 'ENROLMENT_REQUIRED' || error.code === 'ENROLMENT_INVALID')
    ) {
      // This server registers enrolled people only: the keys are unused, so start again with a code.
      await worker.call('discard', {}).catch(() => undefined);
      vault = null;
      show('onboarding');
      showError(
        error.code === 'ENROLMENT_REQUIRED'
          ? 'This server registers only people enrolled by their care team: enter the enrolment code you were given.'
          : 'That enrolment code is unknown, expired or already used: ask your care team for a new one.',
        $('enrolment'),
      );
      return;
    }
    showError(
      `Registration with the server failed: ${messageOf(error)}. It is tried again at the next unlock.`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Results and readings from the worker

function showResult(entry: HistoryEntry, live: boolean): void {
  const choice = MODELS.find((m) => m.id === entry.modelId);
  const primary = choice?.plot[0] ?? Object.keys(entry.values)[0] ?? '';
  // Each model followed has its card; a model no longer followed keeps its rows in the table.
  const card = [...$('diagnosis').children].find((c) => (c as HTMLElement).dataset.model === entry.modelId);
  if (card) renderDiagnosis(card as HTMLElement, entry);
  addResultRow($<HTMLTableElement>('results').tBodies[0] as HTMLTableSectionElement, entry, primary);
  resultsChart?.add(entryTime(entry), entry.values);
  if (!live) for (const r of entry.readings.slice(-1)) readingsChart?.add(r);
  stats.add(entry);
  if (live) {
    stats.render();
    say(`New result: ${entry.diagnosis.label} (reading → diagnosis ${fmtMs(entry.latencyMs)}).`);
  }
}

function onEvent(event: Event): void {
  switch (event.type) {
    case 'progress':
      progress(event.phase, event.done, event.total);
      break;
    case 'reading': {
      // A reading kept again: whatever alert came before is about an earlier one, unless this
      // one carries its own (a red-band value the filter replaced as an artifact).
      $('alert').textContent = event.alert ? `Alert: ${event.alert}.` : '';
      $('alert').hidden = !event.alert;
      readingsChart?.add(event.reading);
      if (event.total > 1) {
        const bar = $<HTMLProgressElement>('stream-progress');
        $('stream-box').hidden = false;
        bar.max = event.total;
        bar.value = event.index + 1;
        $('stream-label').textContent =
          `Reading ${event.index + 1} of ${event.total} taken${event.fate === 'corrected' ? ' (an artifact was corrected)' : ''}`;
      }
      break;
    }
    case 'rejected':
      stats.rejected++;
      stats.render();
      say(`A reading was not sent: ${event.message}`);
      if (event.alert) {
        $('alert').textContent = `Alert: ${event.message}.`;
        $('alert').hidden = false;
      }
      break;
    case 'result':
      showResult(event.entry, true);
      break;
    case 'shared':
      onShared(event);
      break;
    case 'stream-end':
      setStreaming(false);
      if (document.body.dataset.screen !== 'app') break;
      say(
        `${event.stopped ? 'Stopped' : 'Done'}: ${event.readings} reading${event.readings === 1 ? '' : 's'} taken, ${event.results} result${event.results === 1 ? '' : 's'} received.`,
      );
      break;
    case 'status':
      if (event.level === 'error') showError(event.message);
      else say(event.message);
      break;
  }
}

function setStreaming(on: boolean): void {
  $<HTMLButtonElement>('start').disabled = on;
  $<HTMLButtonElement>('stop').disabled = !on;
  $<HTMLInputElement>('csv-file').disabled = on;
  if (!on) $('stream-box').hidden = true;
}

// ---------------------------------------------------------------------------------------------
// Forms and buttons

function wireOnboarding(): void {
  $('create-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    clearInvalid();
    showError(null);
    const userId = $<HTMLInputElement>('user-id').value.trim();
    const passphrase = $<HTMLInputElement>('passphrase').value;
    const confirm = $<HTMLInputElement>('passphrase-confirm').value;
    if (userId === '') return showError('Enter a user id.', $('user-id'));
    if ([...passphrase].length < 8)
      return showError('The passphrase needs at least 8 characters.', $('passphrase'));
    if (passphrase !== confirm)
      return showError('The two passphrases differ: type the same one twice.', $('passphrase-confirm'));
    const choice = chosenModel();
    const profile = profileFor(choice.id, '');
    const started = performance.now();
    try {
      const summary = await busy(
        () =>
          worker.call('create', {
            userId,
            modelId: choice.id,
            layout: choice.layout,
            passphrase,
            server,
            ...(Object.keys(profile).length ? { profile } : {}),
          }),
        $('create'),
      );
      $<HTMLInputElement>('passphrase').value = '';
      $<HTMLInputElement>('passphrase-confirm').value = '';
      say(`Keys created and sealed in ${fmtMs(performance.now() - started)}.`);
      document.body.dataset.keysMs = String(Math.round(performance.now() - started));
      await enterApp(summary);
    } catch (error) {
      showError(`The keys could not be created: ${messageOf(error)}`);
    }
  });
}

function wireUnlock(): void {
  $('unlock-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    clearInvalid();
    showError(null);
    const field = $<HTMLInputElement>('unlock-passphrase');
    if (field.value === '') return showError('Enter your passphrase.', field);
    try {
      const unlocked = await busy(
        () => worker.call('unlock', { passphrase: field.value, server }),
        $('unlock'),
      );
      field.value = '';
      await enter(unlocked);
    } catch (error) {
      field.select();
      showError(messageOf(error), field);
    }
  });

  $('restore-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    clearInvalid();
    showError(null);
    const file = $<HTMLInputElement>('import-file').files?.[0];
    const passphrase = $<HTMLInputElement>('import-passphrase').value;
    if (!file) return showError('Choose a backup file.', $('import-file'));
    if (passphrase === '') return showError("Enter the backup's passphrase.", $('import-passphrase'));
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const replace = $<HTMLInputElement>('import-replace').checked;
      await busy(
        () => worker.call('importBackup', { bytes, passphrase, replace }, [bytes.buffer]),
        $('import'),
      );
      const unlocked = await busy(() => worker.call('unlock', { passphrase, server }), $('import'));
      $<HTMLInputElement>('import-passphrase').value = '';
      say('Keys restored from the backup.');
      await enter(unlocked);
    } catch (error) {
      showError(`The backup was not restored: ${messageOf(error)}`);
    }
  });
}

function wireApp(): void {
  $('lock').addEventListener('click', async () => {
    await worker.call('lock', {});
    vault = null;
    setStreaming(false);
    showUnlock(false);
    say('Locked: the keys are out of memory.');
    $('unlock-passphrase').focus();
  });

  $('start').addEventListener('click', async () => {
    showError(null);
    const count = Number($<HTMLInputElement>('count').value);
    const seed = Number($<HTMLInputElement>('seed').value);
    try {
      setStreaming(true);
      const r = await worker.call('stream', {
        kind: 'simulator',
        persona: $<HTMLSelectElement>('persona').value,
        seed: Number.isSafeInteger(seed) ? seed : 1,
        count,
        paceMs: Number($<HTMLSelectElement>('pace').value),
      });
      say(`Simulating ${r.readings} readings of a ${$<HTMLSelectElement>('persona').value} person.`);
    } catch (error) {
      setStreaming(false);
      showError(messageOf(error));
    }
  });

  $('stop').addEventListener('click', async () => {
    await worker.call('stop', {});
    say('Stopping: readings already encrypted are still sent.');
  });

  $('csv-file').addEventListener('change', async () => {
    const input = $<HTMLInputElement>('csv-file');
    const file = input.files?.[0];
    if (!file) return;
    showError(null);
    try {
      setStreaming(true);
      const r = await worker.call('stream', {
        kind: 'csv',
        text: await file.text(),
        paceMs: Number($<HTMLSelectElement>('pace').value),
      });
      say(`Replaying ${r.readings} readings from ${file.name}.`);
    } catch (error) {
      setStreaming(false);
      showError(messageOf(error));
    } finally {
      input.value = '';
    }
  });

  wireBluetooth();
  wireExports();
  wireModels();
}

function wireModels(): void {
  $('add-model').addEventListener('change', describeAddChoice);
  $('profile-edit').addEventListener('click', editProfile);
  $('profile-cancel').addEventListener('click', () => {
    if (vault) renderProfile(vault);
  });
  $('profile-form').addEventListener('submit', (e) => {
    e.preventDefault();
    showError(null);
    saveProfile();
  });
  $('add-model-form').addEventListener('submit', (e) => {
    e.preventDefault();
    showError(null);
    const choice = MODELS.find((m) => m.id === $<HTMLSelectElement>('add-model').value);
    if (!choice) return;
    const name = modelName(choice.id);
    const profile = profileFor(choice.id, 'add-');
    askPassphrase(
      `Add ${name}?`,
      'Keys for it are made on this device, sealed with your others under your passphrase, and registered with the server.',
      'Add',
      async (passphrase) => {
        const started = performance.now();
        try {
          const summary = await worker.call('addModel', {
            modelId: choice.id,
            layout: choice.layout,
            passphrase,
            ...(Object.keys(profile).length ? { profile } : {}),
          });
          await renderVault(summary);
          say(
            `You now follow ${name} (${fmtMs(performance.now() - started)}): its results come with the next readings.`,
          );
        } catch (error) {
          // Added but not registered (the server unreachable): the panel shows it; the next unlock registers it.
          const now = await worker.call('status', {}).catch(() => null);
          if (now?.unlocked?.role === 'person' && now.unlocked.models.length !== vault?.models.length) {
            await renderVault(now.unlocked);
            throw new Error(
              `${name} was added, but not registered yet: ${messageOf(error)}. It is tried again at the next unlock.`,
            );
          }
          throw error;
        }
      },
    );
  });

  const dialog = $<HTMLDialogElement>('vault-dialog');
  const dialogError = (message: string | null) => {
    $('vault-error').textContent = message ?? '';
    $('vault-error').hidden = message === null;
  };
  $('vault-cancel').addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    $<HTMLInputElement>('vault-passphrase').value = '';
    vaultAction = undefined;
  });
  $('vault-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const passphrase = $<HTMLInputElement>('vault-passphrase').value;
    if (passphrase === '') return dialogError('Enter your passphrase.');
    dialogError(null);
    const action = vaultAction;
    if (!action) return dialog.close();
    try {
      await busy(() => action(passphrase), $('vault-error'));
      dialog.close();
    } catch (error) {
      dialogError(messageOf(error));
    }
  });
}

/**
 * Latest value of each vital from the monitors; a reading goes out once all four are known. Heart
 * rate comes from the strap, else the oximeter's pulse rate, else the cuff's.
 */
const live: { x?: number; xFrom?: Measurement['kind']; y?: number; z?: number; lastSent: number } = {
  lastSent: 0,
};
const LIVE_MIN_INTERVAL_MS = 5000;

/** A number field's value, or undefined when empty (a typed 0 is a value). */
function numberField(id: string): number | undefined {
  const text = $<HTMLInputElement>(id).value.trim();
  const v = Number(text);
  return text === '' || !Number.isFinite(v) ? undefined : v;
}

/** What the person entered or the oximeter and thermometer measured, for the full NEWS2 (never sent). */
function observations(): Pick<RawReading, 'spo2' | 'temperature' | 'oxygen' | 'consciousness'> {
  const spo2 = numberField('spo2');
  const temperature = numberField('temperature');
  const oxygen = $<HTMLSelectElement>('oxygen').value;
  const consciousness = $<HTMLSelectElement>('consciousness').value;
  return {
    ...(spo2 === undefined ? {} : { spo2 }),
    ...(temperature === undefined ? {} : { temperature }),
    ...(oxygen === '' ? {} : { oxygen: oxygen === 'oxygen' }),
    ...(consciousness === '' ? {} : { consciousness: consciousness as Consciousness }),
  };
}

function wireBluetooth(): void {
  const hr = $<HTMLButtonElement>('connect-hr');
  const bp = $<HTMLButtonElement>('connect-bp');
  const ox = $<HTMLButtonElement>('connect-spo2');
  const th = $<HTMLButtonElement>('connect-temp');
  if (!bluetooth()) {
    for (const b of [hr, bp, ox, th]) b.disabled = true;
    $('bluetooth-note').textContent = window.isSecureContext
      ? 'This browser has no Web Bluetooth (Chrome, Edge or Opera on a desktop or Android have it). Use the simulator or a CSV file instead.'
      : 'Web Bluetooth needs a secure page (HTTPS, or localhost). Use the simulator or a CSV file instead.';
    return;
  }
  $('bluetooth-note').textContent =
    'Standard Bluetooth heart-rate (0x180D), blood-pressure (0x1810), pulse-oximeter (0x1822) and thermometer (0x1809) devices. The browser asks you to pick the device.';
  const state = (text: string) => {
    $('bluetooth-state').textContent = text;
  };
  const onMeasurement = (m: Measurement) => {
    switch (m.kind) {
      case 'heart-rate':
        live.x = m.heartRate;
        live.xFrom = m.kind;
        break;
      case 'blood-pressure':
        live.y = m.diastolic;
        live.z = m.systolic;
        if (m.pulseRate !== undefined && Number.isFinite(m.pulseRate) && live.x === undefined) {
          live.x = m.pulseRate;
          live.xFrom = m.kind;
        }
        break;
      case 'pulse-oximeter':
        $<HTMLInputElement>('spo2').value = String(m.spo2);
        if (live.xFrom !== 'heart-rate') {
          live.x = m.pulseRate;
          live.xFrom = m.kind;
        }
        break;
      case 'thermometer':
        $<HTMLInputElement>('temperature').value = String(m.temperature);
        state(`Temperature ${m.temperature} °C: it goes with the next reading.`);
        return;
    }
    // A typed 0 or 1 goes out too: the filter tells the person "no breathing detected".
    const w = numberField('resp-rate');
    const now = Date.now();
    if (live.x === undefined || live.y === undefined || live.z === undefined || w === undefined) {
      state(
        `Heart rate ${live.x ?? '–'}, blood pressure ${live.z ?? '–'}/${live.y ?? '–'}, respiratory rate ${w ?? '–'}: waiting for all four.`,
      );
      return;
    }
    if (m.kind !== 'blood-pressure' && now - live.lastSent < LIVE_MIN_INTERVAL_MS) return;
    live.lastSent = now;
    worker
      .call('push', { reading: { time: now, x: live.x, y: live.y, z: live.z, w, ...observations() } })
      .catch((error: unknown) => showError(messageOf(error)));
  };
  for (const [button, kind] of [
    [hr, 'heart-rate'],
    [bp, 'blood-pressure'],
    [ox, 'pulse-oximeter'],
    [th, 'thermometer'],
  ] as const) {
    button.addEventListener('click', async () => {
      try {
        const device = await connect(
          kind,
          onMeasurement,
          (message) => state(`A measurement could not be read: ${message}`),
          () => state(`The ${kind} monitor disconnected.`),
        );
        state(`Connected to ${device.name}.`);
      } catch (error) {
        if ((error as Error).name !== 'NotFoundError') showError(messageOf(error)); // NotFound: the user cancelled
      }
    });
  }
}

function download(data: BlobPart, type: string, filename: string): void {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = el('a', { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function wireExports(): void {
  $('export-fhir').addEventListener('click', async () => {
    try {
      const r = await worker.call('exportFhir', {});
      download(r.text, 'application/fhir+json', r.filename);
      say(`Saved ${r.filename}.`);
    } catch (error) {
      showError(messageOf(error));
    }
  });
  $('export-csv').addEventListener('click', async () => {
    try {
      const r = await worker.call('exportCsv', {});
      download(r.text, 'text/csv', r.filename);
      say(`Saved ${r.filename}.`);
    } catch (error) {
      showError(messageOf(error));
    }
  });
  const dialog = $<HTMLDialogElement>('backup-dialog');
  const dialogError = (message: string | null) => {
    $('backup-error').textContent = message ?? '';
    $('backup-error').hidden = message === null;
  };
  $('export-backup').addEventListener('click', () => {
    dialogError(null);
    dialog.showModal();
    $('backup-passphrase').focus();
  });
  $('backup-cancel').addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    $<HTMLInputElement>('backup-passphrase').value = '';
    $<HTMLInputElement>('backup-new-passphrase').value = '';
  });
  $('backup-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const passphrase = $<HTMLInputElement>('backup-passphrase').value;
    const other = $<HTMLInputElement>('backup-new-passphrase').value;
    if (passphrase === '') return dialogError('Enter your current passphrase.');
    if (other !== '' && [...other].length < 8)
      return dialogError("The backup's passphrase needs at least 8 characters.");
    try {
      const r = await busy(
        () => worker.call('exportBackup', { passphrase, ...(other ? { backupPassphrase: other } : {}) }),
        $('backup-error'),
      );
      download(r.bytes as Uint8Array<ArrayBuffer>, 'application/octet-stream', r.filename);
      dialog.close();
      say(`Saved ${r.filename}: keep it safe, with its passphrase somewhere else.`);
    } catch (error) {
      dialogError(messageOf(error));
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Sharing with a clinician (the person's side)

const DAY_MS = 86_400_000;
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The clinician looked up, as shown: the grant goes to this key (the worker checks the fingerprint). */
let found: { clinicianId: string; name: string; fingerprint: string } | null = null;
let grants: Grant[] = [];
/** Grants lists asked for: only the newest answer is drawn (a shared event may ask while one runs). */
let grantsAsked = 0;

/** The models followed, each a checkbox (all ticked: the person unticks what stays theirs alone). */
function renderShareModels(summary: VaultSummary): void {
  const fieldset = $('share-models');
  const legend = fieldset.querySelector('legend') as HTMLLegendElement;
  fieldset.replaceChildren(
    legend,
    ...summary.models.map(({ modelId }) => {
      const id = `share-model-${modelId}`;
      const box = el('input', { type: 'checkbox', id, name: 'share-model', value: modelId });
      box.checked = true;
      return el('div', { class: 'field checkbox' }, box, el('label', { for: id }, modelName(modelId)));
    }),
  );
}

function showUntil(): void {
  const days = Number($<HTMLInputElement>('share-days').value);
  $('share-until').textContent =
    Number.isInteger(days) && days >= 1 && days <= 365
      ? `Access ends ${fmtTime(Date.now() + days * DAY_MS)}; you can revoke it before.`
      : 'From 1 to 365 days.';
}

/** The panel as a new session starts: nothing looked up, no note, the grants fetched anew. */
function resetShare(): void {
  found = null;
  grants = [];
  $('share-grant-form').hidden = true;
  $<HTMLInputElement>('share-clinician-id').value = '';
  $('share-note').textContent = '';
  $('grant-list').replaceChildren();
  $('grants-none').hidden = false;
  $('grants-none').textContent = 'You have not shared with anyone.';
}

async function loadGrants(): Promise<void> {
  const asked = ++grantsAsked;
  try {
    const list = await worker.call('grants', {});
    if (asked !== grantsAsked) return;
    grants = list;
    renderGrants($('grant-list'), grants, revokeGrant);
    $('grants-none').textContent = 'You have not shared with anyone.';
    $('grants-none').hidden = grants.length > 0;
  } catch (error) {
    if (asked !== grantsAsked) return;
    $('grants-none').hidden = false;
    $('grants-none').textContent = `Your grants could not be fetched now (${messageOf(error)}).`;
  }
}

const clinicianLabel = (clinicianId: string) => {
  const name = grants.find((g) => g.clinicianId === clinicianId)?.clinicianName;
  return name ? `${name} (${clinicianId})` : clinicianId;
};

/** Results shared by themselves after a collect: a line saying so, and the counts in the list. */
function onShared(event: Extract<Event, { type: 'shared' }>): void {
  if (event.shared.length > 0) {
    const to = [...new Set(event.shared.map((x) => x.clinicianId))].map(clinicianLabel);
    const line = `${plural(event.shared.length, 'new result')} shared with ${to.join(', ')}.`;
    $('share-note').textContent = line;
    say(line);
  }
  if (event.failed.length > 0) {
    const first = event.failed[0] as { clinicianId: string; reason: string };
    showError(
      `${plural(event.failed.length, 'result')} could not be shared with ${clinicianLabel(first.clinicianId)} now (tried again with the next results): ${first.reason}`,
    );
  }
  void loadGrants();
}

function revokeGrant(g: Grant): void {
  const who = clinicianLabel(g.clinicianId);
  confirmThen(
    `Revoke the access of ${who}?`,
    'Nothing more is shared with them, and the server refuses them what was shared. The grant and its revocation stay on the ledger. To share again later, grant anew.',
    'Revoke',
    async () => {
      showError(null);
      try {
        const r = await busy(() => worker.call('revoke', { clinicianId: g.clinicianId }), $('grant-list'));
        const line = `${who} no longer receives your results${r.revokeTx ? ` (ledger transaction ${r.revokeTx})` : ''}.`;
        $('share-note').textContent = line;
        say(line);
        await loadGrants();
      } catch (error) {
        showError(`The grant was not revoked: ${messageOf(error)}`);
      }
    },
  );
}

function wireSharing(): void {
  $('share-days').addEventListener('input', showUntil);
  $('share-cancel').addEventListener('click', () => {
    found = null;
    $('share-grant-form').hidden = true;
    $('share-clinician-id').focus();
  });

  $('share-lookup-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    clearInvalid();
    showError(null);
    const field = $<HTMLInputElement>('share-clinician-id');
    const clinicianId = field.value.trim();
    if (clinicianId === '') return showError('Enter the id your clinician gave you.', field);
    try {
      const c = await busy(() => worker.call('lookupClinician', { clinicianId }), $('share-lookup'));
      found = { clinicianId: c.clinicianId, name: c.name, fingerprint: c.fingerprint };
      $('share-name').textContent = c.name;
      $('share-id').textContent = c.clinicianId;
      $('share-fingerprint').textContent = c.fingerprint;
      showUntil();
      $('share-grant-form').hidden = false;
      $('share-found-title').focus();
    } catch (error) {
      $('share-grant-form').hidden = true;
      found = null;
      showError(`The clinician was not found: ${messageOf(error)}`, field);
    }
  });

  $('share-grant-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    clearInvalid();
    showError(null);
    if (!found) return;
    const boxes = [...document.querySelectorAll<HTMLInputElement>('input[name=share-model]')];
    const models = boxes.filter((b) => b.checked).map((b) => b.value);
    if (models.length === 0)
      return showError('Choose at least one kind of result to share.', boxes[0] ?? $('share-grant'));
    const daysField = $<HTMLInputElement>('share-days');
    const days = Number(daysField.value);
    if (!(Number.isInteger(days) && days >= 1 && days <= 365))
      return showError('Share for 1 to 365 days.', daysField);
    const until = Date.now() + days * DAY_MS;
    const { clinicianId, fingerprint, name } = found;
    try {
      const r = await busy(
        () => worker.call('grant', { clinicianId, fingerprint, models, until }),
        $('share-grant'),
      );
      found = null;
      $('share-grant-form').hidden = true;
      $<HTMLInputElement>('share-clinician-id').value = '';
      const now = r.shared > 0 ? ` ${plural(r.shared, 'result')} already here shared now.` : '';
      const line = `${name} receives your results until ${fmtTime(until)} (ledger transaction ${r.grant.txId}).${now}`;
      $('share-note').textContent = line;
      say(line);
      if (r.failed.length > 0)
        showError(
          `Some results could not be shared yet (tried again with the next ones): ${r.failed.join('; ')}`,
        );
      await loadGrants();
    } catch (error) {
      showError(`Nothing was granted: ${messageOf(error)}`);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Closing the account

function wireCloseAccount(): void {
  $('close-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    clearInvalid();
    showError(null);
    const field = $<HTMLInputElement>('close-passphrase');
    if (field.value === '') return showError('Enter your passphrase to confirm.', field);
    try {
      const closed = await busy(
        () => worker.call('closeAccount', { passphrase: field.value }),
        $('close-account'),
      );
      field.value = '';
      $<HTMLDetailsElement>('close-panel').open = false;
      vault = null;
      setStreaming(false);
      resetShare();
      $<HTMLInputElement>('user-id').value = '';
      show('onboarding');
      say(
        `Account "${closed.userId}" closed: ${closed.ledgerKeys} ledger entries and ${closed.serverRows} server records deleted, and the keys are gone from this browser. The ledger's blocks keep their ${plural(closed.txIds.length, 'transaction')}, unreadable without those keys.`,
      );
      $('onboarding-title').focus();
    } catch (error) {
      field.select();
      showError(`The account was not closed: ${messageOf(error)}`, field);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Yes or no

let confirmAction: (() => Promise<void>) | undefined;

/** Asks before something that cannot be undone; Cancel has the focus, so Enter alone does nothing rash. */
function confirmThen(title: string, text: string, ok: string, action: () => Promise<void>): void {
  confirmAction = action;
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = ok;
  $<HTMLDialogElement>('confirm-dialog').showModal();
  $('confirm-cancel').focus();
}

function wireConfirm(): void {
  const dialog = $<HTMLDialogElement>('confirm-dialog');
  $('confirm-cancel').addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    confirmAction = undefined;
  });
  $('confirm-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const action = confirmAction;
    dialog.close();
    void action?.();
  });
}

// ---------------------------------------------------------------------------------------------
// The clinician

let clinicianShown: ClinicianSummary | null = null;
let inboxCharts: { destroy(): void }[] = [];

/** What a model's trend draws: its headline outputs, as on the person's own chart. */
const plotOf = (modelId: string): string[] =>
  (MODELS.find((m) => m.id === modelId)?.plot ?? modelOf(modelId)?.outputs.map((o) => o.name) ?? []).slice(
    0,
    4,
  );

function showUnlock(clinician: boolean): void {
  $('unlock-info').textContent = clinician
    ? 'This browser holds your clinician keys, sealed under your passphrase.'
    : 'This browser holds your keys, sealed under your passphrase.';
  show('unlock');
}

function clearInbox(): void {
  for (const chart of inboxCharts) chart.destroy();
  inboxCharts = [];
  $('people').replaceChildren();
  renderRefused($('inbox-warnings'), []);
  $('inbox-note').textContent = '';
}

async function enterClinician(summary: ClinicianSummary): Promise<void> {
  clinicianShown = summary;
  $('clinician-account').textContent = `${summary.name} · clinician id ${summary.clinicianId}`;
  $('clinician-fingerprint').textContent = summary.fingerprint;
  clearInbox();
  show('clinician');
  if (summary.registered) say('Unlocked.');
  else if (!(await registerClinician())) return;
  await refreshInbox();
}

/** Registration with the server; false when the keys went (refused) or it failed (tried at the next unlock). */
async function registerClinician(): Promise<boolean> {
  try {
    const enrolment = $<HTMLInputElement>('clinician-enrolment').value.trim();
    const r = await busy(
      () => worker.call('registerClinician', enrolment ? { enrolment } : {}),
      $('clinician-account'),
    );
    if (clinicianShown) clinicianShown.registered = true;
    say(
      `You are registered with the server (ledger transaction ${r.txId}, ${fmtMs(r.ms)}): people can find you by your id.`,
    );
    return true;
  } catch (error) {
    const code = error instanceof WorkerCallError ? error.code : '';
    if (['USER_EXISTS', 'ENROLMENT_REQUIRED', 'ENROLMENT_INVALID'].includes(code)) {
      // Unused keys the server will not take: they go, and the form says what to change.
      const id = clinicianShown?.clinicianId ?? '';
      await worker.call('discard', {}).catch(() => undefined);
      clinicianShown = null;
      $<HTMLInputElement>('role-clinician').checked = true;
      chooseRole();
      show('onboarding');
      if (code === 'USER_EXISTS')
        showError(
          `The id "${id}" is taken on this server by other keys: choose another one.`,
          $('clinician-id'),
        );
      else
        showError(
          code === 'ENROLMENT_REQUIRED'
            ? 'This server registers only enrolled clinicians: enter the enrolment code its operator gave you.'
            : 'That enrolment code is unknown, expired or already used: ask for a new one.',
          $('clinician-enrolment'),
        );
      return false;
    }
    showError(
      `Registration with the server failed: ${messageOf(error)}. It is tried again at the next unlock.`,
    );
    return false;
  }
}

/** Fetches, checks and draws what was shared; each refresh replaces the last. */
async function refreshInbox(): Promise<void> {
  const button = $<HTMLButtonElement>('inbox-refresh');
  button.disabled = true;
  showError(null);
  try {
    const inbox = await busy(() => worker.call('inbox', {}), button);
    clearInbox();
    inboxCharts = renderPeople($('people'), inbox, { plotOf, onExport: exportShared });
    renderRefused($('inbox-warnings'), inbox.refused);
    const people = new Set([...inbox.grants.map((g) => g.userId), ...inbox.items.map((i) => i.userId)]).size;
    $('inbox-note').textContent =
      `${plural(inbox.items.length, 'result')} from ${plural(people, 'person', 'people')}, each checked against the ledger (${fmtTime(Date.now())}).`;
    $('people').dataset.refreshes = String(Number($('people').dataset.refreshes ?? 0) + 1);
  } catch (error) {
    showError(`What was shared could not be fetched: ${messageOf(error)}`);
  } finally {
    button.disabled = false;
  }
}

async function exportShared(userId: string): Promise<void> {
  try {
    const r = await worker.call('clinicianFhir', { userId });
    download(r.text, 'application/fhir+json', r.filename);
    say(`Saved ${r.filename}.`);
  } catch (error) {
    showError(messageOf(error));
  }
}

function chooseRole(): void {
  const clinician = $<HTMLInputElement>('role-clinician').checked;
  $('create-form').hidden = clinician;
  $('clinician-form').hidden = !clinician;
}

function wireClinicianOnboarding(): void {
  $('role').addEventListener('change', chooseRole);
  // A reload may bring the radio back as it was left.
  chooseRole();
  $('clinician-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    clearInvalid();
    showError(null);
    const clinicianId = $<HTMLInputElement>('clinician-id').value.trim();
    const name = $<HTMLInputElement>('clinician-name').value.trim();
    const passphrase = $<HTMLInputElement>('clinician-passphrase').value;
    const confirm = $<HTMLInputElement>('clinician-passphrase-confirm').value;
    if (clinicianId === '') return showError('Enter a clinician id.', $('clinician-id'));
    if (name === '') return showError('Enter your name as people should see it.', $('clinician-name'));
    if ([...passphrase].length < 8)
      return showError('The passphrase needs at least 8 characters.', $('clinician-passphrase'));
    if (passphrase !== confirm)
      return showError(
        'The two passphrases differ: type the same one twice.',
        $('clinician-passphrase-confirm'),
      );
    const started = performance.now();
    try {
      const summary = await busy(
        () => worker.call('createClinician', { clinicianId, name, passphrase, server }),
        $('create-clinician'),
      );
      $<HTMLInputElement>('clinician-passphrase').value = '';
      $<HTMLInputElement>('clinician-passphrase-confirm').value = '';
      say(`Keys created and sealed in ${fmtMs(performance.now() - started)}.`);
      await enterClinician(summary);
    } catch (error) {
      showError(`The keys could not be created: ${messageOf(error)}`);
    }
  });
}

function wireClinician(): void {
  $('inbox-refresh').addEventListener('click', () => void refreshInbox());
  $('clinician-lock').addEventListener('click', async () => {
    await worker.call('lock', {});
    clinicianShown = null;
    clearInbox();
    showUnlock(true);
    say('Locked: the keys are out of memory.');
    $('unlock-passphrase').focus();
  });
}

// ---------------------------------------------------------------------------------------------
// Start

async function start(): Promise<void> {
  worker.onEvent = onEvent;
  renderModels();
  renderPersonas();
  wireOnboarding();
  wireClinicianOnboarding();
  wireUnlock();
  wireApp();
  wireSharing();
  wireCloseAccount();
  wireClinician();
  wireConfirm();
  try {
    const status = await worker.call('status', {});
    if (status.unlocked) await enter(status.unlocked);
    else if (status.vault) showUnlock(status.role === 'clinician');
    else show('onboarding');
  } catch (error) {
    show('onboarding');
    showError(`The client could not start: ${messageOf(error)}`);
  }
}

void start();
