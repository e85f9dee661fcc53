/**
 * A CSV tokenizer behind {@link CsvReader}: UTF-8 bytes in, in order, records out to a
 * `RecordHandler` with the physical line each starts on and the stream offset past its end.
 * Both engines must give the same records, failures and lines for the same input.
 * @internal
 */
export interface CsvEngine {
  /** Parses the next bytes; `end` is true on the last call, with whatever bytes remain. */
  parse(bytes: Buffer, end: boolean): void;
}
