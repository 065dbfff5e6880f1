import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWwwAuthenticate, type Challenge } from '../../../../../../scripts/lib/image/registry/www-authenticate.ts';

test('challenges: schemes lowercase, parameters unquoted and unescaped', () => {
  const cases: [string, Challenge[]][] = [
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
      [{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } }],
    ],
    ['Basic realm="Registry Realm"', [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]],
    ['Basic', [{ scheme: 'basic', params: {} }]],
    ['BEARER Realm=http://127.0.0.1:9/t , Service = reg', [{ scheme: 'bearer', params: { realm: 'http://127.0.0.1:9/t', service: 'reg' } }]],
    ['Bearer realm="a \\"quoted\\" \\\\ value, with a comma"', [{ scheme: 'bearer', params: { realm: 'a "quoted" \\ value, with a comma' } }]],
    [
      'Basic realm="r", Bearer realm="https://t/x",scope="repository:a:pull,push"',
      [{ scheme: 'basic', params: { realm: 'r' } }, { scheme: 'bearer', params: { realm: 'https://t/x', scope: 'repository:a:pull,push' } }],
    ],
    ['', []],
  ];
  for (const [header, challenges] of cases) assert.deepEqual(parseWwwAuthenticate(header), challenges, header);
});

test('a header that does not parse says where', () => {
  assert.throws(() => parseWwwAuthenticate('Bearer realm="open'), /WWW-Authenticate "Bearer realm="open": a quoted string does not end at character 18/);
  assert.throws(() => parseWwwAuthenticate('Bearer ;x'), /expected an auth scheme at character 7/);
});
