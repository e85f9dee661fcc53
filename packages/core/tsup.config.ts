import { packageConfig } from '../../tsup.base.js';

export default packageConfig({
  // p-retry is ESM-only; bundled, so the CommonJS build works wherever require(esm) does not help.
  noExternal: ['p-retry', 'is-network-error'],
});
