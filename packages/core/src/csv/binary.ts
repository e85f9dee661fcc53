/** File signatures people upload by mistake, and what to tell them. */
const SIGNATURES: { bytes: number[]; what: string }[] = [
  { bytes: [0x1f, 0x8b], what: 'gzip data; send it with Content-Encoding: gzip, or name it .gz' },
  { bytes: [0x50, 0x4b, 0x03, 0x04], what: 'a ZIP archive (an Excel .xlsx workbook is one); export the sheet as CSV' },
  { bytes: [0xd0, 0xcf, 0x11, 0xe0], what: 'an old Excel .xls workbook; export the sheet as CSV' },
  { bytes: [0x89, 0x50, 0x4e, 0x47], what: 'a PNG image' },
  { bytes: [0xff, 0xd8, 0xff], what: 'a JPEG image' },
  { bytes: [0x25, 0x50, 0x44, 0x46, 0x2d], what: 'a PDF document' },
  { bytes: [0x47, 0x49, 0x46, 0x38], what: 'a GIF image' },
];

/** How many leading bytes {@link detectBinary} looks at. */
export const SIGNATURE_BYTES = 8;

/**
 * What the input is when its first bytes are a known binary signature, so a wrong upload gets a
 * clear error instead of a header of garbage. `undefined` for anything else.
 * @internal
 */
export function detectBinary(head: Uint8Array): string | undefined {
  for (const { bytes, what } of SIGNATURES) {
    if (bytes.every((b, i) => head[i] === b)) return what;
  }
  return undefined;
}
