// The workers bench's sink, loaded in each worker thread: acknowledges every batch at once, so
// what is measured is the client's own work (read, cut, parse, type, batch), not a database.
export default function setup() {
  return {
    sink: {
      async write(batch) {
        const n = batch.items.length;
        return { written: n, inserted: n, upserted: 0, matched: 0, modified: 0, failures: [] };
      },
    },
  };
}
