/** `npm run bench`: every benchmark in turn (for now the paper's experiments). */
await import('./paper.ts');
