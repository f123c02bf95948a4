/** A worker for the pool test: echoes, throws, aborts WebAssembly-style, or dies, as asked. */
import { serveJobs } from '../../src/workers/pool.ts';

await serveJobs<string, string>(async () => async (input) => {
  if (input === 'throw') throw Object.assign(new Error('refused'), { code: 'BAD_INPUT' });
  if (input === 'abort') throw new WebAssembly.RuntimeError('unreachable');
  if (input === 'die') process.exit(3);
  if (input === 'hang-and-die') setTimeout(() => process.exit(4), 10);
  return `echo ${input}`;
});
