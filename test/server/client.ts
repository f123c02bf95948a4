/** A minimal HTTP client for the server tests: signed requests over real loopback HTTP. */
import { encode } from 'cborg';
import type { LocalUser, SubmitItem } from '../../src/client/user.ts';
import { CBOR } from '../../src/protocol/api.ts';

export interface Reply<T = unknown> {
  status: number;
  body: T;
}

export class TestClient {
  readonly base: string;
  readonly user: LocalUser;

  constructor(base: string, user: LocalUser) {
    this.base = base;
    this.user = user;
  }

  async register(enrolment?: string): Promise<Reply> {
    return this.raw('POST', '/v1/users', await this.user.registration(Date.now(), enrolment), {
      auth: false,
    });
  }

  async submit(items: SubmitItem[]): Promise<Reply<{ submissions: { id: string; state: string }[] }>> {
    return this.raw('POST', '/v1/submissions', encode(items)) as Promise<
      Reply<{ submissions: { id: string; state: string }[] }>
    >;
  }

  async get<T = unknown>(path: string): Promise<Reply<T>> {
    return this.raw('GET', path) as Promise<Reply<T>>;
  }

  /** Any request; signed unless auth is false (or a header is given). */
  async raw(
    method: string,
    path: string,
    body?: Uint8Array,
    options: { auth?: boolean; authorization?: string; contentType?: string } = {},
  ): Promise<Reply> {
    const headers: Record<string, string> = {};
    if (body) headers['content-type'] = options.contentType ?? CBOR;
    if (options.authorization) headers.authorization = options.authorization;
    else if (options.auth !== false)
      headers.authorization = await this.user.authorization(method, path, body);
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers,
      ...(body ? { body: body as BodyInit } : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: parsed };
  }

  /** Polls until `count` results are listed (or the deadline passes). */
  async waitForResults(count: number, timeoutMs = 20_000): Promise<{ id: string; submissionId: string }[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { body } = await this.get<{ results: { id: string; submissionId: string }[] }>(
        '/v1/results?limit=500',
      );
      if (body.results.length >= count || Date.now() > deadline) return body.results;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
