/** What ends `anti-oom` early: Ctrl-C, and what `timeout`, Docker and Kubernetes send. */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * The executable's stop handling: the first SIGINT or SIGTERM aborts the import (which then
 * settles what is in flight, bounded by --stop-timeout, and prints the report, exit 2); a second
 * one quits at once, with the shell's exit code for that signal.
 */
export function abortOnStopSignals(target: Pick<NodeJS.Process, 'on' | 'exit'> = process): AbortSignal {
  const controller = new AbortController();
  for (const name of STOP_SIGNALS) {
    target.on(name, () => {
      if (controller.signal.aborted) target.exit(name === 'SIGINT' ? 130 : 143);
      controller.abort(new Error(name === 'SIGINT' ? 'interrupted (SIGINT, Ctrl-C)' : 'stopped by SIGTERM'));
    });
  }
  return controller.signal;
}
