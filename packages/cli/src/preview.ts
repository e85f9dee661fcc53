import { previewCsv, type CsvPreview, type InferredColumn } from '@anti-oom/core';
import type { CliIo } from './cli.js';
import { openInput } from './input.js';

/** What `anti-oom preview` was asked to do. */
export interface PreviewCommand {
  kind: 'preview';
  /** A path, or `-` for standard input. */
  input: string;
  delimiter: string | undefined;
  encoding: string | undefined;
  fields: string[] | undefined;
  engine: 'csv-parse' | 'fast' | undefined;
  maxRows: number | undefined;
  maxBytes: number | undefined;
  json: boolean;
}

/** Rows of the file shown in the table; every sampled row still counts for the types. */
const ROWS_SHOWN = 10;
const CELL = 24;
const number = new Intl.NumberFormat('en-US');

/**
 * `anti-oom preview <file>`: reads the start of the file only (then closes it) and prints what an
 * import would see. A table on a terminal, one JSON object otherwise (or with --json).
 * Exit 0 when the header is fine, 2 when the import would stop before writing anything.
 */
export async function runPreview(cmd: PreviewCommand, io: CliIo): Promise<number> {
  const json = cmd.json || !io.stdout.isTTY;
  let input;
  try {
    input = await openInput(cmd.input, io.stdin);
  } catch (err) {
    return fatal(io, json, 'E_INPUT', `Cannot read ${cmd.input}: ${(err as Error).message}`);
  }
  let preview: CsvPreview;
  try {
    preview = await previewCsv(input.source, {
      ...(cmd.maxRows === undefined ? {} : { maxRows: cmd.maxRows }),
      ...(cmd.maxBytes === undefined ? {} : { maxBytes: cmd.maxBytes }),
      csv: {
        ...(cmd.delimiter ? { delimiter: cmd.delimiter } : {}),
        ...(cmd.encoding ? { encoding: cmd.encoding } : {}),
        ...(cmd.fields ? { columns: cmd.fields } : {}),
        ...(cmd.engine ? { engine: cmd.engine } : {}),
      },
    });
  } catch (err) {
    const e = err as { code?: string; message: string };
    return fatal(io, json, e.code ?? 'E_SOURCE', e.message);
  } finally {
    await input.close();
  }
  const exit = preview.error ? 2 : 0;
  io.stdout.write(json ? `${JSON.stringify({ event: 'preview', input: cmd.input, gzip: input.gzip, ...preview, exitCode: exit })}\n` : formatPreview(preview, cmd.input));
  return exit;
}

function fatal(io: CliIo, json: boolean, code: string, message: string): number {
  if (json) io.stdout.write(`${JSON.stringify({ event: 'error', code, message, exitCode: 2 })}\n`);
  else io.stderr.write(`anti-oom: ${code}: ${message}\n`);
  return 2;
}

const ENCODING_HOW = { bom: 'byte-order mark', 'valid-utf8': 'valid UTF-8', fallback: 'not UTF-8, read as windows-1252', option: 'as given' } as const;

/** The preview as text for a person: the file, the columns with their types, the first rows. */
export function formatPreview(p: CsvPreview, name: string): string {
  const lines: string[] = [];
  const delimiter = p.delimiter === '\t' ? 'tab' : p.delimiter === undefined ? '?' : `"${p.delimiter}"`;
  lines.push(
    `${name}: ${p.encoding ?? 'empty'} (${ENCODING_HOW[p.encodingSource]}), delimiter ${delimiter}, ` +
      `${p.header?.length ?? 0} columns, ${number.format(p.rows.length)} rows sampled ` +
      `(${p.complete ? 'the whole file' : `the first ${number.format(p.bytesRead)} bytes`})`,
  );
  if (p.error) lines.push('', `The import would stop: ${p.error.code}: ${printable(p.error.message)}`);
  if (p.columns.length > 0) {
    lines.push('');
    lines.push(...table(['column', 'type', 'empty', 'closest other type (share of values, examples that do not fit)'], p.columns.map(columnRow), false));
  }
  if (p.failures.length > 0) {
    lines.push('', `Rows the import would fail (${p.failures.length} in the sample):`);
    for (const f of p.failures.slice(0, 5)) lines.push(`  line ${f.line}: ${f.code}: ${printable(f.message)}`);
  }
  if (p.rows.length > 0 && p.header) {
    lines.push('', `First rows:`);
    lines.push(...table(['line', ...p.header], p.rows.slice(0, ROWS_SHOWN).map((r) => [String(r.line), ...p.header!.map((h) => r.values[h] ?? '')])));
  }
  if (p.columns.some((c) => c.type !== 'string')) {
    const types = p.columns.filter((c) => c.type !== 'string').map((c) => `${c.name}:${c.type}`);
    lines.push('', `Import with these types: --types infer, or --types ${types.join(',')}`);
  }
  return `${lines.join('\n')}\n`;
}

function columnRow(c: InferredColumn): string[] {
  // Only a string column needs a hint: which type almost fits, and the values that stop it.
  let other = undefined;
  if (c.type === 'string') for (const f of c.candidates) if (other === undefined || f.share > other.share) other = f;
  const hint = other ? `${other.type} ${Math.floor(other.share * 100)}%: ${other.misfits.map((m) => JSON.stringify(m)).join(', ')}` : '';
  return [c.name, c.type, c.empty === 0 ? '0' : `${c.empty} of ${c.sampled}`, hint];
}

/** A file's text on a terminal: control characters (escape sequences included) would act, not show. */
function printable(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

function table(head: string[], rows: string[][], clipLast = true): string[] {
  const clip = (s: string) => (s.length > CELL ? `${s.slice(0, CELL - 1)}…` : s);
  const cells = [head, ...rows].map((r) => r.map((s, i) => printable(i === r.length - 1 && !clipLast ? s : clip(s))));
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => `  ${r.map((s, i) => (i === r.length - 1 ? s : s.padEnd(widths[i]!))).join('  ')}`.trimEnd());
}
