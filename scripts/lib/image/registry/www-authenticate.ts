/**
 * The `WWW-Authenticate` header of a 401 (RFC 9110 §11.6.1): one or more challenges, each a scheme
 * and `name=value` parameters whose values may be quoted strings with backslash escapes. A
 * registry's is `Bearer realm="https://auth…/token",service="…",scope="repository:NAME:pull"`
 * or `Basic realm="…"`.
 */
export interface Challenge {
  /** Lowercase: `bearer`, `basic`. */
  scheme: string;
  /** Parameter names lowercase, values unquoted. */
  params: Record<string, string>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

export function parseWwwAuthenticate(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let at = 0;
  const skip = (pattern: RegExp) => {
    const match = pattern.exec(header.slice(at));
    if (match) at += match[0].length;
    return match?.[0];
  };
  const fail = (why: string): never => {
    throw new Error(`WWW-Authenticate "${header}": ${why} at character ${at}`);
  };
  while (at < header.length) {
    skip(/^[\s,]+/);
    if (at >= header.length) break;
    const scheme = skip(TOKEN) ?? fail('expected an auth scheme');
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    skip(/^\s+/);
    // Parameters until the next challenge's scheme (a token not followed by `=`) or the end.
    while (at < header.length) {
      const before = at;
      skip(/^[\s,]*/);
      const name = skip(TOKEN);
      if (name === undefined) break;
      skip(/^\s*/);
      if (header[at] !== '=') {
        // The next challenge's scheme.
        at = before;
        break;
      }
      at += 1;
      skip(/^\s*/);
      let value: string;
      if (header[at] === '"') {
        at += 1;
        value = '';
        while (header[at] !== '"') {
          if (at >= header.length) fail('a quoted string does not end');
          if (header[at] === '\\') at += 1;
          value += header[at];
          at += 1;
        }
        at += 1;
      } else {
        value = skip(/^[^\s,]*/) ?? '';
      }
      challenge.params[name.toLowerCase()] = value;
    }
  }
  return challenges;
}
