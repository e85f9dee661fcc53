// The core's messages name library options (csv.columns); on the command line the same knob is a flag.
const FLAGS: [RegExp, string][] = [
  [/pass csv\.columns with safe names/g, 'pass --fields with safe names (and the header row is then read as data: remove it first)'],
  [/csv\.columns/g, '--fields'],
  [/Pass csv\.encoding: 'auto'/g, 'Pass --encoding auto'],
  [/csv\.encoding: '([^']+)'/g, '--encoding $1'],
  [/csv\.encoding/g, '--encoding'],
  [/csv\.delimiter/g, '--delimiter'],
  [/csv\.engine/g, '--engine'],
  [/such as 'windows-1252'/g, 'such as windows-1252'],
  [/\(try 'auto'\)/g, '(try --encoding auto)'],
  [/\bmaxFailures\b/g, '--max-failures'],
  [/\bbatch\.size\b/g, '--batch-size'],
  [/\bconcurrency\b(?= option)/g, '--concurrency'],
  [/Option "(?:workers|workers\.count)"/g, '--workers'],
  [/ with "workers"/g, ' with --workers'],
  [/workers: \{ count: 1 \}/g, '--workers 1'],
  [/Option "types" cannot/g, '--types infer cannot'],
];

/**
 * Rewrites a message of the library for the command line: option names become the flags that set
 * them. Options without a flag (csv.maxColumns, csv.quote) keep their library names.
 */
export function inCliTerms(message: string): string {
  let out = message;
  for (const [from, to] of FLAGS) out = out.replace(from, to);
  return out;
}
