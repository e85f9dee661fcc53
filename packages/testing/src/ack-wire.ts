// The MongoDB wire protocol, only as far as an acknowledge-only server needs it: split the byte
// stream into messages, find a command's name and how many documents or statements it carries,
// and frame replies. Pure functions over Buffers, no sockets: ack-server.ts is the thin wrapper.
//
// Write commands are counted without deserializing their documents: a document is an int32
// length followed by its bytes, so counting a batch of 1000 is 1000 reads of an int32. That keeps
// the server's cost per row far below any client's, so the clients are what a benchmark measures.
import { serialize, type Document } from 'bson';

export const OP_REPLY = 1;
export const OP_QUERY = 2004;
export const OP_MSG = 2013;
const HEADER = 16;
const CHECKSUM_PRESENT = 1;
const MORE_TO_COME = 2;

/** A request split out of the stream: its header fields and the bytes after the header. */
export interface WireMessage {
  requestId: number;
  opCode: number;
  body: Buffer;
}

/**
 * Takes every complete message off the front of `buffer`; returns them and the bytes left over
 * (the start of a message still arriving).
 */
export function splitMessages(buffer: Buffer): { messages: WireMessage[]; rest: Buffer } {
  const messages: WireMessage[] = [];
  let at = 0;
  while (buffer.length - at >= HEADER) {
    const length = buffer.readInt32LE(at);
    if (length < HEADER) throw new Error(`bad message length ${length}`);
    if (buffer.length - at < length) break;
    messages.push({ requestId: buffer.readInt32LE(at + 4), opCode: buffer.readInt32LE(at + 12), body: buffer.subarray(at + HEADER, at + length) });
    at += length;
  }
  return { messages, rest: buffer.subarray(at) };
}

/** The length a message announces in its first four bytes, once they have arrived. */
export function announcedLength(buffer: Buffer): number | undefined {
  return buffer.length >= 4 ? buffer.readInt32LE(0) : undefined;
}

/** What a write or any other command carries, read without deserializing documents. */
export interface CommandSummary {
  /** The command's name: the first key of its body (`insert`, `hello`, ...). */
  name: string;
  /** The database it was sent to (`$db`, or the namespace of an OP_QUERY). */
  db: string | undefined;
  /** The collection, when the command's first value is a string (`insert: "items"`). */
  collection: string | undefined;
  /** insert: documents; update and delete: statements. */
  count: number;
  /** update: the index of every statement with `upsert: true`, in order. */
  upserts: number[];
  /** OP_MSG's moreToCome flag: the client wants no reply (w: 0). */
  noReply: boolean;
}

// Byte length of the value of a BSON element of `type` starting at `at`.
function valueLength(b: Buffer, type: number, at: number): number {
  switch (type) {
    case 0x01: // double
    case 0x09: // UTC datetime
    case 0x11: // timestamp
    case 0x12: // int64
      return 8;
    case 0x02: // string
    case 0x0d: // JavaScript code
    case 0x0e: // symbol
      return 4 + b.readInt32LE(at);
    case 0x03: // document
    case 0x04: // array
    case 0x0f: // code with scope
      return b.readInt32LE(at);
    case 0x05: // binary: length, subtype, bytes
      return 5 + b.readInt32LE(at);
    case 0x06: // undefined
    case 0x0a: // null
    case 0x7f: // max key
    case 0xff: // min key
      return 0;
    case 0x07: // ObjectId
      return 12;
    case 0x08: // boolean
      return 1;
    case 0x0b: {
      // regex: two C strings
      const end = b.indexOf(0, at);
      return b.indexOf(0, end + 1) + 1 - at;
    }
    case 0x0c: // DBPointer: string, ObjectId
      return 4 + b.readInt32LE(at) + 12;
    case 0x10: // int32
      return 4;
    case 0x13: // decimal128
      return 16;
    default:
      throw new Error(`unknown BSON type 0x${type.toString(16)}`);
  }
}

/** Calls `visit(type, name, valueAt)` for each top-level element of the document at `start`. */
function eachElement(b: Buffer, start: number, visit: (type: number, name: string, at: number) => boolean | void): void {
  const end = start + b.readInt32LE(start) - 1;
  let at = start + 4;
  while (at < end) {
    const type = b[at]!;
    const nameEnd = b.indexOf(0, at + 1);
    // Every name looked for is ASCII, so latin1 (the cheapest decoding) compares correctly.
    const name = b.toString('latin1', at + 1, nameEnd);
    const valueAt = nameEnd + 1;
    if (visit(type, name, valueAt) === false) return;
    at = valueAt + valueLength(b, type, valueAt);
  }
}

const readString = (b: Buffer, at: number): string => b.toString('utf8', at + 4, at + 4 + b.readInt32LE(at) - 1);

