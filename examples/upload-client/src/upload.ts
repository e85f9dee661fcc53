// Usage: IMPORT_TOKEN=… pnpm --filter example-upload-client start <file.csv[.gz]> [http://localhost:3000/imports]
//
// IMPORT_TOKEN is the token the example server accepts (it prints one at start when none is set);
// the client sends it as `Authorization: Bearer …` on every request.
// Creates an import, follows its progress over SSE, and streams the file with fetch
// (`duplex: 'half'`): the file is never in memory, whatever its size.
import { createReadStream, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { createParser } from 'eventsource-parser';

const [name, base = 'http://localhost:3000/imports'] = process.argv.slice(2);
if (!name) {
  console.error('usage: upload <file.csv[.gz]> [imports URL]');
  process.exit(2);
}
/** Ends with a message a person can act on, not a stack trace. */
function fail(message: string): never {
  console.error(`upload: ${message}`);
  process.exit(2);
}
// `pnpm --filter … start` runs in this package's folder; a relative path means the folder the
// command was typed in, which pnpm passes as INIT_CWD.
const file = resolve(process.env.INIT_CWD ?? process.cwd(), name);
let size: number;
try {
  size = statSync(file).size;
} catch (err) {
  fail(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
}
const token = process.env.IMPORT_TOKEN;
if (!token) fail('set IMPORT_TOKEN to the token the server accepts (the example server prints it at start)');
const auth = { Authorization: `Bearer ${token}` };
const origin = new URL(base).origin;
const mb = (b: number) => `${(b / 1048576).toFixed(1)} MB`;

const created = await fetch(base, { method: 'POST', headers: auth }).catch((err: Error) =>
  fail(`cannot reach ${base} (${(err.cause as Error | undefined)?.message ?? err.message}); is the example server running?`),
);
if (!created.ok) fail(`creating the import failed: ${created.status} ${await created.text()}`);
const { id, links } = (await created.json()) as { id: string; links: { upload: string; events: string } };
console.log(`import ${id}`);

async function follow(): Promise<void> {
  const res = await fetch(origin + links.events, { headers: { ...auth, Accept: 'text/event-stream' } });
  const parser = createParser({
    onEvent(event) {
      const data = JSON.parse(event.data);
      if (event.event === 'progress' && data.rowsWritten !== undefined) {
        // The server's memory figures come only when it opts in (exposeMemory).
        const memory = data.heapUsedBytes === undefined ? '' : ` server heap=${mb(data.heapUsedBytes)} rss=${mb(data.rssBytes)}`;
        console.log(`  ${data.state} written=${data.rowsWritten} failed=${data.rowsFailed} ${data.rowsPerSecond} rows/s read=${mb(data.bytesRead)}${memory}`);
      } else if (event.event === 'rowFailure') {
        console.log(`  line ${data.line}: ${data.code} ${data.message}`);
      }
    },
  });
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
}
const following = follow();

let sent = 0;
const body = createReadStream(file, { highWaterMark: 256 * 1024 });
body.on('data', (chunk) => (sent += chunk.length));
const reporter = setInterval(() => console.log(`  uploaded ${mb(sent)} of ${mb(size)}, client heap ${mb(process.memoryUsage().heapUsed)}`), 2000);
const reply = await fetch(origin + links.upload, {
  method: 'PUT',
  headers: { ...auth, 'Content-Type': file.endsWith('.gz') ? 'application/gzip' : 'text/csv', 'Content-Length': String(size) },
  body: Readable.toWeb(body) as ReadableStream,
  duplex: 'half',
} as RequestInit);
clearInterval(reporter);
const report = await reply.json();
await following;
console.log(reply.ok ? 'done' : `ended with ${reply.status}`, JSON.stringify(report, null, 2));
process.exitCode = reply.ok ? 0 : 1;
