// One measurement in a fresh process, so peak RSS belongs to that variant alone.
// Usage: node src/worker.mjs <variant> <file> [json options]; prints one JSON line.
// Plain JavaScript with lazy imports: the process loads only what its variant uses, so peak RSS
// is the variant's own, not a TypeScript loader's or another library's.
import { createReadStream, readFileSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

const [variant, file, optionsJson] = process.argv.slice(2);
const options = JSON.parse(optionsJson ?? '{}');
const CHUNK = 64 * 1024;
const read = () => createReadStream(file, { highWaterMark: CHUNK });
const ok = (n) => ({ written: n, inserted: n, upserted: 0, matched: 0, modified: 0, failures: [] });
/** A sink that acknowledges at once: what is measured is everything before the database. */
const nullWriter = { write: async (b) => ok(b.items.length) };
const core = () => import('@anti-oom/core');

/**
 * The parse scenario's variants: `load` does the imports, `run` is timed. Module load is a cost
 * paid once per process, not per byte, and the ceiling (read + decode) imports nothing, so every
 * parse variant alike is timed from after its imports; `importSeconds` reports what they took.
 */
const parseVariants = {
  'read-decode': {
    load: async () => ({}),
    async run() {
      const decoder = new StringDecoder('utf8');
      let rows = -1;
      for await (const chunk of read()) {
        const text = decoder.write(chunk);
        for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) rows++;
      }
      return { rows };
    },
  },
  'csv-parse-columns': {
    load: () => import('csv-parse'),
    async run({ parse }) {
      let rows = 0;
      for await (const _ of read().pipe(parse({ columns: true }))) rows++;
      return { rows };
    },
  },
  'csv-parse-arrays': {
    load: () => import('csv-parse'),
    async run({ parse }) {
      let rows = -1;
      for await (const _ of read().pipe(parse())) rows++;
      return { rows };
    },
  },
  papaparse: {
    load: () => import('papaparse'),
    async run({ default: Papa }) {
      let rows = 0;
      await new Promise((resolve, reject) =>
        Papa.parse(read(), { header: true, chunk: (results) => (rows += results.data.length), complete: resolve, error: reject }),
      );
      return { rows };
    },
  },
  udsv: {
    load: () => import('udsv'),
    async run({ inferSchema, initParser }) {
      let rows = 0;
      const decoder = new StringDecoder('utf8');
      let parser;
      const count = () => void rows++;
      for await (const chunk of read()) {
        const text = decoder.write(chunk);
        parser ??= initParser(inferSchema(text));
        parser.chunk(text, parser.stringObjs, count);
      }
      parser?.end();
      return { rows };
    },
  },
  // A floor, not a parser: the least work that ends in the records createCsvParser hands on
  // ({ line, row, bytes, end, nextLine } with a row object per line), done with the fastest
  // primitives measured here (native indexOf to find each comma and line end, slice for each
  // field, a generated object literal for the row). It handles no quotes (a quoted comma splits
  // its field), no CR, no bad bytes, no errors, no size limit: it says how fast a parser in
  // JavaScript could be at best on this machine, so the fast engine's distance to it is measured
  // rather than guessed.
  'floor-minimal': {
    load: async () => ({}),
    async run() {
      const decoder = new StringDecoder('utf8');
      let rest = '';
      let rows = 0;
      let line = 1;
      let offset = 0;
      let build;
      let width = 0;
      const fields = [];
      for await (const chunk of read()) {
        const text = rest + decoder.write(chunk);
        const n = text.length;
        const records = [];
        let pos = 0;
        let nd = -1;
        for (let eol = text.indexOf('\n'); eol !== -1; eol = text.indexOf('\n', pos)) {
          let count = 0;
          for (let from = pos; ; ) {
            if (nd < from) nd = text.indexOf(',', from);
            if (nd === -1) nd = n;
            if (nd >= eol) {
              fields[count++] = text.slice(from, eol);
              break;
            }
            fields[count++] = text.slice(from, nd);
            from = nd + 1;
          }
          offset += eol + 1 - pos;
          if (build === undefined) {
            width = count;
            build = new Function('f', `return {${fields.slice(0, count).map((name, i) => `${JSON.stringify(name)}: f[${i}]`).join(', ')}};`);
          } else if (count >= width) {
            records[records.length] = { line, row: build(fields), bytes: eol + 1 - pos, end: offset, nextLine: line + 1 };
          }
          line++;
          pos = eol + 1;
        }
        rows += records.length;
        rest = text.slice(pos);
      }
      return { rows };
    },
  },
  'anti-oom-parser': {
    load: core,
    async run({ createCsvParser }) {
      let rows = 0;
      for await (const records of read().pipe(createCsvParser({ emit: 'chunk', engine: options.engine }))) rows += records.length;
      return { rows };
    },
  },
};
// The fast-engine variant runs the same code with { engine: 'fast' } in its options.
parseVariants['anti-oom-parser-fast'] = parseVariants['anti-oom-parser'];

