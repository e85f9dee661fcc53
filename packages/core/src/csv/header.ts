import { IngestError, IngestErrorCode } from '../errors.js';

/** Names that would reach an object's prototype chain if used as keys. */
const FORBIDDEN_NAMES = new Set(['__proto__', 'constructor', 'prototype']);

function reject(index: number, name: string, why: string): never {
  const shown = JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name);
  throw new IngestError(
    IngestErrorCode.E_HEADER_INVALID,
    `Header column ${index + 1} (${shown}) ${why}. Rename the column in the file, or pass csv.columns with safe names.`,
    { line: 1, column: name },
  );
}

/**
 * Checks column names before any row is read, so a hostile header costs nothing.
 *
 * Rejects names MongoDB would read as operators (`$x`) or paths (`a.b`), names that reach a
 * prototype, empty names and repeats. Returns the names, trimmed of surrounding white space.
 */
export function validateHeader(names: readonly unknown[], maxColumns: number): string[] {
  if (names.length > maxColumns) {
    throw new IngestError(
      IngestErrorCode.E_TOO_MANY_COLUMNS,
      `The header has ${names.length} columns; the limit is ${maxColumns}. Raise csv.maxColumns if the file is right.`,
      { line: 1, limit: maxColumns },
    );
  }
  const seen = new Set<string>();
  const out: string[] = [];
  for (let i = 0; i < names.length; i++) {
    const raw = names[i];
    if (typeof raw !== 'string') reject(i, String(raw), 'is not a string');
    const name = raw.trim();
    if (name.length === 0) reject(i, name, 'is empty');
    if (name.startsWith('$')) reject(i, name, 'starts with "$", which MongoDB reads as an operator');
    if (name.includes('.')) reject(i, name, 'contains ".", which MongoDB reads as a path into a sub-document');
    // Control characters or undecodable bytes in a header mean binary data or the wrong charset.
    if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffd]/.test(name)) {
      reject(i, name, "contains bytes that are not text; is the file CSV, and is csv.encoding right (try 'auto')?");
    }
    if (FORBIDDEN_NAMES.has(name)) reject(i, name, 'would overwrite an object prototype');
    if (seen.has(name)) reject(i, name, 'repeats an earlier column name');
    seen.add(name);
    out.push(name);
  }
  if (out.length === 0) {
    throw new IngestError(IngestErrorCode.E_HEADER_INVALID, 'The header row is empty. The first line of the file must name the columns.', { line: 1 });
  }
  return out;
}
