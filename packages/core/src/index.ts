/**
 * Anti-OOM core: stream huge CSV files into MongoDB with constant memory, exact row accounting
 * and live progress.
 *
 * @packageDocumentation
 */
export { createIngestPipeline, IngestPipeline } from './pipeline/ingest-pipeline.js';
export type { IngestPipelineEvents, IngestSource } from './pipeline/ingest-pipeline.js';
export type { IngestPipelineOptions } from './pipeline/options.js';
export type { WorkerContext, WorkerSetup, WorkersMongoOptions, WorkersOptions } from './workers/options.js';
export { endedReport } from './pipeline/ended-report.js';

export { createCsvParser } from './csv/parser-stream.js';
export type { CsvParserOptions } from './csv/parser-stream.js';
export type { CsvOptions } from './csv/options.js';
export { sniffDelimiter } from './csv/sniff.js';
export { validateHeader } from './csv/header.js';

export { createBatcher } from './batch/batcher-stream.js';
export type { BatchOptions } from './batch/accumulator.js';

export { createBulkSink } from './sink/bulk-sink.js';
export type { BulkSink, BulkSinkOptions } from './sink/bulk-sink.js';
export type { RetryOptions } from './sink/retry.js';
export { isTransientError } from './sink/transient.js';

export { mongoSink } from './mongo/mongo-sink.js';
export type { MongoSinkMode, MongoSinkOptions } from './mongo/mongo-sink.js';

export { mongoCheckpoints } from './resume/mongo-checkpoints.js';
export type { MongoCheckpointsOptions } from './resume/mongo-checkpoints.js';
export { FILE_READ_BYTES, fileSource } from './resume/source.js';
export type { SeekableSource } from './resume/source.js';
export type { ResumeOptions } from './resume/session.js';
export type { Checkpoint, CheckpointStore, SourceFingerprint } from './resume/store.js';
export type { CheckpointCounters } from './resume/ledger.js';

export { createMemoryMonitor } from './memory/memory-monitor.js';
export type { MemoryMonitor, MemoryMonitorOptions, MemorySample } from './memory/memory-monitor.js';

export type { ColumnType, ColumnTypes } from './rows/convert.js';
export type { RowContext, RowMapper } from './rows/row-processor.js';

export { IngestError, IngestErrorCode, invalidOption, isIngestError } from './errors.js';
export type { IngestErrorContext } from './errors.js';
export { numberOption } from './options/number-option.js';
export type { NumberRule } from './options/number-option.js';
export { RowFailureCode } from './types.js';
export type {
  Batch,
  BatchWriter,
  CsvRecord,
  IngestLogger,
  IngestReport,
  IngestSnapshot,
  IngestState,
  LinedDocument,
  RowFailure,
  RowFailureValues,
  WriteAttempt,
  WriteResult,
} from './types.js';

export { previewCsv } from './preview/preview.js';
export type { CsvPreview, EncodingSource, PreviewOptions } from './preview/preview.js';
export { INFERRED_TYPES, MAX_MISFITS } from './preview/infer.js';
export type { InferableType, InferredColumn, TypeFit } from './preview/infer.js';

export { IngestChannel } from './observability/channels.js';
export type {
  BatchRetryMessage,
  BatchWrittenMessage,
  ImportEndMessage,
  ImportStartMessage,
  MemoryMessage,
  ProgressMessage,
  RowsFailedMessage,
} from './observability/channels.js';
