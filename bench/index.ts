/** `npm run bench`: every benchmark in turn. */
await import('./paper.ts');
await import('./presets.ts');
