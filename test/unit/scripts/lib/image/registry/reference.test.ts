import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatReference, isLocalImage, isLoopback, parseReference, type ImageReference } from '../../../../../../scripts/lib/image/registry/reference.ts';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const hub = (repository: string, rest: Partial<ImageReference> = { tag: 'latest' }): ImageReference => ({ registry: 'docker.io', apiHost: 'registry-1.docker.io', repository, ...rest });

test('references are normalized as docker and podman do', () => {
  const cases: [string, ImageReference, string][] = [
    ['busybox', hub('library/busybox'), 'docker.io/library/busybox:latest'],
    ['busybox:1.36', hub('library/busybox', { tag: '1.36' }), 'docker.io/library/busybox:1.36'],
    ['docker://busybox', hub('library/busybox'), 'docker.io/library/busybox:latest'],
    ['bitnami/redis:7', hub('bitnami/redis', { tag: '7' }), 'docker.io/bitnami/redis:7'],
    ['docker.io/busybox', hub('library/busybox'), 'docker.io/library/busybox:latest'],
    ['index.docker.io/library/busybox', hub('library/busybox'), 'docker.io/library/busybox:latest'],
    [`busybox@${DIGEST}`, hub('library/busybox', { digest: DIGEST }), `docker.io/library/busybox@${DIGEST}`],
    // A digest pins the content: the tag beside it is dropped.
    [`busybox:1.36@${DIGEST}`, hub('library/busybox', { digest: DIGEST }), `docker.io/library/busybox@${DIGEST}`],
    ['quay.io/podman/stable', { registry: 'quay.io', apiHost: 'quay.io', repository: 'podman/stable', tag: 'latest' }, 'quay.io/podman/stable:latest'],
    ['127.0.0.1:5000/app:v1', { registry: '127.0.0.1:5000', apiHost: '127.0.0.1:5000', repository: 'app', tag: 'v1' }, '127.0.0.1:5000/app:v1'],
    ['docker://localhost/a/b/c', { registry: 'localhost', apiHost: 'localhost', repository: 'a/b/c', tag: 'latest' }, 'localhost/a/b/c:latest'],
    ['[::1]:5000/x_y.z__w-v', { registry: '[::1]:5000', apiHost: '[::1]:5000', repository: 'x_y.z__w-v', tag: 'latest' }, '[::1]:5000/x_y.z__w-v:latest'],
  ];
  for (const [text, reference, formatted] of cases) {
    assert.deepEqual(parseReference(text), reference, text);
    assert.equal(formatReference(parseReference(text)), formatted, text);
  }
});

test('malformed references are refused, saying what is wrong', () => {
  const cases: [string, RegExp][] = [
    ['', /it is empty/],
    ['docker://', /it is empty/],
    ['Busybox', /name "library\/Busybox" must be lowercase/],
    ['a//b', /name "a\/\/b"/],
    ['busybox:-x', /tag "-x"/],
    ['busybox@sha256:abc', /is not a sha256 or sha512 digest/],
    ['reg.example:99999999/app', /registry "reg.example:99999999" is not HOST\[:PORT\]/],
    [`x/${'a'.repeat(300)}`, /longer than 255/],
  ];
  for (const [text, message] of cases) assert.throws(() => parseReference(text), message, text);
  assert.throws(() => parseReference('Busybox'), /^Error: "Busybox" is not an image reference \[docker:\/\/\]REGISTRY\/NAME\[:TAG\|@DIGEST\]: /);
});

test('an existing path, or text starting with / or ., is local; anything else a reference', () => {
  const existing = new Set(['alpine.tar', 'oci-dir']);
  const exists = (path: string) => existing.has(path);
  for (const text of ['/srv/image.tar', './oci', '../img', '.hidden', 'alpine.tar', 'oci-dir']) assert.equal(isLocalImage(text, exists), true, text);
  for (const text of ['busybox', 'quay.io/a/b:1', 'docker://alpine.tar', 'missing.tar']) assert.equal(isLocalImage(text, exists), false, text);
});

test('loopback registries: 127.0.0.0/8, ::1 and localhost, with or without a port', () => {
  for (const host of ['127.0.0.1:5000', '127.255.0.9', 'localhost', 'LOCALHOST:80', '[::1]:5000']) assert.equal(isLoopback(host), true, host);
  for (const host of ['128.0.0.1', '10.0.2.2:5000', 'quay.io', '127.0.0.1.example.com', 'localhost.localdomain']) assert.equal(isLoopback(host), false, host);
});
