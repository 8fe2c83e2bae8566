// Text from the input (a pairs or settings file, a DEST argument) is quoted
// into messages; printed raw, its control characters would drive the
// terminal (ESC sequences, a carriage return that hides what came before,
// bidirectional overrides that reorder a line). They are shown escaped.

const UNPRINTABLE = /[\0-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** `text` with control characters written as \x1b or \u202e; tab and newline are kept */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