const variants = {
  async 'hand-rolled-null'() {
    return handRolled(nullWriter);
  },
  async 'anti-oom-null'() {
    const { createIngestPipeline } = await core();
    const report = await createIngestPipeline({ sink: nullWriter, memory: false, ping: false, csv: { engine: options.engine } }).run(read());
    return { rows: report.rowsWritten };
  },
  async 'anti-oom-db'() {
    const { createIngestPipeline, mongoSink } = await core();
    return withCollection(async (collection) => {
      const report = await createIngestPipeline({ sink: mongoSink(collection), concurrency: options.concurrency ?? 2, memory: false, csv: { engine: options.engine } }).run(read());
      return { rows: report.rowsWritten };
    });
  },
  async 'anti-oom-seekable-null'() {
    // The baseline of the checkpoint scenario: the same file source and database connection as
    // the resumable variant, without `resume`.
    const { createIngestPipeline, fileSource } = await core();
    return withCollection(async () => {
      const report = await createIngestPipeline({ sink: nullWriter, memory: false, ping: false, csv: { engine: options.engine } }).run(fileSource(file, { highWaterMark: CHUNK }));
      return { rows: report.rowsWritten };
    });
  },
  async 'anti-oom-resume-null'() {
    // Checkpoints in the database (mongoCheckpoints, default interval) on the fastest sink there
    // is, so their cost shows at its largest.
    const { createIngestPipeline, fileSource, mongoCheckpoints } = await core();
    return withCollection(async (collection) => {
      let checkpoints = 0;
      const pipeline = createIngestPipeline({
        sink: nullWriter,
        memory: false,
        ping: false,
        csv: { engine: options.engine },
        resume: { store: mongoCheckpoints(collection), key: `bench-${process.pid}-${Date.now()}` },
      });
      pipeline.on('checkpoint', () => checkpoints++);
      const report = await pipeline.run(fileSource(file, { highWaterMark: CHUNK }));
      return { rows: report.rowsWritten, extra: { checkpoints } };
    });
  },
  async 'hand-rolled-db'() {
    return withCollection((collection) =>
      handRolled({
        async write(b) {
          await collection.insertMany(b.items.map((i) => i.document));
          return ok(b.items.length);
        },
      }),
    );
  },
  async 'naive-db'() {
    // What the OOM story is about: the whole file in memory, parsed at once, then written.
    const { parse } = await import('csv-parse/sync');
    return withCollection(async (collection) => {
      const docs = parse(readFileSync(file), { columns: true });
      for (let i = 0; i < docs.length; i += 1000) await collection.insertMany(docs.slice(i, i + 1000));
      return { rows: docs.length };
    });
  },
  async backpressure() {
    // A sink slower than the source by `delayMs` per batch; samples show RSS and how far the source got.
    const { createIngestPipeline } = await core();
    const samples = [];
    const controller = new AbortController();
    const slow = {
      async write(b) {
        await new Promise((r) => setTimeout(r, options.delayMs ?? 100));
        return ok(b.items.length);
      },
    };
    const pipeline = createIngestPipeline({ sink: slow, memory: false, ping: false, signal: controller.signal });
    const started = Date.now();
    const timer = setInterval(() => {
      const s = pipeline.snapshot();
      const m = process.memoryUsage();
      samples.push({ t: Math.round((Date.now() - started) / 1000), rssMB: Math.round(m.rss / 1048576), heapMB: Math.round(m.heapUsed / 1048576), bytesReadMB: +(s.bytesRead / 1048576).toFixed(2), rowsWritten: s.rowsWritten });
    }, 1000);
    setTimeout(() => controller.abort(), (options.seconds ?? 20) * 1000);
    const report = await pipeline.run(read()).catch((err) => err.report);
    clearInterval(timer);
    return { rows: report.rowsWritten, extra: { samples } };
  },
};

async function handRolled(writer) {
  // The loop people write by hand: csv-parse with columns and trim, batches of 1000, awaited writes.
  const { parse } = await import('csv-parse');
  let batch = [];
  let rows = 0;
  const flush = async () => {
    await writer.write({ seq: 0, bytes: 0, items: batch.map((document) => ({ line: 0, document, bytes: 0 })) });
    rows += batch.length;
    batch = [];
  };
  for await (const record of read().pipe(parse({ columns: true, trim: true }))) {
    batch.push(record);
    if (batch.length >= 1000) await flush();
  }
  if (batch.length > 0) await flush();
  return { rows };
}

async function withCollection(fn) {
  const { MongoClient } = await import('mongodb');
  const client = await MongoClient.connect(options.uri);
  // The clients comparison names the collection and counts it afterwards (`keep`).
  const collection = client.db('anti_oom_bench').collection(options.collection ?? `run_${process.pid}_${Date.now()}`);
  try {
    return await fn(collection);
  } finally {
    if (!options.keep) await collection.drop().catch(() => {});
    await client.close();
  }
}

// The fast-engine variants run the same code with { engine: 'fast' } in their options.
variants['anti-oom-null-fast'] = variants['anti-oom-null'];
variants['anti-oom-db-fast'] = variants['anti-oom-db'];
variants['anti-oom-seekable-null-fast'] = variants['anti-oom-seekable-null'];
variants['anti-oom-resume-null-fast'] = variants['anti-oom-resume-null'];
const parse = parseVariants[variant];
const run = variants[variant];
if (!run && !parse) {
  console.error(`unknown variant ${variant}; one of ${[...Object.keys(parseVariants), ...Object.keys(variants)].join(', ')}`);
  process.exit(2);
}
let importSeconds;
let modules;
if (parse) {
  const loading = performance.now();
  modules = await parse.load();
  importSeconds = (performance.now() - loading) / 1000;
}
const started = performance.now();
const result = parse ? await parse.run(modules) : await run();
const seconds = (performance.now() - started) / 1000;
// maxRSS is the kernel's high-water mark for this process, in KiB: a true peak, not a sample.
console.log(JSON.stringify({ seconds, rows: result.rows, maxRssBytes: process.resourceUsage().maxRSS * 1024, ...(importSeconds === undefined ? {} : { importSeconds }), ...result.extra }));
