import { ferretdbBinary } from './ferretdb.js';
import { startMongo } from './index.js';

const command = process.argv[2];
if (command === 'build') {
  console.log(ferretdbBinary((m) => console.log(m)));
} else if (command === 'start') {
  const server = await startMongo();
  console.log(`${server.kind} listening: ${server.uri}`);
  const stop = (): void => void server.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} else {
  console.error('usage: tsx src/cli.ts build|start');
  process.exit(2);
}
