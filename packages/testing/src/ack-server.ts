import { createServer, type Socket } from 'node:net';
import { ObjectId, type Document } from 'bson';
import { announcedLength, OP_QUERY, opMsgReply, opReply, splitMessages, summarize, type CommandSummary, type WireMessage } from './ack-wire.js';

/**
 * What an {@link AckServer} has received since it started or was last reset. Nothing is stored:
 * these counts are all that is left of the writes.
 */
export interface AckCounters {
  /** Documents of `insert` commands. */
  inserted: number;
  /** Statements of `update` commands (each a document a client meant to write). */
  updated: number;
  /** Of those, the ones with `upsert: true` (acknowledged as upserted: nothing matches in an empty store). */
  upserted: number;
  /** Statements of `delete` commands. */
  deleted: number;
  /** Write commands acknowledged (a client's batches). */
  writeCommands: number;
  /** Every command received, by name. */
  commands: Record<string, number>;
  /** Commands answered with CommandNotFound, by name: what a client needed that this server lacks. */
  unknown: Record<string, number>;
  /** Bytes of requests received. */
  bytesIn: number;
  /** Connections accepted. */
  connections: number;
  /**
   * CPU time (user + system, µs) of the process the server runs in, since it started or was last
   * reset: the server's own cost when it has a process to itself (`tsx src/cli.ts ack`).
   */
  cpuMicros: number;
}

/** An acknowledge-only MongoDB-wire server, running in this process. */
export interface AckServer {
  /** `mongodb://127.0.0.1:<port>/?directConnection=true` */
  uri: string;
  port: number;
  /** A copy of the counters. */
  counters(): AckCounters;
  /** Zeroes the counters (between benchmark runs). */
  reset(): void;
  /** Closes the listener and every open connection. */
  stop(): Promise<void>;
}

export interface AckServerOptions {
  /** Default 0: any free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Called with each command this server does not know (it answers CommandNotFound). */
  onUnknown?: (summary: CommandSummary) => void;
  /** Limits announced in `hello` instead of MongoDB's, to play a server that accepts less. */
  limits?: Partial<typeof LIMITS>;
}

const emptyCounters = (): AckCounters => ({ inserted: 0, updated: 0, upserted: 0, deleted: 0, writeCommands: 0, commands: {}, unknown: {}, bytesIn: 0, connections: 0, cpuMicros: 0 });

// What a standalone MongoDB 7.0 says about itself, as far as drivers look: wire version 21 keeps
// the Node driver 7.x off the client-level bulkWrite command (wire version 25) and the handshake
// on hello; no topologyVersion, so monitors poll instead of holding an awaitable hello open; no
// compression offered, so requests arrive as plain OP_MSG.
const LIMITS = { maxBsonObjectSize: 16 * 1024 * 1024, maxMessageSizeBytes: 48_000_000, maxWriteBatchSize: 100_000 };
const VERSION = { version: '7.0.0', versionArray: [7, 0, 0, 0] };

/**
 * Starts a server that speaks enough of the MongoDB wire protocol for the official Node driver
 * (7.x) and mongoimport to connect and import: it answers the handshake and the commands they send
 * around an import, acknowledges every insert, update and delete as a real server would on an empty
 * collection, counts what it received, and stores nothing. Benchmarks use it to measure what a
 * client costs on its own, with no database in the way; `{ ackStats: 1 }` returns the counters over
 * the wire and `{ ackReset: 1 }` zeroes them, so a server in another process can be read too.
 */
