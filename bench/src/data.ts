// Seeded input files, streamed to disk so generating 1 GB costs no memory; reused when present.
import { createWriteStream, existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Shape = 'narrow' | 'wide';
export const DATA_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'data');

/** A small deterministic PRNG (mulberry32), so every machine generates the same bytes. */
function rng(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ['steel', 'oak', 'blue', 'large', 'compact', 'pro', 'classic', 'eco', 'ultra', 'mini', 'deluxe', 'basic'];

export const HEADERS: Record<Shape, string> = {
  narrow: 'sku,name,price',
  wide: 'sku,name,description,category,brand,price,cost,qty,weight,active,created,tags',
};

function row(shape: Shape, i: number, r: () => number): string {
  const w = () => WORDS[Math.floor(r() * WORDS.length)]!;
  if (shape === 'narrow') return `SKU-${i},${w()} ${w()} ${i},${(r() * 1000).toFixed(2)}`;
  return [
    `SKU-${i}`,
    `"${w()} ${w()}, model ${i}"`,
    `"A ${w()} ${w()} item, ""${w()}"" edition, for ${w()} use"`,
    `cat-${Math.floor(r() * 40)}`,
    `"${w()}, ${w()} & co"`,
    (r() * 1000).toFixed(2),
    (r() * 500).toFixed(2),
    Math.floor(r() * 10_000),
    (r() * 30).toFixed(3),
    r() > 0.5 ? 'true' : 'false',
    new Date(1_600_000_000_000 + Math.floor(r() * 1e11)).toISOString(),
    `"${w()};${w()};${w()}"`,
  ].join(',');
}

/** Path of a generated file of about `bytes`, creating it if needed. */
export async function dataFile(shape: Shape, bytes: number): Promise<string> {
  const r = rng(shape === 'narrow' ? 1 : 2);
  return generate(`${shape}-${bytes}.csv`, HEADERS[shape], (i) => row(shape, i, r), (written) => written >= bytes);
}

const ACCENTED = ['café', 'Müller', 'naïve', 'Ångström', 'señor', 'Łódź', 'crème brûlée', 'Straße', 'smörgåsbord', 'façade', 'jalapeño', 'Zürich'];

/**
 * The clients comparison's file: `rows` rows (a multiple of 2000) of 10 columns, ~100 bytes each (500,000 rows is
 * ~50 MB), some fields quoted (with commas and doubled quotes inside), UTF-8 text with accents.
 */
export async function clientsFile(rows: number): Promise<string> {
  const r = rng(3);
  const w = () => WORDS[Math.floor(r() * WORDS.length)]!;
  const a = () => ACCENTED[Math.floor(r() * ACCENTED.length)]!;
  return generate(
    `clients-${rows}rows.csv`,
    'id,sku,name,brand,category,price,qty,active,updated,note',
    (i) =>
      [
        i,
        `SKU-${i}`,
        `"${w()} ${w()}, ${i}"`,
        a(),
        `cat-${Math.floor(r() * 40)}`,
        (r() * 1000).toFixed(2),
        Math.floor(r() * 10_000),
        r() > 0.5 ? 'true' : 'false',
        new Date(1_600_000_000_000 + Math.floor(r() * 1e11)).toISOString().slice(0, 10),
        `"${a()} ""${w()}"""`,
      ].join(','),
    (_written, rowsWritten) => rowsWritten >= rows,
  );
}

/** Streams rows to `name` in DATA_DIR, 2000 at a time, until `done`; reused when the file is there already. */
async function generate(name: string, header: string, makeRow: (i: number) => string, done: (bytes: number, rows: number) => boolean): Promise<string> {
  mkdirSync(DATA_DIR, { recursive: true });
  const path = join(DATA_DIR, name);
  if (existsSync(path)) return path;
  const partial = `${path}.partial`;
  const out = createWriteStream(partial);
  let written = 0;
  out.write(`${header}\n`);
  let i = 0;
  while (!done(written, i)) {
    let chunk = '';
    for (const end = i + 2000; i < end; i++) chunk += `${makeRow(i)}\n`;
    written += chunk.length;
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  renameSync(partial, path);
  return path;
}

export function sizeOf(path: string): number {
  return statSync(path).size;
}

/** Parses `10MB`, `100MB`, `1GB`. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(KB|MB|GB)$/i.exec(text.trim());
  if (!m) throw new Error(`bad size "${text}"; use e.g. 10MB, 100MB, 1GB`);
  return Math.round(Number(m[1]) * { KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[m[2]!.toUpperCase() as 'KB' | 'MB' | 'GB']);
}

export function sizeLabel(bytes: number): string {
  return bytes >= 1024 ** 3 ? `${bytes / 1024 ** 3}GB` : `${Math.round(bytes / 1024 ** 2)}MB`;
}