/** True when the update statement (a document at `at`) has `upsert: true`. */
function isUpsert(b: Buffer, at: number): boolean {
  let upsert = false;
  eachElement(b, at, (type, name, v) => {
    if (name !== 'upsert') return;
    upsert = type === 0x08 && b[v] === 1;
    return false;
  });
  return upsert;
}

// The field of each write command that holds its documents or statements.
const PAYLOAD: Record<string, string> = { insert: 'documents', update: 'updates', delete: 'deletes' };

/** Reads a command out of an OP_MSG or OP_QUERY body. */
export function summarize(message: WireMessage): CommandSummary {
  const b = message.body;
  const out: CommandSummary = { name: '', db: undefined, collection: undefined, count: 0, upserts: [], noReply: false };
  let command: number;
  // Each item of a payload: a document starting at the offset.
  const items: number[] = [];
  let payloadField: string | undefined;
  if (message.opCode === OP_MSG) {
    const flags = b.readUInt32LE(0);
    out.noReply = (flags & MORE_TO_COME) !== 0;
    const end = b.length - (flags & CHECKSUM_PRESENT ? 4 : 0);
    let at = 4;
    command = -1;
    const sequences: { id: string; start: number; end: number }[] = [];
    while (at < end) {
      const kind = b[at]!;
      if (kind === 0) {
        command = at + 1;
        at = command + b.readInt32LE(command);
      } else if (kind === 1) {
        const size = b.readInt32LE(at + 1);
        const idEnd = b.indexOf(0, at + 5);
        sequences.push({ id: b.toString('latin1', at + 5, idEnd), start: idEnd + 1, end: at + 1 + size });
        at += 1 + size;
      } else {
        throw new Error(`unknown OP_MSG section kind ${kind}`);
      }
    }
    if (command < 0) throw new Error('OP_MSG without a body');
    summarizeBody(b, command, out);
    payloadField = PAYLOAD[out.name];
    for (const s of sequences) {
      if (s.id !== payloadField) continue;
      for (let d = s.start; d < s.end; d += b.readInt32LE(d)) items.push(d);
    }
  } else if (message.opCode === OP_QUERY) {
    // flags, full collection name ("admin.$cmd"), skip, limit, query
    const nameEnd = b.indexOf(0, 4);
    const namespace = b.toString('latin1', 4, nameEnd);
    command = nameEnd + 1 + 8;
    eachElement(b, command, (_t, name, v) => {
      // A legacy command may be wrapped: { $query: { isMaster: 1 }, $readPreference: ... }
      if (name === '$query') command = v;
      return false;
    });
    summarizeBody(b, command, out);
    out.db ??= namespace.slice(0, namespace.indexOf('.'));
    payloadField = PAYLOAD[out.name];
  } else {
    throw new Error(`unsupported opCode ${message.opCode}`);
  }
  // A payload may also travel inside the body, as an array.
  if (payloadField) {
    eachElement(b, command, (type, name, v) => {
      if (name !== payloadField || type !== 0x04) return;
      eachElement(b, v, (_t, _n, item) => void items.push(item));
      return false;
    });
  }
  out.count = items.length;
  if (out.name === 'update') for (let i = 0; i < items.length; i++) if (isUpsert(b, items[i]!)) out.upserts.push(i);
  return out;
}

function summarizeBody(b: Buffer, at: number, out: CommandSummary): void {
  let first = true;
  eachElement(b, at, (type, name, v) => {
    if (first) {
      out.name = name;
      if (type === 0x02) out.collection = readString(b, v);
      first = false;
    } else if (name === '$db' && type === 0x02) {
      out.db = readString(b, v);
    }
  });
}

/** A reply to an OP_MSG request: flags 0, one body section. */
export function opMsgReply(responseTo: number, requestId: number, reply: Document): Buffer {
  const doc = serialize(reply);
  const head = Buffer.allocUnsafe(HEADER + 5);
  head.writeInt32LE(HEADER + 5 + doc.length, 0);
  head.writeInt32LE(requestId, 4);
  head.writeInt32LE(responseTo, 8);
  head.writeInt32LE(OP_MSG, 12);
  head.writeUInt32LE(0, 16);
  head[20] = 0;
  return Buffer.concat([head, doc]);
}

/** A reply to an OP_QUERY request (the legacy handshake): one document. */
export function opReply(responseTo: number, requestId: number, reply: Document): Buffer {
  const doc = serialize(reply);
  const head = Buffer.alloc(HEADER + 20);
  head.writeInt32LE(HEADER + 20 + doc.length, 0);
  head.writeInt32LE(requestId, 4);
  head.writeInt32LE(responseTo, 8);
  head.writeInt32LE(OP_REPLY, 12);
  // responseFlags 0, cursorID 0, startingFrom 0, then numberReturned
  head.writeInt32LE(1, HEADER + 16);
  return Buffer.concat([head, doc]);
}
