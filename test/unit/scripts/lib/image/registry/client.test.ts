import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeErrorBody, RegistryClient } from '../../../../../../scripts/lib/image/registry/client.ts';
import { parseReference } from '../../../../../../scripts/lib/image/registry/reference.ts';

test('plain HTTP only for a registry on this machine, or with --tls-verify=false', () => {
  const cases: [string, boolean, boolean][] = [
    ['127.0.0.1:5000/app', true, true],
    ['localhost/app', true, true],
    ['quay.io/app', true, false],
    ['quay.io/app', false, true],
    ['10.0.2.2:5000/app', true, false],
  ];
  for (const [reference, tlsVerify, mayUseHttp] of cases) assert.equal(new RegistryClient(parseReference(reference), { tlsVerify }).mayUseHttp, mayUseHttp, `${reference} ${tlsVerify}`);
});


test("a registry's error body as CODE: message; anything else as the status and the start of the text", () => {
  const body = JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: { Tag: 'v9' } }, { code: 'DENIED', message: 'no' }] });
  assert.equal(describeErrorBody(404, body), 'MANIFEST_UNKNOWN: manifest unknown; DENIED: no');
  assert.equal(describeErrorBody(502, '<html>Bad gateway</html>\n'), 'HTTP 502 <html>Bad gateway</html>');
  assert.equal(describeErrorBody(500, ''), 'HTTP 500');
  assert.equal(describeErrorBody(500, '{"errors": []}'), 'HTTP 500 {"errors": []}');
});
