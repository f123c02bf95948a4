/**
 * The server's /v1 API from the client's side, typed with the schemas the server validates with
 * (src/protocol/api.ts). Every call but the catalogue and registration is signed with the user's
 * Ed25519 key. Errors say whether retrying can help: the outbox retries only those.
 */
import { encode } from 'cborg';
import {
  API_PREFIX,
  type ApiResult,
  type Catalogue,
  CBOR,
  type Clinician,
  type Closed,
  type Grant,
  type GrantList,
  type Me,
  type RegisteredUser,
  type ResultSummary,
  type Share,
  type SharedItem,
  type SubmissionStatus,
  type Unsubscribed,
} from '../protocol/api.ts';
import type { Answer } from '../protocol/contract.ts';
import type { SubmitItem } from './user.ts';

/** Anything that can sign a request: a LocalUser. */
export interface RequestSigner {
  authorization(method: string, path: string, body?: Uint8Array): Promise<string>;
}

export class ApiError extends Error {
  override readonly name = 'ApiError';
  /** HTTP status, or 0 when the server could not be reached. */
  readonly status: number;
  /** The server's code (REPLAY, STALE, BAD_SIGNATURE, …), or NETWORK / TIMEOUT. */
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }

  /** The server was unreachable, overloaded or failing: the same request may succeed later. */
  get retryable(): boolean {
    return this.status === 0 || this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

export interface ResultEvent {
  resultId: string;
  submissionId: string;
}

export interface ApiClientOptions {
  /** Per-request timeout (ms). Default 30 s. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export class ApiClient {
  readonly base: string;
  readonly #signer: RequestSigner | undefined;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;

  constructor(base: string, signer?: RequestSigner, options: ApiClientOptions = {}) {
    this.base = base.replace(/\/+$/, '');
    this.#signer = signer;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  catalogue(): Promise<Catalogue> {
    return this.#call<Catalogue>('GET', `${API_PREFIX}/catalogue`, undefined, false);
  }

  /** POST /v1/users with LocalUser.registration()'s body; 201 with the user as registered. */
  register(body: Uint8Array): Promise<RegisteredUser> {
    return this.#call<RegisteredUser>('POST', `${API_PREFIX}/users`, body, false);
  }

  /** GET /v1/users/me: the models the server has registered for this user. */
  me(): Promise<Me> {
    return this.#call<Me>('GET', `${API_PREFIX}/users/me`);
  }

  /** POST /v1/users/me/unsubscribe with a signed unsubscribe request (LocalUser.request). */
  unsubscribe(request: Uint8Array): Promise<Unsubscribed> {
    return this.#call<Unsubscribed>('POST', `${API_PREFIX}/users/me/unsubscribe`, encode({ request }));
  }

  /** Registers a clinician: their signed request (op "clinician"). */
  registerClinician(request: Uint8Array, enrolment?: string): Promise<Clinician> {
    const body = encode({ request, ...(enrolment ? { enrolment } : {}) });
    return this.#call<Clinician>('POST', `${API_PREFIX}/clinicians`, body, false);
  }

  clinician(id: string): Promise<Clinician> {
    return this.#call<Clinician>('GET', `${API_PREFIX}/clinicians/${encodeURIComponent(id)}`);
  }

  grants(): Promise<GrantList> {
    return this.#call<GrantList>('GET', `${API_PREFIX}/grants`);
  }

  grant(request: Uint8Array): Promise<Grant> {
    return this.#call<Grant>('POST', `${API_PREFIX}/grants`, encode({ request }));
  }

  revoke(request: Uint8Array): Promise<Grant> {
    return this.#call<Grant>('POST', `${API_PREFIX}/grants/revoke`, encode({ request }));
  }

  share(request: Uint8Array, item: Uint8Array): Promise<Share> {
    return this.#call<Share>('POST', `${API_PREFIX}/shares`, encode({ request, item }));
  }

  async sharedItems(userId?: string): Promise<SharedItem[]> {
    const query = userId === undefined ? '' : `?userId=${encodeURIComponent(userId)}`;
    return (await this.#call<{ items: SharedItem[] }>('GET', `${API_PREFIX}/shares${query}`)).items;
  }

  sharedItem(userId: string, resultId: string): Promise<SharedItem> {
    return this.#call<SharedItem>('GET', `${API_PREFIX}/shares/${encodeURIComponent(userId)}/${resultId}`);
  }

  /** The ledger's consent records of the signer (relayed by the server). */
  consent(request: Uint8Array): Promise<Answer<'consent'>> {
    return this.#call<Answer<'consent'>>('POST', `${API_PREFIX}/consent`, encode({ request }));
  }

  close(request: Uint8Array): Promise<Closed> {
    return this.#call<Closed>('POST', `${API_PREFIX}/users/me/close`, encode({ request }));
  }

  async submit(items: readonly SubmitItem[]): Promise<SubmissionStatus[]> {
    const reply = await this.#call<{ submissions: SubmissionStatus[] }>(
      'POST',
      `${API_PREFIX}/submissions`,
      encode([...items]),
    );
    return reply.submissions;
  }

  /** A submission's status, or undefined when the server never accepted it (404). */
  async submission(id: string): Promise<SubmissionStatus | undefined> {
    try {
      return await this.#call<SubmissionStatus>('GET', `${API_PREFIX}/submissions/${id}`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return undefined;
      throw error;
    }
  }

  async results(query: { after?: string; limit?: number } = {}): Promise<ResultSummary[]> {
    const params = new URLSearchParams();
    if (query.after) params.set('after', query.after);
    if (query.limit) params.set('limit', String(query.limit));
    const qs = params.size ? `?${params}` : '';
    return (await this.#call<{ results: ResultSummary[] }>('GET', `${API_PREFIX}/results${qs}`)).results;
  }

  result(id: string): Promise<ApiResult> {
    return this.#call<ApiResult>('GET', `${API_PREFIX}/results/${id}`);
  }

  /**
   * Server-sent "result" events until `signal` aborts (or the connection drops: the iterator then
   * ends, and the caller polls or reconnects).
   */
  async *events(signal: AbortSignal): AsyncGenerator<ResultEvent> {
    const path = `${API_PREFIX}/events`;
    const res = await this.#fetch(`${this.base}${path}`, {
      headers: { authorization: await this.#sign('GET', path) },
      signal,
    }).catch((error: unknown) => {
      throw unreachable(error);
    });
    if (!res.ok || !res.body) throw await failure(res);
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const lines = frame.split('\n');
          const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
          const data = lines.find((l) => l.startsWith('data: '))?.slice(6);
          if (event === 'result' && data) yield JSON.parse(data) as ResultEvent;
        }
      }
    } catch (error) {
      if (!signal.aborted) throw unreachable(error);
    }
  }

  async #sign(method: string, path: string, body?: Uint8Array): Promise<string> {
    if (!this.#signer) throw new Error(`${method} ${path} needs a signed request: no user given`);
    return this.#signer.authorization(method, path, body);
  }

  async #call<T>(method: string, path: string, body?: Uint8Array, signed = true): Promise<T> {
    const headers: Record<string, string> = {};
    if (body) headers['content-type'] = CBOR;
    if (signed) headers.authorization = await this.#sign(method, path, body);
    let res: Response;
    try {
      res = await this.#fetch(`${this.base}${path}`, {
        method,
        headers,
        ...(body ? { body: body as BodyInit } : {}),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      throw unreachable(error);
    }
    if (!res.ok) throw await failure(res);
    return (await res.json()) as T;
  }
}

function unreachable(error: unknown): ApiError {
  const e = error as Error;
  if (e.name === 'TimeoutError') return new ApiError(0, 'TIMEOUT', `the server did not answer in time`);
  const cause = (e.cause as Error | undefined)?.message;
  return new ApiError(0, 'NETWORK', `the server could not be reached: ${cause ?? e.message}`);
}

async function failure(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { code?: string; message?: string };
    return new ApiError(res.status, body.code ?? `HTTP_${res.status}`, body.message ?? res.statusText);
  } catch {
    return new ApiError(res.status, `HTTP_${res.status}`, text.slice(0, 200) || res.statusText);
  }
}
