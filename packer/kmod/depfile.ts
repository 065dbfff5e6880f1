// The text and binary formats that describe module dependencies; pure parsers, no file access.
import { canonical } from './names.ts';

export type DepEntry = { path: string; deps: string[] };

/** `modules.dep`: one `path: dep-path dep-path ...` line per module, paths relative to the module directory. */
export function parseModulesDep(text: string): DepEntry[] {
  const entries: DepEntry[] = [];
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`modules.dep line ${index + 1} has no "path:" prefix: ${JSON.stringify(line)}`);
    const deps = line.slice(colon + 1).split(/\s+/).filter((d) => d !== '');
    entries.push({ path: line.slice(0, colon).trim(), deps });
  });
  return entries;
}

/** `modules.builtin` (the paths the built-in modules would have had) and `modules.order` (the modules the kernel build made): one path per line. */
export function parseModulePaths(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
}

/** A `.modinfo` section: NUL-separated `key=value` strings, with NUL padding between some of them. */
export function parseModinfo(bytes: Buffer): Array<[key: string, value: string]> {
  return bytes
    .toString('utf8')
    .split('\0')
    .filter((s) => s !== '')
    .map((s) => {
      const eq = s.indexOf('=');
      return eq < 0 ? [s, ''] : [s.slice(0, eq), s.slice(eq + 1)];
    });
}

/** The canonical names listed by `depends=` (empty for a module that needs nothing). */
export function modinfoDepends(modinfo: Array<[string, string]>): string[] {
  return modinfo
    .filter(([key]) => key === 'depends')
    .flatMap(([, value]) => value.split(','))
    .filter((d) => d !== '')
    .map(canonical);
}