export async function startAckServer(options: AckServerOptions = {}): Promise<AckServer> {
  const limits = { ...LIMITS, ...options.limits };
  let counters = emptyCounters();
  let cpuAtReset = process.cpuUsage();
  const snapshot = (): AckCounters => {
    const cpu = process.cpuUsage(cpuAtReset);
    return { ...structuredClone(counters), cpuMicros: cpu.user + cpu.system };
  };
  const reset = (): void => {
    counters = emptyCounters();
    cpuAtReset = process.cpuUsage();
  };
  let connectionId = 0;
  let replyId = 0;
  const sockets = new Set<Socket>();

  function answer(s: CommandSummary): Document {
    counters.commands[s.name] = (counters.commands[s.name] ?? 0) + 1;
    switch (s.name) {
      case 'insert':
        counters.writeCommands++;
        counters.inserted += s.count;
        return { n: s.count, ok: 1 };
      case 'update': {
        counters.writeCommands++;
        counters.updated += s.count;
        counters.upserted += s.upserts.length;
        const reply: Document = { n: s.upserts.length, nModified: 0, ok: 1 };
        if (s.upserts.length) reply.upserted = s.upserts.map((index) => ({ index, _id: new ObjectId() }));
        return reply;
      }
      case 'delete':
        counters.writeCommands++;
        counters.deleted += s.count;
        return { n: 0, ok: 1 };
      case 'hello':
      case 'isMaster':
      case 'ismaster':
        return { helloOk: true, ismaster: true, isWritablePrimary: true, ...limits, localTime: new Date(), logicalSessionTimeoutMinutes: 30, connectionId, minWireVersion: 0, maxWireVersion: 21, readOnly: false, ok: 1 };
      case 'buildInfo':
      case 'buildinfo':
        return { ...VERSION, gitVersion: 'ack-only', bits: 64, ...limits, ok: 1 };
      case 'getParameter':
        return { featureCompatibilityVersion: { version: '7.0' }, ok: 1 };
      case 'ping':
      case 'endSessions':
      case 'killCursors':
      case 'drop':
      case 'create':
      case 'createIndexes':
      case 'dropIndexes':
        return { ok: 1 };
      case 'find':
      case 'aggregate':
      case 'listIndexes':
      case 'listCollections':
        return { cursor: { id: 0n, ns: `${s.db}.${s.collection ?? '$cmd'}`, firstBatch: [] }, ok: 1 };
      case 'count':
        return { n: 0, ok: 1 };
      case 'ackStats':
        return { ...snapshot(), ok: 1 };
      case 'ackReset':
        reset();
        return { ok: 1 };
      default:
        counters.unknown[s.name] = (counters.unknown[s.name] ?? 0) + 1;
        options.onUnknown?.(s);
        return { ok: 0, errmsg: `no such command: '${s.name}' (acknowledge-only test server)`, code: 59, codeName: 'CommandNotFound' };
    }
  }

  function respond(socket: Socket, message: WireMessage): void {
    const s = summarize(message);
    const reply = answer(s);
    if (s.noReply) return;
    replyId = (replyId + 1) | 0;
    socket.write(message.opCode === OP_QUERY ? opReply(message.requestId, replyId, reply) : opMsgReply(message.requestId, replyId, reply));
  }

  const server = createServer((socket) => {
    counters.connections++;
    connectionId++;
    sockets.add(socket);
    socket.setNoDelay(true);
    // Chunks of a message still arriving: joined once, when the whole message is here.
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    socket.on('data', (chunk: Buffer) => {
      counters.bytesIn += chunk.length;
      pending.push(chunk);
      pendingBytes += chunk.length;
      // The length prefix itself may arrive split.
      if (pending.length > 1 && pending[0]!.length < 4) pending = [Buffer.concat(pending, pendingBytes)];
      const wanted = announcedLength(pending[0]!);
      if (wanted === undefined || pendingBytes < wanted) return;
      const joined = pending.length === 1 ? chunk : Buffer.concat(pending, pendingBytes);
      try {
        const { messages, rest } = splitMessages(joined);
        for (const m of messages) respond(socket, m);
        pending = rest.length ? [rest] : [];
        pendingBytes = rest.length;
      } catch (err) {
        // A client this server cannot read gets its connection closed, and the reason goes to stderr.
        process.stderr.write(`[ack-server] closing a connection: ${err instanceof Error ? err.message : String(err)}\n`);
        socket.destroy();
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('ack server: no TCP address');
  const port = address.port;
  return {
    uri: `mongodb://${options.host ?? '127.0.0.1'}:${port}/?directConnection=true`,
    port,
    counters: snapshot,
    reset,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
