/** What every benchmark prints: the command, the machine, timing statistics and Markdown tables. */
import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface Stats {
  median: number;
  p95: number;
  min: number;
}

/** Times `fn` `reps` times after `warmup` untimed runs; microseconds. `fn` may return a cleanup. */
export function time(reps: number, fn: () => (() => void) | unknown, warmup = 3): Stats {
  const samples: number[] = [];
  for (let i = 0; i < warmup + reps; i++) {
    const start = performance.now();
    const cleanup = fn();
    const elapsed = (performance.now() - start) * 1000;
    if (typeof cleanup === 'function') cleanup();
    if (i >= warmup) samples.push(elapsed);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) =>
    samples[Math.min(samples.length - 1, Math.ceil(q * samples.length) - 1)] as number;
  return { median: at(0.5), p95: at(0.95), min: samples[0] as number };
}

export function machine(): string {
  const cpus = os.cpus();
  const pkg = (name: string) =>
    (
      JSON.parse(readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), 'utf8')) as {
        version: string;
      }
    ).version;
  return [
    `${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`,
    `${os.type()} ${os.release()}, Node ${process.version}, node-seal ${pkg('node-seal')}`,
  ].join('; ');
}

export function header(command: string): string {
  return [`Command: \`${command}\``, `Machine: ${machine()}`, `Date: ${new Date().toISOString()}`].join(
    '  \n',
  );
}

export function table(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

export const fmt = {
  us: (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1)),
  ratio: (v: number) => `${v >= 10 ? v.toFixed(0) : v.toFixed(1)}×`,
  bytes: (v: number) => v.toLocaleString('en-US'),
  pct: (v: number) => `${(v * 100).toPrecision(2)}%`,
};
