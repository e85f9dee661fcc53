/**
 * A string that is equal for two key tuples exactly when MongoDB would match them: the type is
 * part of it, so the number 1 and the string "1" are different keys.
 * @internal
 */
export function keyString(values: readonly unknown[]): string {
  let out = '';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += '\u0000';
    const v = values[i];
    switch (typeof v) {
      case 'string':
        out += `s${v}`;
        break;
      case 'number':
        out += `n${v}`;
        break;
      case 'boolean':
        out += `b${v}`;
        break;
      case 'bigint':
        out += `n${v}`;
        break;
      default:
        if (v instanceof Date) out += `d${v.getTime()}`;
        else if (v !== null && typeof (v as { toHexString?: unknown }).toHexString === 'function') {
          out += `o${(v as { toHexString(): string }).toHexString()}`;
        } else out += `j${JSON.stringify(v)}`;
    }
  }
  return out;
}

/** A key value that cannot identify a document. @internal */
export function isMissingKey(value: unknown): boolean {
  return value === undefined || value === null || value === '';
}
