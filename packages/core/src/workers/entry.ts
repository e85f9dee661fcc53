/**
 * The worker script, next to the module that runs this: `worker.js` / `worker.cjs` beside the
 * built entry. When the library runs from its TypeScript sources (this repository's tests), the
 * worker loads its source through tsx instead.
 * @internal
 */
export function workerScript(): { script: URL | string; eval: boolean } {
  // The CommonJS build gets import.meta.url from tsup's shim.
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const source = new URL('./worker-main.ts', here).href;
    return { script: `import('tsx/esm/api').then((api) => api.tsImport(${JSON.stringify(source)}, ${JSON.stringify(here)}))`, eval: true };
  }
  return { script: new URL(here.endsWith('.cjs') ? './worker.cjs' : './worker.js', here), eval: false };
}
