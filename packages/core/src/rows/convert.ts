import { ObjectId } from '../mongo/bson.js';
import { invalidOption } from '../errors.js';

/** Types a column can be converted to with the `types` option. */
export type ColumnType = 'string' | 'number' | 'int' | 'boolean' | 'date' | 'objectId' | 'json';

/** Column name to type; columns not listed stay strings. */
export type ColumnTypes = Record<string, ColumnType>;

/** A converter returns the value, or throws a plain message when the text does not convert. @internal */
export type Converter = (text: string) => unknown;

class ConversionError {
  constructor(readonly message: string) {}
}

/** Thrown by converters; caught once per row by the row processor. @internal */
export function isConversionError(value: unknown): value is ConversionError {
  return value instanceof ConversionError;
}

const fail = (message: string): never => {
  throw new ConversionError(message);
};

const INT = /^[+-]?\d+$/;
const TRUE = new Set(['true', '1', 'yes', 'y', 't']);
const FALSE = new Set(['false', '0', 'no', 'n', 'f']);

/** Rejects operators and prototype keys anywhere inside a parsed JSON value. */
function checkJson(value: unknown, depth: number): void {
  if (value === null || typeof value !== 'object') return;
  if (depth > 64) fail('JSON nests deeper than 64 levels');
  if (Array.isArray(value)) {
    for (const item of value) checkJson(item, depth + 1);
    return;
  }
  for (const key of Object.keys(value)) {
    if (key.startsWith('$')) fail(`JSON key "${key}" starts with "$", which MongoDB reads as an operator`);
    if (key === '__proto__') fail('JSON key "__proto__" is not allowed');
    checkJson((value as Record<string, unknown>)[key], depth + 1);
  }
}

const CONVERTERS: Record<ColumnType, Converter> = {
  string: (text) => text,
  number: (text) => {
    const n = Number(text);
    return Number.isFinite(n) && text.trim() !== '' ? n : fail(`"${clip(text)}" is not a number`);
  },
  int: (text) => {
    const t = text.trim();
    const n = Number(t);
    return INT.test(t) && Number.isSafeInteger(n) ? n : fail(`"${clip(text)}" is not a whole number`);
  },
  boolean: (text) => {
    const t = text.trim().toLowerCase();
    if (TRUE.has(t)) return true;
    if (FALSE.has(t)) return false;
    return fail(`"${clip(text)}" is not true/false, yes/no or 1/0`);
  },
  date: (text) => {
    const d = new Date(text.trim());
    return Number.isNaN(d.getTime()) ? fail(`"${clip(text)}" is not a date (use ISO 8601, e.g. 2024-05-31T12:00:00Z)`) : d;
  },
  objectId: (text) => {
    const t = text.trim();
    return /^[0-9a-fA-F]{24}$/.test(t) ? new ObjectId(t) : fail(`"${clip(text)}" is not a 24-character hex ObjectId`);
  },
  json: (text) => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return fail(`"${clip(text)}" is not valid JSON`);
    }
    checkJson(value, 0);
    return value;
  },
};

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/** Looks up and checks the converter of every typed column, once. @internal */
export function compileTypes(types: ColumnTypes | undefined): Map<string, Converter> {
  const out = new Map<string, Converter>();
  if (types === undefined) return out;
  if (typeof types !== 'object' || types === null) throw invalidOption('types', 'an object of column name to type', types);
  for (const [column, type] of Object.entries(types)) {
    const converter = CONVERTERS[type as ColumnType];
    if (!Object.hasOwn(CONVERTERS, type) || converter === undefined) {
      throw invalidOption(`types.${column}`, `one of ${Object.keys(CONVERTERS).join(', ')}`, type);
    }
    if (type !== 'string') out.set(column, converter);
  }
  return out;
}
