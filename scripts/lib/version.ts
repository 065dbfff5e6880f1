// Version-aware string ordering, the one `sort -V` applies to version strings
// (gnulib's verrevcmp): digit runs compare as numbers, so 6.10 > 6.9 and
// 6.1.0-27-amd64 > 6.1.0-9-amd64; in the text between them `~` sorts before
// everything (even the end of the string, so 1.0~rc1 < 1.0), then the end,
// then letters, then other characters.

const isDigit = (c: string): boolean => c >= '0' && c <= '9';
const isLetter = (c: string): boolean => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');

// Rank of one character of a non-digit run; '' stands for the end of the run.
function rank(c: string): number {
  if (c === '' || isDigit(c)) return 0;
  if (c === '~') return -1;
  if (isLetter(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

function compareText(a: string, b: string): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = rank(a[i] ?? '') - rank(b[i] ?? '');
    if (d !== 0) return d;
  }
  return 0;
}

// Digit runs may exceed Number's exact range (dates, build stamps): compare
// them as text, the longer one (leading zeros dropped) being the larger.
function compareDigits(a: string, b: string): number {
  const x = a.replace(/^0+/, '');
  const y = b.replace(/^0+/, '');
  if (x.length !== y.length) return x.length - y.length;
  return x < y ? -1 : x > y ? 1 : 0;
}

// "6.1.0-27-amd64" -> ["", "6"], [".", "1"], [".", "0"], ["-", "27"], ["-amd", "64"]
function runs(s: string): Array<[string, string]> {
  return [...s.matchAll(/(\D*)(\d*)/g)].filter((m) => m[0] !== '').map((m) => [m[1], m[2]]);
}

/** Negative, zero or positive as `a` sorts before, with or after `b` under `sort -V`. */
export function compareVersions(a: string, b: string): number {
  const ra = runs(a);
  const rb = runs(b);
  for (let i = 0; i < Math.max(ra.length, rb.length); i++) {
    const [ta, da] = ra[i] ?? ['', ''];
    const [tb, db] = rb[i] ?? ['', ''];
    const d = compareText(ta, tb) || compareDigits(da, db);
    if (d !== 0) return Math.sign(d);
  }
  // Equal as versions (1.01 and 1.1): fall back to plain order, as sort does,
  // so that sorting stays deterministic.
  return a < b ? -1 : a > b ? 1 : 0;
}
