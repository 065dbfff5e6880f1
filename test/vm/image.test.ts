/**
 * chrootvm --image end to end: each image form boots and the guest sees exactly the merged tree;
 * the extracted tree is cached by digest and shared read-only (--rw writes a private copy); a
 * corrupted blob and a missing kernel fail before any VM starts. The image's kernel comes from the
 * demo rootfs (--kernel-from): images carry none.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { constants, existsSync } from 'node:fs';
import { access, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { resolveImage } from '../../scripts/lib/image/resolve-image.ts';
import {
  archiveOf,
  compress,
  dockerArchiveFiles,
  FLAT_TREE,
  ociLayout,
  snapshot,
  tarOf,
  TWO_LAYERS,
  TWO_LAYERS_TREE,
  writeFiles,
  type FixtureEntry,
  type Image,
  type Layer,
  type TreeNode,
} from '../unit/scripts/lib/image/fixtures.ts';
import { assertNothingLeft, bootForStatus, chrootvm, chrootvmOnTerminal, fetchWhenUp, leftovers, requireDemoRootfs, ROOT, skipWithoutQemu, startChrootvm, VM_TEST_TIMEOUT_MS } from './harness.ts';
import { demoKernel } from '../demo.ts';

const vm = { skip: skipWithoutQemu, timeout: VM_TEST_TIMEOUT_MS };

/** The fixture's trees live below /data: the root itself needs the shell and the init's mount points. */
const FIXTURE_DIR = 'data';
const APPLETS = ['sh', 'find', 'stat', 'readlink', 'cat', 'rm'];
/** The init moves its /dev, /proc, /sys and /run onto these and refuses a root without them. */
const MOUNT_POINTS = ['dev', 'proc', 'sys', 'run', 'tmp'];
const ROOT_NAMES = ['bin', FIXTURE_DIR, ...MOUNT_POINTS].sort().join(' ');

function baseLayer(busybox: Buffer): FixtureEntry[] {
  return [
    { name: './', type: 'directory' },
    { name: 'bin/', type: 'directory' },
    { name: 'bin/busybox', content: busybox, mode: 0o755 },
    ...APPLETS.map((applet): FixtureEntry => ({ name: `bin/${applet}`, type: 'symlink', linkname: 'busybox' })),
    ...MOUNT_POINTS.map((dir): FixtureEntry => ({ name: `${dir}/`, type: 'directory' })),
  ];
}

/** `entries` moved below `directory`, absolute names staying absolute; hard link targets move too (symlinks are relative). */
function under(directory: string, entries: readonly FixtureEntry[]): FixtureEntry[] {
  const place = (name: string) => (name === './' ? `${directory}/` : name.startsWith('/') ? `/${directory}${name}` : `${directory}/${name}`);
  return entries.map((entry) => ({ ...entry, name: place(entry.name), ...(entry.type === 'link' ? { linkname: place(entry.linkname as string) } : {}) }));
}

/**
 * One record per path below /data: `NAME|TYPE|MODE|LINKS|SIZE`, then a symlink's target on its
 * own line, or a file's SIZE bytes and a newline (contents may hold newlines themselves).
 */
const LIST_SCRIPT = [
  'cd / && echo *',
  `cd /${FIXTURE_DIR} && find . -mindepth 1 | while read -r p; do`,
  `  stat -c '%n|%F|%a|%h|%s' "$p"`,
  '  if [ -L "$p" ]; then readlink "$p"; elif [ -f "$p" ]; then cat "$p"; echo; fi',
  'done',
].join('\n');

interface Listing {
  root: string;
  tree: TreeNode[];
}

