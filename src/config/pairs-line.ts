// One line of the pairs file taken apart in a single pass: the source, the
// destination, and the options field, which is one comma-separated list of
// key=value. Blanks (spaces, tabs) separate the three fields, and inside the
// options field they may stand only around a comma; a value holding blanks,
// commas or a '#' after a blank is written in double quotes. A '#' at the
// start of the line or after a blank, outside quotes, starts a comment.
// Anything else is a problem naming its column (counted in characters from
// 1), never a silent join.
import { KNOWN_KEYS } from './keys.js';

export interface OptionElement {
  key: string;
  /** as written, or what lies between its double quotes */
  value: string;
  /** the column where key=value starts */
  column: number;
}

export interface LineProblem {
  column: number;
  message: string;
}

export interface ScannedLine {
  source: string;
  /** missing when the line holds only one field */
  destination?: string;
  options: OptionElement[];
  problems: LineProblem[];
  /**
   * the options field starts with another dataset name: the line's layout
   * is wrong (a blank inside a name), so problems of its names would mislead
   */
  misplaced: boolean;
}

const isBlank = (c: string | undefined): boolean => c === ' ' || c === '\t';

function skipBlanks(line: string, i: number): number {
  while (isBlank(line[i])) i++;
  return i;
}

/** the end of the run of characters starting at i that are neither blank nor in `stops` */
function runEnd(line: string, i: number, stops = ''): number {
  while (i < line.length && !isBlank(line[i]) && !stops.includes(line[i]!)) i++;
  return i;
}

/** true when the text from i on is nothing or a comment (i just past a blank, or at the line's start) */
function endsHere(line: string, i: number): boolean {
  return i >= line.length || (line[i] === '#' && (i === 0 || isBlank(line[i - 1])));
}

/** null for a blank or comment line */
export function scanPairLine(line: string): ScannedLine | null {
  let i = skipBlanks(line, 0);
  if (endsHere(line, i)) return null;
  const fields: string[] = [];
  for (let n = 0; n < 2; n++) {
    const end = runEnd(line, i);
    fields.push(line.slice(i, end));
    i = skipBlanks(line, end);
    if (endsHere(line, i)) break;
  }
  const out: ScannedLine = { source: fields[0]!, options: [], problems: [], misplaced: false };
  if (fields.length === 2) out.destination = fields[1]!;
  if (fields.length === 2 && !endsHere(line, i)) scanOptions(line, i, out);
  return out;
}

/** `key=` hidden at the end of text before an '=' of a value: a comma is probably missing before it */
function swallowedKey(text: string): string | undefined {
  return KNOWN_KEYS.filter((k) => text.endsWith(k) && text.length > k.length).sort((a, b) => b.length - a.length)[0];
}

function scanOptions(line: string, start: number, out: ScannedLine): void {
  const fail = (index: number, message: string): void => void out.problems.push({ column: index + 1, message });
  let i = start;
  for (;;) {
    // i is at the first character of an element
    if (line[i] === ',') return fail(i, 'an empty option (two commas, or a comma at the start of the options); remove the extra comma');
    const elementStart = i;
    const keyEnd = runEnd(line, i, '=,"');
    const key = line.slice(i, keyEnd);
    if (line[keyEnd] !== '=') {
      const after = skipBlanks(line, keyEnd);
      if (after > keyEnd && line[after] === '=') return fail(keyEnd, `a blank before '=' in the options ('${key} =...'); write ${key}=<value> without blanks`);
      const word = line.slice(i, runEnd(line, i, ','));
      // right after the destination, a word without '=' is most likely the rest of a name
      if (i !== start) return fail(i, `'${word}' is not key=value`);
      if (!/[/:]/.test(word)) return fail(i, `'${word}' is not key=value (dataset names cannot contain a blank: is it part of the destination?)`);
      out.misplaced = true;
      return fail(i, `'${word}' looks like a third dataset name, but a line is source, destination and options: a dataset name cannot contain a blank`);
    }
    i = keyEnd + 1;
    let value: string;
    if (line[i] === '"') {
      // taken literally: no check for a missing comma inside
      const close = line.indexOf('"', i + 1);
      if (close < 0) return fail(i, `the quote after '${key}=' has no closing '"'`);
      value = line.slice(i + 1, close);
      i = close + 1;
      if (i < line.length && line[i] !== ',' && !isBlank(line[i])) return fail(i, `'${line.slice(i, runEnd(line, i, ','))}' follows the closing quote of ${key}=; put a comma between options`);
    } else {
      const valueEnd = runEnd(line, i, ',');
      value = line.slice(i, valueEnd);
      const quote = value.indexOf('"');
      if (quote >= 0) return fail(i + quote, `a '"' inside the value of ${key}; quote the whole value (${key}="...")`);
      if (value === '' && isBlank(line[valueEnd]) && !endsHere(line, skipBlanks(line, valueEnd)) && line[skipBlanks(line, valueEnd)] !== ',') {
        return fail(valueEnd, `a blank after '${key}='; write ${key}=<value> without blanks`);
      }
      const eq = value.indexOf('=');
      const hidden = eq > 0 ? swallowedKey(value.slice(0, eq)) : undefined;
      if (hidden) {
        const before = value.slice(0, eq - hidden.length);
        return fail(i + eq - hidden.length, `a comma is probably missing before '${hidden}=' in '${key}=${value}' (write ${key}=${before},${value.slice(eq - hidden.length)})`);
      }
      i = valueEnd;
    }
    out.options.push({ key, value, column: elementStart + 1 });
    // after an element: the end, a comment, a comma, or a blank where none may be
    const next = skipBlanks(line, i);
    if (endsHere(line, next)) return;
    if (line[next] === ',') {
      i = skipBlanks(line, next + 1);
      if (endsHere(line, i)) return fail(next, 'a comma at the end of the options; remove it, or add an option after it');
      continue;
    }
    const word = line.slice(next, runEnd(line, next, ','));
    const written = line.slice(elementStart, i);
    if (word.includes('=')) return fail(i, `a comma is probably missing between '${written}' and '${word}' (options are one comma-separated list: ${written},${word})`);
    return fail(i, `a blank inside the options, in '${written} ${word}'; options are one comma-separated list, and a value with blanks goes in double quotes (${key}="...")`);
  }
}
