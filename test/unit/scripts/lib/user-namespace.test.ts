import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  describeIdMap, freeSubordinateRange, parseIdMap, rootlessProblem, subordinateRanges, type RootlessFacts,
} from '../../../../scripts/lib/user-namespace.ts';

test('parseIdMap and describeIdMap: a rootless map, and the initial namespace', () => {
  const map = parseIdMap('         0       1001          1\n         1     100000      65535\n');
  assert.deepEqual(map, [{ inside: 0, outside: 1001, count: 1 }, { inside: 1, outside: 100000, count: 65535 }]);
  assert.equal(describeIdMap(map), '0 → 1001, 1-65535 → 100000-165534');
  assert.deepEqual(parseIdMap('         0          0 4294967295\n'), [{ inside: 0, outside: 0, count: 4294967295 }]);
});

test('subordinateRanges: by name or by uid, every range', () => {
  const text = 'alice:100000:65536\nbob:165536:65536\n1002:300000:10\nalice:400000:5\n';
  assert.deepEqual(subordinateRanges(text, 'alice', 1001), [{ start: 100000, count: 65536 }, { start: 400000, count: 5 }]);
  assert.deepEqual(subordinateRanges(text, 'carol', 1002), [{ start: 300000, count: 10 }]);
  assert.deepEqual(subordinateRanges(text, 'dave', 1003), []);
});

test('freeSubordinateRange: above every range of both files, 100000 on an empty host', () => {
  assert.deepEqual(freeSubordinateRange('', ''), { start: 100000, end: 165535 });
  assert.deepEqual(freeSubordinateRange('a:100000:65536\n', 'a:100000:65536\nb:231072:65536\n'), { start: 296608, end: 362143 });
});

const FINE: RootlessFacts = {
  user: 'alice', uid: 1001, idMapTools: true, subuid: 'alice:100000:65536\n', subgid: 'alice:100000:65536\n',
  maxUserNamespaces: 15000, chrooted: false, unshareError: '',
};
const PREFIX = 'as an ordinary user (alice) this runs in a user namespace of its own, which cannot be made here: ';

const PROBLEMS: Array<[string, Partial<RootlessFacts>, string]> = [
  ['uidmap missing', { idMapTools: false }, 'newuidmap and newgidmap are not installed: install the Debian package uidmap (as root: apt-get install uidmap)'],
  ['no subordinate ids at all', { subuid: 'bob:100000:65536\n', subgid: '' },
    'alice has no subordinate ids in /etc/subuid and /etc/subgid: as root, run usermod --add-subuids 165536-231071 --add-subgids 165536-231071 alice'],
  ['no subordinate gids', { subgid: '' }, 'alice has no subordinate ids in /etc/subgid: as root, run usermod --add-subuids 165536-231071 --add-subgids 165536-231071 alice'],
  ['in a chroot', { chrooted: true }, 'the kernel creates no user namespaces inside a chroot: run it outside the chroot, or as root'],
  ['disabled by sysctl', { maxUserNamespaces: 0 }, 'user namespaces are disabled (user.max_user_namespaces = 0): as root, run sysctl -w user.max_user_namespaces=15000'],
  ['Debian\'s older switch', { unprivilegedUsernsClone: 0 },
    'unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0): as root, run sysctl -w kernel.unprivileged_userns_clone=1'],
  ['anything else: unshare\'s own words', { unshareError: 'unshare: unshare failed: Operation not permitted' },
    'unshare --map-root-user --map-auto failed: unshare: unshare failed: Operation not permitted'],
];
for (const [name, change, why] of PROBLEMS) {
  test(`rootlessProblem: ${name}`, () => assert.equal(rootlessProblem({ ...FINE, ...change }), PREFIX + why));
}