function parseListing(output: string): Listing {
  const bytes = Buffer.from(output);
  let at = 0;
  const take = (length: number, what: string) => {
    if (at + length > bytes.length) throw new Error(`listing ends inside ${what}: ${JSON.stringify(output)}`);
    const text = bytes.subarray(at, at + length).toString();
    at += length;
    return text;
  };
  const line = () => {
    const end = bytes.indexOf('\n', at);
    if (end < 0) throw new Error(`listing ends without a newline: ${JSON.stringify(output)}`);
    return take(end - at + 1, 'a line').slice(0, -1);
  };
  const root = line();
  const tree: TreeNode[] = [];
  while (at < bytes.length) {
    const record = line();
    const [name, kind, mode, links, size] = record.split('|');
    const path = (name ?? '').replace(/^\.\//, '');
    if (kind === 'directory') tree.push({ path, type: 'directory', mode: parseInt(mode!, 8) });
    else if (kind === 'symbolic link') tree.push({ path, type: 'symlink', target: line() });
    else if (kind === 'regular file' || kind === 'regular empty file') {
      const content = take(Number(size), `the content of ${path}`);
      assert.equal(take(1, `the end of ${path}`), '\n', record);
      tree.push({ path, type: 'file', mode: parseInt(mode!, 8), content, links: Number(links) });
    } else tree.push({ path, type: 'other', mode: parseInt(mode!, 8) });
  }
  // snapshot()'s order: depth first, names sorted; "/" as NUL sorts a directory's children before its siblings ("a/x" before "a-b").
  const key = (node: TreeNode) => node.path.replaceAll('/', '\0');
  tree.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  return { root, tree };
}

/** Whether chrootvm could fall back to the host's running kernel (kernel-choice.ts looks at these). */
async function hostKernelReadable(): Promise<boolean> {
  const readable = (path: string) => access(path, constants.R_OK).then(() => true, () => false);
  const image = (await readable(`/boot/vmlinuz-${release()}`)) || (await readable(`/usr/lib/modules/${release()}/vmlinuz`));
  return image && (existsSync(`/lib/modules/${release()}`) || existsSync(`/usr/lib/modules/${release()}`));
}

const hostKernelSkip: string | false = (await hostKernelReadable())
  ? `the host's kernel ${release()} is readable here: chrootvm would boot it instead of failing`
  : false;

describe('chrootvm --image', () => {
  let work = '';
  let cacheHome = '';
  let env: NodeJS.ProcessEnv = {};
  let demo = '';
  let oci: Image;
  const paths = { oci: '', docker: '', rootfsTar: '' };
  /** The cache entry of the OCI image: `<cache>/virtinitrd/rootfs/sha256-HEX`. */
  const ociEntry = () => join(cacheHome, 'virtinitrd/rootfs', oci.manifestDigest.replace(':', '-'));

  before(async () => {
    demo = requireDemoRootfs();
    work = await mkdtemp(join(tmpdir(), 'virtinitrd-image-vm-'));
    // A private cache makes the cache checks exact; the initrd and vmlinux are then built once for this file.
    cacheHome = join(work, 'cache');
    env = { XDG_CACHE_HOME: cacheHome };
    const base = baseLayer(await readFile(join(demo, 'bin/busybox')));
    // Every codec once; the last layer is uncompressed so a flipped content byte still parses as tar.
    const layers: Layer[] = [
      { entries: base, codec: 'gzip' },
      { entries: under(FIXTURE_DIR, TWO_LAYERS[0]!), codec: 'zstd' },
      { entries: under(FIXTURE_DIR, TWO_LAYERS[1]!), codec: 'none' },
    ];
    oci = await ociLayout(layers);
    paths.oci = join(work, 'oci');
    await writeFiles(paths.oci, oci.files);
    paths.docker = join(work, 'docker.tar');
    await writeFile(paths.docker, await archiveOf((await dockerArchiveFiles(layers)).files));
    paths.rootfsTar = join(work, 'rootfs.tar.gz');
    await writeFile(paths.rootfsTar, compress(await tarOf([...base, ...under(FIXTURE_DIR, FLAT_TREE)]), 'gzip'));
  });

  after(() => rm(work, { recursive: true, force: true }));

  const FORMATS = [
    ['an OCI layout directory (whiteouts, a replaced symlink, an opaque directory)', () => paths.oci],
    ['a docker archive of the same layers', () => paths.docker],
    ['a gzip rootfs tar of the merged tree', () => paths.rootfsTar],
  ] as const;

  for (const [what, image] of FORMATS) {
    test(`${what}: the guest sees exactly the merged tree`, vm, async () => {
      const result = await chrootvm(['--image', image(), '--kernel-from', demo, 'sh', '-c', LIST_SCRIPT], { env });
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stderr, '');
      assert.deepEqual(parseListing(result.stdout), { root: ROOT_NAMES, tree: TWO_LAYERS_TREE });
    });
  }

  test('a second run of the same image boots the cached tree without extracting again', vm, async () => {
    // Extracted here when this test runs alone; a no-op after the OCI boot above.
    await resolveImage(paths.oci, { cacheDir: join(cacheHome, 'virtinitrd') });
    const entries = await readdir(join(cacheHome, 'virtinitrd/rootfs'));
    const { ino, mtimeMs } = await stat(ociEntry());
    const result = await chrootvm(['--debug', '--image', paths.oci, '--kernel-from', demo, 'cat', `/${FIXTURE_DIR}/etc/hostname`], { env });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^upper$/m);
    assert.ok(result.stderr.includes(`image ${paths.oci} (${oci.manifestDigest}): cached at ${ociEntry()}\n`), result.stderr);
    assert.doesNotMatch(result.stderr, /extracting layer|extracted to/);
    assert.deepEqual(await stat(ociEntry()).then((info) => ({ ino: info.ino, mtimeMs: info.mtimeMs })), { ino, mtimeMs });
    assert.deepEqual(await readdir(join(cacheHome, 'virtinitrd/rootfs')), entries);
  });

  test('--rw: the guest writes a private copy, and the cached tree is unchanged afterwards', vm, async () => {
    await resolveImage(paths.oci, { cacheDir: join(cacheHome, 'virtinitrd') });
    const cached = await snapshot(ociEntry());
    const before = leftovers();
    const data = `/${FIXTURE_DIR}`;
    const result = await chrootvm(
      ['--rw', '--image', paths.oci, '--kernel-from', demo, 'sh', '-c', `echo changed > ${data}/etc/hostname && rm ${data}/lib/x && echo made > ${data}/made && cat ${data}/etc/hostname ${data}/made`],
      { env },
    );
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, 'changed\nmade\n');
    assert.deepEqual(await snapshot(ociEntry()), cached);
    assertNothingLeft(before);
  });

  test('a corrupted layer blob: exit 125 naming its digest, before any VM starts, and nothing cached', async () => {
    const corrupted = new Map(oci.files);
    const digest = oci.layerDigests[2]!;
    const name = `blobs/sha256/${digest.slice('sha256:'.length)}`;
    const blob = Buffer.from(corrupted.get(name)!);
    // A byte of a file's content: the tar still parses, only the digest can tell.
    const at = blob.indexOf('now a file');
    assert.ok(at > 0, 'the content to corrupt is in the last layer');
    blob[at] = blob[at]! ^ 0x20;
    corrupted.set(name, blob);
    const layout = join(work, 'oci-corrupted');
    await writeFiles(layout, corrupted);
    // Its own cache: the manifest is unchanged, so the good image's cached tree would otherwise be used.
    const emptyCache = join(work, 'cache-corrupted');
    const result = await chrootvm(['--debug', '--image', layout, '--kernel-from', demo, 'true'], { env: { XDG_CACHE_HOME: emptyCache } });
    assert.equal(result.status, 125, result.stderr);
    assert.ok(result.stderr.includes(`chrootvm: --image ${layout}: layer ${digest} (${join(layout, name)}) has digest sha256:`), result.stderr);
    assert.match(result.stderr, /the blob is corrupted or was changed/);
    assert.match(result.stderr, /extracting layer 3\/3/);
    assert.doesNotMatch(result.stderr, /chrootvm: (kernel |qemu:)/);
    assert.deepEqual(await readdir(join(emptyCache, 'virtinitrd/rootfs')), []);
  });

  test('an image without a kernel, and no --kernel or --kernel-from: exit 125 saying what to give', { skip: hostKernelSkip }, async () => {
    const result = await chrootvm(['--debug', '--image', paths.oci, 'true'], { env });
    assert.equal(result.status, 125, result.stderr);
    assert.match(result.stderr, new RegExp(`chrootvm: no kernel to boot: the image has none, and the host's running kernel ${release().replaceAll('.', '\\.')} is not readable`));
    assert.match(result.stderr, /give --kernel PATH or --kernel-from DIR\n$/);
    assert.doesNotMatch(result.stderr, /chrootvm: (kernel |qemu:)/);
  });
});

