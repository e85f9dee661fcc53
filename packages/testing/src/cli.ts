// `corepack pnpm db` (start) and `corepack pnpm --filter @anti-oom/testing build-server` (build).
import { ferretdbBinary } from './ferretdb.js';
import { gofakes3Binary } from './s3.js';
import { startMongo } from './index.js';

const command = process.argv[2];
if (command === 'build') {
  console.log(ferretdbBinary((m) => console.log(m)));
  console.log(gofakes3Binary((m) => console.log(m)));
} else if (command === 'start') {
  const server = await startMongo({ log: (m) => console.log(m) });
  // The URI alone on its own line, then how to use it: scripts can take the line, people the hint.
  console.log(`${server.description ?? server.kind} listening; its data goes when it stops (Ctrl-C).`);
  console.log(`export MONGODB_URI='${server.uri}'`);
  console.log(`(in another shell: run the line above, then the guide's import.js or anti-oom import …; both read MONGODB_URI)`);
  let stopping = false;
  const stop = (): void => {
    if (stopping) process.exit(130);
    stopping = true;
    void server.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
} else {
  console.error('usage: tsx src/cli.ts build|start');
  process.exit(2);
}
