// ld.so.conf: the directories ldconfig puts into ld.so.cache, which the dynamic loader searches
// before its built-in defaults. On Debian the multiarch directories come from here.
import { readFile, readdir } from 'node:fs/promises';
import { posix } from 'node:path';

// Only a missing file or directory means "nothing here"; anything else (EACCES, EIO) is a real error.
function absent(error: NodeJS.ErrnoException): undefined {
  if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
  throw error;
}

export type LdConfLine = { kind: 'dir'; path: string } | { kind: 'include'; pattern: string };

/** The directory and include lines of one ld.so.conf file, in order; comments and `hwcap` lines dropped. */
export function parseLdSoConf(text: string): LdConfLine[] {
  const lines: LdConfLine[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '' || /^hwcap\s/.test(line)) continue;
    const include = /^include\s+(.+)$/.exec(line);
    if (include) lines.push({ kind: 'include', pattern: include[1]!.trim() });
    else lines.push({ kind: 'dir', path: line });
  }
  return lines;
}

// ldconfig expands include patterns with glob(3); Debian only ever uses a wildcard in the last component.
function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${escaped}$`);
}

async function expandInclude(root: string, pattern: string): Promise<string[]> {
  const dir = posix.dirname(pattern);
  const match = globToRegExp(posix.basename(pattern));
  const names = (await readdir(posix.join(root, dir)).catch(absent)) ?? [];
  return names.filter((n) => match.test(n)).sort().map((n) => posix.join(dir, n));
}

/**
 * The directories listed by `file` (normally /etc/ld.so.conf) and everything it includes, read under
 * `root`; a missing file contributes nothing, like ldconfig.
 */
export async function ldSoConfDirs(root: string, file = '/etc/ld.so.conf', seen = new Set<string>()): Promise<string[]> {
  if (seen.has(file)) return [];
  seen.add(file);
  const text = await readFile(posix.join(root, file), 'utf8').catch(absent);
  if (text === undefined) return [];
  const dirs: string[] = [];
  for (const line of parseLdSoConf(text)) {
    if (line.kind === 'dir') {
      dirs.push(line.path);
      continue;
    }
    const pattern = posix.isAbsolute(line.pattern) ? line.pattern : posix.join(posix.dirname(file), line.pattern);
    for (const included of await expandInclude(root, pattern)) dirs.push(...(await ldSoConfDirs(root, included, seen)));
  }
  return dirs;
}
