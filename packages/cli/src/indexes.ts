import type { Collection, Document, IndexDescriptionInfo } from 'mongodb';

const isMissing = (err: unknown): boolean => (err as { codeName?: string }).codeName === 'NamespaceNotFound' || (err as { code?: number }).code === 26;

/** The collection's indexes, `[]` when it does not exist yet. */
export async function listIndexes(collection: Collection): Promise<IndexDescriptionInfo[]> {
  try {
    return (await collection.listIndexes().toArray()) as IndexDescriptionInfo[];
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
}

/** Whether a unique index covers exactly the key's fields (in any order): only that makes keyed writes fast and duplicate-free. */
export function hasUniqueKeyIndex(indexes: readonly IndexDescriptionInfo[], key: readonly string[]): boolean {
  const want = [...key].sort().join('\0');
  return indexes.some((i) => i.unique === true && !i.partialFilterExpression && Object.keys(i.key).sort().join('\0') === want);
}

/** `{ sku: 1 }` for `['sku']`. */
export const keySpec = (key: readonly string[]): Record<string, 1> => Object.fromEntries(key.map((k) => [k, 1 as const]));

/** Creates the unique index on the key; its name. Fails when the collection already holds duplicates of the key. */
export function createUniqueKeyIndex(collection: Collection, key: readonly string[]): Promise<string> {
  return collection.createIndex(keySpec(key), { unique: true });
}

/**
 * Drops the collection and creates its indexes again (not the documents): `--drop` empties a
 * collection but keeps the unique index the upsert recipes tell people to create. Returns the
 * names of the indexes it recreated.
 */
export async function dropKeepingIndexes(collection: Collection): Promise<string[]> {
  const indexes = (await listIndexes(collection)).filter((i) => i.name !== '_id_');
  try {
    await collection.drop();
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
  if (indexes.length === 0) return [];
  // Everything but the server's bookkeeping (v, ns) is the definition as it was created.
  const specs = indexes.map(({ v: _v, ns: _ns, key, ...options }: Document) => ({ key, ...options })) as Parameters<Collection['createIndexes']>[0];
  return collection.createIndexes(specs);
}
