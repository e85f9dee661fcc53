/** Builds the row object of a record from its fields, in header order. @internal */
export type RowBuilder = (fields: readonly string[]) => Record<string, string>;

/**
 * Widest header given a generated literal. V8 keeps objects of up to about a thousand properties
 * in fast mode; a literal past that is built as a dictionary every time, measured here as slow as
 * or slower than the keyed stores.
 */
const MAX_GENERATED_COLUMNS = 1000;

/**
 * A row builder for one checked header.
 *
 * Setting the columns one by one (`row[name] = value`) costs a keyed store per field, at a site
 * that sees every column name, so V8 cannot specialise it: measured here, about 50 ns per
 * 3-column row, as much as finding the row's fields. An object literal with the header's names
 * is built from one cached shape, about ten times cheaper, so the literal is generated once per
 * header. The names are embedded only through `JSON.stringify`, which makes each one a string
 * literal whatever it holds, and validateHeader has already refused `__proto__`, the one key an
 * object literal treats specially. Where code generation is disabled
 * (`--disallow-code-generation-from-strings`), and for headers of more than
 * {@link MAX_GENERATED_COLUMNS} columns, the keyed stores are used.
 */
export function createRowBuilder(header: readonly string[]): RowBuilder {
  if (header.length <= MAX_GENERATED_COLUMNS && !header.includes('__proto__')) {
    const body = `return {${header.map((name, i) => `${JSON.stringify(name)}: f[${i}]`).join(', ')}};`;
    try {
      return new Function('f', body) as RowBuilder;
    } catch {
      // Code generation is disabled: fall through to the keyed stores.
    }
  }
  const names = [...header];
  return (fields) => {
    const row: Record<string, string> = {};
    for (let i = 0; i < names.length; i++) row[names[i]!] = fields[i]!;
    return row;
  };
}