/**
 * An image's own process, as its config says (podman's and docker's semantics): the process reports
 * what it saw, so each setting and each override shows in its output.
 */
describe("chrootvm --image runs the image's process", () => {
  let work = '';
  let env: NodeJS.ProcessEnv = {};
  let demo = '';
  const images = { reporter: '', server: '', shell: '' };
  const kernelFrom = () => ['--kernel-from', demo];

  /** busybox with its applets, the mount points, and `files`. */
  async function writeImage(name: string, files: FixtureEntry[], container: Record<string, unknown>): Promise<string> {
    const busybox = await readFile(join(demo, 'bin/busybox'));
    const applets = ['sh', 'id', 'cat', 'sleep', 'httpd', 'kill'];
    const base: FixtureEntry[] = [
      { name: './', type: 'directory' },
      { name: 'bin/', type: 'directory' },
      { name: 'bin/busybox', content: busybox, mode: 0o755 },
      ...applets.map((applet): FixtureEntry => ({ name: `bin/${applet}`, type: 'symlink', linkname: 'busybox' })),
      ...MOUNT_POINTS.map((dir): FixtureEntry => ({ name: `${dir}/`, type: 'directory' })),
    ];
    const image = await ociLayout([{ entries: base, codec: 'gzip' }, { entries: files, codec: 'none' }], undefined, container);
    const path = join(work, name);
    await writeFiles(path, image.files);
    return path;
  }

  before(async () => {
    demo = requireDemoRootfs();
    work = await mkdtemp(join(tmpdir(), 'virtinitrd-image-process-'));
    env = { XDG_CACHE_HOME: join(work, 'cache') };
    images.reporter = await writeImage(
      'reporter',
      [
        { name: 'srv/', type: 'directory' },
        { name: 'etc/', type: 'directory' },
        { name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n' },
        { name: 'etc/group', content: 'root:x:0:\napp:x:1000:\n' },
      ],
      {
        Entrypoint: ['/bin/sh', '-c', 'echo "$GREETING|$PATH|$(pwd)|$(id -u):$(id -g)|$HOME|$*"; exit 3', 'reporter'],
        Cmd: ['from-cmd'],
        Env: ['GREETING=hello', 'PATH=/bin'],
        WorkingDir: '/srv',
        User: 'app',
        ExposedPorts: { '8080/tcp': {} },
      },
    );
    // What busybox and alpine images say: a shell and nothing else.
    images.shell = await writeImage('shell', [], { Cmd: ['/bin/sh'] });
    // The seed scenario: a server that is the image's whole purpose, stopped as a container is.
    const serve = [
      '#!/bin/sh',
      'httpd -f -p 8080 -h /www & server=$!',
      'trap \'kill $server; wait $server; echo "server stopped"; exit 0\' TERM',
      'echo listening',
      'wait $server',
    ].join('\n');
    images.server = await writeImage(
      'server',
      [
        { name: 'www/', type: 'directory' },
        { name: 'www/index.html', content: 'served from the image\n' },
        { name: 'usr/', type: 'directory' },
        { name: 'usr/bin/', type: 'directory' },
        { name: 'usr/bin/serve', content: `${serve}\n`, mode: 0o755 },
      ],
      { Entrypoint: ['/usr/bin/serve'], ExposedPorts: { '8080/tcp': {} } },
    );
  });

  after(() => rm(work, { recursive: true, force: true }));

  test('without ARGs: Entrypoint + Cmd, with Env, WorkingDir and User; its status comes back', vm, async () => {
    const result = await chrootvm(['--debug', '--image', images.reporter, ...kernelFrom()], { env });
    assert.equal(result.status, 3, result.stderr);
    assert.match(result.stdout, /^hello\|\/bin\|\/srv\|1000:1000\|\/home\/app\|from-cmd$/m);
    // --debug lists what the image exposes; publishing stays explicit.
    assert.match(result.stderr, /the image exposes 8080\/tcp \(publish them with -p\)/);
  });

  test('ARGs replace the Cmd; -e, -w and -u override the image', vm, async () => {
    const result = await chrootvm(['--image', images.reporter, ...kernelFrom(), '-e', 'GREETING=bye', '-w', '/', '-u', '0', 'one', 'two'], { env });
    assert.equal(result.status, 3, result.stderr);
    assert.equal(result.stdout, 'bye|/bin|/|0:0|/root|one two\n');
  });

  test('a bare shell Cmd on a terminal is the interactive shell; without a terminal it reads stdin', vm, async () => {
    const { status, output } = await chrootvmOnTerminal(['--image', images.shell, ...kernelFrom()], 'tty; exit 5\r', env);
    assert.equal(status, 5, output);
    assert.match(output, /\/dev\/ttyS0/);
    const piped = startChrootvm(['--image', images.shell, ...kernelFrom()], { env, stdin: 'pipe' });
    piped.child.stdin!.end('echo "from a script"; exit 6\n');
    const result = await piped.result;
    assert.equal(result.status, 6, result.stderr);
    assert.equal(result.stdout, 'from a script\n');
  });

  test("--entrypoint replaces the Entrypoint and drops the Cmd; '' runs the ARGs alone", vm, async () => {
    const listed = await chrootvm(['--image', images.reporter, ...kernelFrom(), '--entrypoint', '["/bin/sh","-c"]', 'echo "$(id -un) in $(pwd)"'], { env });
    assert.equal(listed.status, 0, listed.stderr);
    assert.equal(listed.stdout, 'app in /srv\n');
    const none = await chrootvm(['--image', images.reporter, ...kernelFrom(), '--entrypoint', '', '/bin/cat', '/www-missing'], { env });
    assert.equal(none.status, 1, none.stderr);
    assert.match(none.stderr, /cat: can't open '\/www-missing': No such file or directory/);
  });

  /** `mkvirtinitrd --image IMAGE ARGS… MODDIR OUT`, into the test's directory. */
  function imageInitrd(name: string, image: string, args: readonly string[]): string {
    const initrd = join(work, `${name}.img`);
    const build = spawnSync(join(ROOT, 'bin/mkvirtinitrd'), ['--image', image, ...args, demoKernel()!.moddir, initrd], { encoding: 'utf8', env: { ...process.env, ...env } });
    assert.equal(build.status, 0, build.stderr);
    return initrd;
  }

  test('mkvirtinitrd --image boots straight into the process without chrootvm: console output, its status, then power-off', vm, async () => {
    const initrd = imageInitrd('reporter', images.reporter, []);
    const boot = await bootForStatus({ initrd, cmdline: [], timeoutMs: VM_TEST_TIMEOUT_MS });
    assert.deepEqual(boot.status, { kind: 'exit', code: 3 }, boot.kernelLog);
    assert.match(boot.kernelLog + boot.console, /hello\|\/bin\|\/srv\|1000:1000\|\/home\/app\|from-cmd/);
  });

  test('mkvirtinitrd --image --entrypoint, --inject keeps the mode, and init= on the kernel command line overrides the process', vm, async () => {
    const script = join(work, 'injected.sh');
    await writeFile(script, '#!/bin/sh\necho "injected as PID $$"\nexec /bin/busybox poweroff -f\n', { mode: 0o755 });
    const initrd = imageInitrd('overridden', images.reporter, ['--entrypoint', '["/bin/sh","-c","echo overridden; exit 4"]', '--inject', `${script}:/opt/tools/run-me`]);
    const overridden = await bootForStatus({ initrd, cmdline: [], timeoutMs: VM_TEST_TIMEOUT_MS });
    assert.deepEqual(overridden.status, { kind: 'exit', code: 4 }, overridden.kernelLog);
    assert.match(overridden.kernelLog + overridden.console, /overridden/);
    const byInit = await bootForStatus({ initrd, cmdline: ['init=/opt/tools/run-me'], timeoutMs: VM_TEST_TIMEOUT_MS });
    assert.equal(byInit.status, undefined, byInit.kernelLog);
    assert.match(byInit.kernelLog + byInit.console, /injected as PID 1/);
    assert.doesNotMatch(byInit.kernelLog + byInit.console, /overridden/);
  });

  test('a server image with -p and no ARGs: the host reaches it, and SIGTERM gets its own status', vm, async () => {
    const before = leftovers();
    const portsFile = join(work, 'ports.json');
    const running = startChrootvm(['-p', '8080', '--publish-file', portsFile, '--image', images.server, ...kernelFrom()], { env });
    await running.waitFor('listening');
    const [published] = JSON.parse(await readFile(portsFile, 'utf8')) as { hostPort: number }[];
    const page = await fetchWhenUp(published!.hostPort, '/index.html');
    running.child.kill('SIGTERM');
    const result = await running.result;
    assert.equal(page.toString(), 'served from the image\n');
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, 'listening\nserver stopped\n');
    assertNothingLeft(before);
  });
});
