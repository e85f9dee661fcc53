/**
 * `anti-oom import`: the command line over `@anti-oom/core`. The executable is `anti-oom`; this
 * entry point runs the same command from code (and from tests).
 *
 * @packageDocumentation
 */
export { runCli, ExitCode } from './cli.js';
export type { CliIo } from './cli.js';
export { parseCommand, parseTypes, UsageError, HELP } from './args.js';
export type { Command, ImportCommand } from './args.js';
export { formatPreview, runPreview } from './preview.js';
export type { PreviewCommand } from './preview.js';
