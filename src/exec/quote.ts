// The one place that turns an argv into a string for a remote shell (ssh runs
// its command through the remote user's shell). Every word is quoted unless it
// consists only of characters no POSIX shell treats specially.

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

export function quoteWord(word: string): string {
  if (word !== '' && SAFE_WORD.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export function quoteArgv(argv: readonly string[]): string {
  if (argv.length === 0) throw new Error('quoteArgv: empty command');
  return argv.map(quoteWord).join(' ');
}
