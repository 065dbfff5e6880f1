import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { authFilePaths, candidateKeys, credentialsIn, findCredentials } from '../../../../../../scripts/lib/image/registry/auth-file.ts';
import { parseReference } from '../../../../../../scripts/lib/image/registry/reference.ts';

const auth = (user: string, password: string) => ({ auth: Buffer.from(`${user}:${password}`).toString('base64') });

test("podman's order: $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers, ~/.config/containers, ~/.docker", () => {
  assert.deepEqual(authFilePaths({ REGISTRY_AUTH_FILE: '/a.json', XDG_RUNTIME_DIR: '/run/user/7' }, '/home/u'), [
    '/a.json',
    '/run/user/7/containers/auth.json',
    '/home/u/.config/containers/auth.json',
    '/home/u/.docker/config.json',
  ]);
  assert.deepEqual(authFilePaths({ HOME: '/h' }), ['/h/.config/containers/auth.json', '/h/.docker/config.json']);
});

test('the most specific key matching the image wins, in any of the spellings the tools write', () => {
  const reference = parseReference('quay.io/team/app/web:1');
  assert.deepEqual(candidateKeys(reference), ['quay.io/team/app/web', 'quay.io/team/app', 'quay.io/team', 'quay.io']);
  const file = { auths: { 'quay.io': auth('host', 'h'), 'quay.io/team': auth('team', 't'), 'quay.io/other': auth('other', 'o') } };
  assert.deepEqual(credentialsIn(file, reference, 'f.json'), { username: 'team', password: 't', file: 'f.json' });
  assert.deepEqual(credentialsIn(file, parseReference('quay.io/solo'), 'f.json'), { username: 'host', password: 'h', file: 'f.json' });
  assert.equal(credentialsIn(file, parseReference('ghcr.io/team/app'), 'f.json'), undefined);
  // docker login's legacy key for the Hub, and a password holding colons.
  const docker = { auths: { 'https://index.docker.io/v1/': auth('me', 'pa:ss:word') } };
  assert.deepEqual(credentialsIn(docker, parseReference('busybox'), 'config.json'), { username: 'me', password: 'pa:ss:word', file: 'config.json' });
  assert.deepEqual(credentialsIn({ auths: { 'http://127.0.0.1:5000': auth('l', 'p') } }, parseReference('127.0.0.1:5000/x'), 'f')?.username, 'l');
  // An entry without "auth" (a credential helper's) is no credentials; nor is a file without "auths".
  assert.equal(credentialsIn({ auths: { 'quay.io': {} } }, reference, 'f'), undefined);
  assert.equal(credentialsIn({ credsStore: 'desktop' }, reference, 'f'), undefined);
  assert.throws(() => credentialsIn({ auths: { 'quay.io': { auth: Buffer.from('nocolon').toString('base64') } } }, reference, 'f.json'), /^Error: f.json: auths\["quay.io"\]: "auth" is not base64 of USER:PASSWORD$/);
});

test('the first file with an entry for the registry wins; missing files are skipped, broken ones named', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'virtinitrd-auth-'));
  try {
    const [first, second, broken] = ['first.json', 'second.json', 'broken.json'].map((name) => join(directory, name)) as [string, string, string];
    await writeFile(first, JSON.stringify({ auths: { 'other.example': auth('a', 'b') } }));
    await writeFile(second, JSON.stringify({ auths: { 'reg.example': auth('found', 'it') } }));
    await writeFile(broken, '{');
    const reference = parseReference('reg.example/app');
    assert.deepEqual(await findCredentials(reference, [join(directory, 'missing.json'), first, second, broken]), { username: 'found', password: 'it', file: second });
    assert.equal(await findCredentials(reference, [first]), undefined);
    await assert.rejects(findCredentials(reference, [first, broken]), new RegExp(`^Error: the auth file ${broken} is not valid JSON: `));
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
});
