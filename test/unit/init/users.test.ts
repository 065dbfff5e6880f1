import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveIdentity, UnknownUserError } from '../../../init/users.ts';

const PASSWD = ['root:x:0:0:root:/root:/bin/sh', 'builder:x:1000:1000:Builder,,,:/home/builder:/bin/bash', 'broken line', 'nobody:x:65534:65534::/nonexistent:/usr/sbin/nologin', ''].join('\n');
const GROUP = ['root:x:0:', 'builder:x:1000:', 'kvm:x:108:builder', 'wheel:x:10:root,builder', 'users:x:100:other', ''].join('\n');

test('resolveIdentity: by name or number, the primary group first, then the groups that list the user', () => {
  const builder = { uid: 1000, gid: 1000, groups: [1000, 108, 10], home: '/home/builder' };
  assert.deepEqual(resolveIdentity('builder', PASSWD, GROUP), builder);
  assert.deepEqual(resolveIdentity('1000', PASSWD, GROUP), builder);
  assert.deepEqual(resolveIdentity('builder:users', PASSWD, GROUP), { ...builder, gid: 100, groups: [100, 108, 10] });
  assert.deepEqual(resolveIdentity('builder:4242', PASSWD, GROUP), { ...builder, gid: 4242, groups: [4242, 108, 10] });
  assert.deepEqual(resolveIdentity('root', PASSWD, GROUP), { uid: 0, gid: 0, groups: [0, 10], home: '/root' });
  // A number nobody is listed under: group 0 unless given, HOME /.
  assert.deepEqual(resolveIdentity('4321', PASSWD, GROUP), { uid: 4321, gid: 0, groups: [0], home: '/' });
  assert.deepEqual(resolveIdentity('4321:4321', PASSWD, GROUP), { uid: 4321, gid: 4321, groups: [4321], home: '/' });
});

test('resolveIdentity: unknown names and malformed specs are named', () => {
  assert.throws(() => resolveIdentity('nosuch', PASSWD, GROUP), new UnknownUserError("user nosuch is not in the guest's /etc/passwd"));
  assert.throws(() => resolveIdentity('builder:nosuch', PASSWD, GROUP), new UnknownUserError("group nosuch is not in the guest's /etc/group"));
  for (const spec of ['', ':1', 'a:', 'a:b:c']) assert.throws(() => resolveIdentity(spec, PASSWD, GROUP), new UnknownUserError(`--user ${spec}: expected USER or USER:GROUP`));
});
