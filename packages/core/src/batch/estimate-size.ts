/**
 * Approximate BSON size of a value, without serializing it. Used only when a document did not
 * come from the CSV parser (whose record byte count is a cheaper and good enough estimate).
 * @internal
 */
export function estimateSize(value: unknown, depth = 0): number {
  switch (typeof value) {
    case 'string':
      return value.length + 5;
    case 'number':
    case 'bigint':
      return 8;
    case 'boolean':
      return 1;
    case 'object': {
      if (value === null) return 1;
      if (depth > 8) return 16;
      if (value instanceof Date) return 8;
      let size = 5;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) size += 4 + estimateSize(value[i], depth + 1);
        return size;
      }
      for (const key in value) size += key.length + 2 + estimateSize((value as Record<string, unknown>)[key], depth + 1);
      return size;
    }
    default:
      return 1;
  }
}
