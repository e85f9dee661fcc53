import { createRequire } from 'node:module';

// The driver is CommonJS and requires bson's CommonJS build. An ESM `import … from 'bson'` would
// load bson's ES module build instead: a second copy whose ObjectId is another class, so an `_id`
// or an `objectId` column made here would fail `instanceof ObjectId` in a user's hook or sink.
// Requiring it gives this package the driver's own copy, from either build of core (the CommonJS
// build gets import.meta.url from tsup's shim).
const require = createRequire(import.meta.url);
const bson = require('bson') as typeof import('bson');

/** bson's ObjectId, the same class as the driver's `ObjectId`. @internal */
export const ObjectId = bson.ObjectId;
/** @internal */
export type ObjectId = import('bson').ObjectId;
/** @internal */
export const calculateObjectSize = bson.calculateObjectSize;
/** @internal */
export const serialize = bson.serialize;
/** @internal */
export const deserialize = bson.deserialize;
