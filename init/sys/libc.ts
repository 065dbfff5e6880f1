/**
 * Every call into libc and the kernel that Node cannot make itself. Nothing outside init/sys/ talks FFI.
 *
 * ffi-rs's index.js picks a platform package with require() and probes for musl at load time, which
 * a bundle cannot carry; we dlopen its native module directly, and only on first use so that a boot
 * that fails early does not pay for it.
 */
import { closeSync } from 'node:fs';
import { makeDevice } from '../device-numbers.ts';
import { initrdPaths } from '../paths.ts';
import { SyscallError } from './errors.ts';

interface FfiResult {
  value: unknown;
  errnoCode: number;
}

/** The slice of ffi-rs's native binding we use (its DataType numbering is part of its ABI). */
interface FfiBinding {
  open(params: { library: string; path: string }): void;
  load(params: {
    library: string;
    funcName: string;
    retType: number;
    paramsType: number[];
    paramsValue: unknown[];
    errno: boolean;
    freeResultMemory: boolean;
    /** Run in a thread of libuv's pool, resolving a promise: for calls that block. */
    runInNewThread?: boolean;
  }): FfiResult | Promise<FfiResult>;
  createExternalBuffer(pointer: unknown, length: number): Buffer;
}

const Type = { String: 0, I32: 1, Void: 7, I64: 8, External: 11, U64: 12, BigInt: 16 } as const;
type TypeCode = (typeof Type)[keyof typeof Type];

const SYS_finit_module = 313; // x86_64
const NULL = 0n;

let binding: FfiBinding | undefined;

function ffi(): FfiBinding {
  if (!binding) {
    const module = { exports: {} as FfiBinding };
    process.dlopen(module, initrdPaths.ffiModule);
    binding = module.exports;
    binding.open({ library: 'libc', path: '' });
  }
  return binding;
}

function call(funcName: string, retType: TypeCode, paramsType: TypeCode[], paramsValue: unknown[]): FfiResult {
  return ffi().load({ library: 'libc', funcName, retType, paramsType, paramsValue, errno: true, freeResultMemory: false }) as FfiResult;
}

/** call() on a thread of its own, so that a blocking call leaves Node's event loop running. */
function callInThread(funcName: string, retType: TypeCode, paramsType: TypeCode[], paramsValue: unknown[]): Promise<FfiResult> {
  return ffi().load({ library: 'libc', funcName, retType, paramsType, paramsValue, errno: true, freeResultMemory: false, runInNewThread: true }) as Promise<FfiResult>;
}

/** Calls a libc function that returns -1 and sets errno on failure; throws SyscallError naming `what`. */
function check(what: string, funcName: string, paramsType: TypeCode[], paramsValue: unknown[]): number {
  const { value, errnoCode } = call(funcName, Type.I64, paramsType, paramsValue);
  if (value === -1) throw new SyscallError(what, errnoCode);
  return Number(value);
}

/** Zeroed C memory that C writes into and JS reads through a Buffer. Lives until the process ends. */
function allocate(length: number): { address: bigint; bytes: Buffer } {
  const { value: address } = call('calloc', Type.BigInt, [Type.U64, Type.U64], [1, length]);
  if (address === NULL) throw new SyscallError(`calloc(${length})`, 12);
  // memcpy of zero bytes returns its destination: the one way to turn an address into an ffi-rs pointer.
  const { value: pointer } = call('memcpy', Type.External, [Type.BigInt, Type.BigInt, Type.U64], [address, address, 0]);
  return { address: address as bigint, bytes: ffi().createExternalBuffer(pointer, length) };
}

/** A C string of `text`'s UTF-8 encoding, or of `text`'s bytes as they are. */
function cString(text: string | Buffer): bigint {
  const bytes = typeof text === 'string' ? Buffer.from(text) : text;
  const memory = allocate(bytes.length + 1);
  bytes.copy(memory.bytes);
  return memory.address;
}

/** A NULL-terminated array of C strings (argv/envp for execve). */
function cStringArray(strings: readonly (string | Buffer)[]): bigint {
  const table = allocate(8 * (strings.length + 1));
  strings.forEach((text, index) => table.bytes.writeBigUInt64LE(cString(text), 8 * index));
  return table.address;
}

export const MS = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  RELATIME: 0x200000,
  REMOUNT: 0x20,
  BIND: 0x1000,
  MOVE: 0x2000,
} as const;

export function mount(what: string, source: string, target: string, fstype: string | null, flags: number, data = ''): void {
  check(`mount(${what} on ${target})`, 'mount', [Type.String, Type.String, Type.BigInt, Type.U64, Type.BigInt], [
    source,
    target,
    fstype === null ? NULL : cString(fstype),
    flags,
    data === '' ? NULL : cString(data),
  ]);
}

export function mknod(path: string, mode: number, major: number, minor: number): void {
  check(`mknod(${path})`, 'mknod', [Type.String, Type.I32, Type.BigInt], [path, mode, makeDevice(major, minor)]);
}

export function finitModule(fd: number, name: string): void {
  check(`finit_module(${name})`, 'syscall', [Type.I64, Type.I32, Type.String, Type.I32], [SYS_finit_module, fd, '', 0]);
}

const PR_SET_NAME = 15;

/**
 * The name ps and /proc/1/comm show. Node names its main thread "MainThread"; PID 1 should read
 * "init". The kernel keeps the first 15 bytes.
 */
export function setProcessName(name: string): void {
  check(`prctl(PR_SET_NAME, ${name})`, 'prctl', [Type.I32, Type.String, Type.U64, Type.U64, Type.U64], [PR_SET_NAME, name, 0, 0, 0]);
}

export function chroot(path: string): void {
  check(`chroot(${path})`, 'chroot', [Type.String], [path]);
}

export function dup2(from: number, to: number): void {
  check(`dup2(${from}, ${to})`, 'dup2', [Type.I32, Type.I32], [from, to]);
}

export function sync(): void {
  call('sync', Type.Void, [], []);
}

/** Waits until everything written to a tty fd has gone out of the UART: the status line must leave before poweroff. */
export function tcdrain(fd: number, name: string): void {
  check(`tcdrain(${name})`, 'tcdrain', [Type.I32], [fd]);
}

const TIOCSCTTY = 0x540e;
const TIOCSWINSZ = 0x5414;

/**
 * Makes PID 1 a session leader whose controlling terminal is `fd`: an interactive shell started
 * in that session can then run job control (its own process groups, ^C to the foreground job).
 */
export function takeControllingTerminal(fd: number, name: string): void {
  // EPERM: PID 1 leads its session already.
  call('setsid', Type.I32, [], []);
  check(`ioctl(${name}, TIOCSCTTY)`, 'ioctl', [Type.I32, Type.U64, Type.I64], [fd, TIOCSCTTY, 1]);
}

/** The host terminal's size, so full-screen programs in the guest draw to the right width. */
export function setWindowSize(fd: number, name: string, rows: number, columns: number): void {
  const winsize = allocate(8);
  winsize.bytes.writeUInt16LE(rows, 0);
  winsize.bytes.writeUInt16LE(columns, 2);
  check(`ioctl(${name}, TIOCSWINSZ)`, 'ioctl', [Type.I32, Type.U64, Type.BigInt], [fd, TIOCSWINSZ, winsize.address]);
}

export function setHostname(name: string): void {
  check(`sethostname(${name})`, 'sethostname', [Type.String, Type.U64], [name, Buffer.byteLength(name)]);
}

function setIds(uid: number, gid: number, groups: readonly number[]): void {
  const list = allocate(4 * Math.max(groups.length, 1));
  groups.forEach((group, index) => list.bytes.writeUInt32LE(group, 4 * index));
  check(`setgroups(${groups.join(',')})`, 'setgroups', [Type.U64, Type.BigInt], [groups.length, list.address]);
  // The saved ids stay 0: that is what lets PID 1 become root again afterwards.
  check(`setresgid(${gid}, ${gid}, 0)`, 'setresgid', [Type.U64, Type.U64, Type.U64], [gid, gid, 0]);
  check(`setresuid(${uid}, ${uid}, 0)`, 'setresuid', [Type.U64, Type.U64, Type.U64], [uid, uid, 0]);
}

/**
 * Runs `start` (which spawns a child) as user `uid`, group `gid` with supplementary `groups`, then
 * makes PID 1 root again. posix_spawn cannot change a child's ids, and PID 1 must not fork; so PID 1
 * takes the ids for the moment of the spawn (the child's exec then sets its saved ids to them too),
 * keeping 0 as its saved ids, and returns to 0, which brings its capabilities back.
 */
export function spawnAsUser<T>(identity: { uid: number; gid: number; groups: readonly number[] }, start: () => T): T {
  try {
    setIds(identity.uid, identity.gid, identity.groups);
    return start();
  } finally {
    // Also after a failure halfway: whatever was taken, root comes back.
    check('setresuid(0, 0, 0)', 'setresuid', [Type.U64, Type.U64, Type.U64], [0, 0, 0]);
    check('setresgid(0, 0, 0)', 'setresgid', [Type.U64, Type.U64, Type.U64], [0, 0, 0]);
    check('setgroups()', 'setgroups', [Type.U64, Type.BigInt], [0, NULL]);
  }
}

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SIOCADDRT = 0x890b;
const SIOCGIFFLAGS = 0x8913;
const SIOCSIFFLAGS = 0x8914;
const SIOCSIFADDR = 0x8916;
const SIOCSIFNETMASK = 0x891c;
const SIOCSIFMTU = 0x8922;
/** struct ifreq: the name (IFNAMSIZ 16 bytes), then a union (ifr_flags, ifr_addr, ifr_mtu…) at 16. */
const IFREQ_SIZE = 40;
const IFNAMSIZ = 16;
const IFF_UP = 0x1;
/** struct rtentry on x86_64: rt_dst at 8, rt_gateway at 24, rt_genmask at 40, rt_flags at 56; 120 bytes. */
const RTENTRY = { size: 120, dst: 8, gateway: 24, genmask: 40, flags: 56 } as const;
const RTF_UP = 0x1;
const RTF_GATEWAY = 0x2;

/** A struct sockaddr_in for an IPv4 address in dotted form, written at `offset`. */
function writeSockaddrIn(bytes: Buffer, offset: number, address: string): void {
  bytes.writeUInt16LE(AF_INET, offset);
  address.split('.').forEach((octet, index) => bytes.writeUInt8(Number(octet), offset + 4 + index));
}

/** Runs `body` with an AF_INET datagram socket, the handle the interface ioctls take. */
function withInetSocket<T>(body: (socket: number) => T): T {
  const socket = check('socket(AF_INET, SOCK_DGRAM)', 'socket', [Type.I32, Type.I32, Type.I32], [AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0]);
  try {
    return body(socket);
  } finally {
    closeSync(socket);
  }
}

function interfaceRequest(socket: number, name: string, request: number, requestName: string, fill: (bytes: Buffer) => void = () => {}): Buffer {
  const ifreq = allocate(IFREQ_SIZE);
  ifreq.bytes.write(name.slice(0, IFNAMSIZ - 1), 0, 'latin1');
  fill(ifreq.bytes);
  check(`ioctl(${name}, ${requestName})`, 'ioctl', [Type.I32, Type.U64, Type.BigInt], [socket, request, ifreq.address]);
  return ifreq.bytes;
}

function setInterfaceUp(socket: number, name: string): void {
  const flags = interfaceRequest(socket, name, SIOCGIFFLAGS, 'SIOCGIFFLAGS').readUInt16LE(IFNAMSIZ);
  interfaceRequest(socket, name, SIOCSIFFLAGS, 'SIOCSIFFLAGS', (bytes) => bytes.writeUInt16LE(flags | IFF_UP, IFNAMSIZ));
}

/**
 * Brings a network interface up (SIOCSIFFLAGS with IFF_UP). For `lo` that is all it takes: the
 * kernel gives the loopback device 127.0.0.1/8 and ::1 itself when it comes up.
 */
export function bringInterfaceUp(name: string): void {
  withInetSocket((socket) => setInterfaceUp(socket, name));
}

/** An IPv4 address with its netmask, an MTU, and the interface up (the classic ioctls, as ifconfig sets them). */
export function configureInterface(name: string, address: string, netmask: string, mtu: number): void {
  withInetSocket((socket) => {
    interfaceRequest(socket, name, SIOCSIFADDR, 'SIOCSIFADDR', (bytes) => writeSockaddrIn(bytes, IFNAMSIZ, address));
    interfaceRequest(socket, name, SIOCSIFNETMASK, 'SIOCSIFNETMASK', (bytes) => writeSockaddrIn(bytes, IFNAMSIZ, netmask));
    interfaceRequest(socket, name, SIOCSIFMTU, 'SIOCSIFMTU', (bytes) => bytes.writeInt32LE(mtu, IFNAMSIZ));
    setInterfaceUp(socket, name);
  });
}

/** The default IPv4 route through `gateway` (SIOCADDRT, as `route add default gw` makes it). */
export function addDefaultRoute(gateway: string): void {
  withInetSocket((socket) => {
    const route = allocate(RTENTRY.size);
    writeSockaddrIn(route.bytes, RTENTRY.dst, '0.0.0.0');
    writeSockaddrIn(route.bytes, RTENTRY.gateway, gateway);
    writeSockaddrIn(route.bytes, RTENTRY.genmask, '0.0.0.0');
    route.bytes.writeUInt16LE(RTF_UP | RTF_GATEWAY, RTENTRY.flags);
    check(`ioctl(SIOCADDRT, default via ${gateway})`, 'ioctl', [Type.I32, Type.U64, Type.BigInt], [socket, SIOCADDRT, route.address]);
  });
}

const RB_POWER_OFF = 0x4321fedc;

export function powerOff(): never {
  check('reboot(POWER_OFF)', 'reboot', [Type.I32], [RB_POWER_OFF]);
  // reboot() returns only on failure; PID 1 must not exit, or the kernel panics.
  for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}

const SIG_DFL = 0n;
const SIG_SETMASK = 2;
const SIGSET_SIZE = 128;

/**
 * Node ignores SIGPIPE and SIGXFSZ, and ignored signals survive execve: a shell started with
 * SIGPIPE ignored makes `yes | head` loop forever. Put them back to default and unblock everything.
 */
export function resetSignalsForExec(): void {
  for (const signal of [1, 2, 3, 13, 15, 25]) {
    call('signal', Type.BigInt, [Type.I32, Type.BigInt], [signal, SIG_DFL]);
  }
  const emptySet = allocate(SIGSET_SIZE);
  check('sigprocmask(SIG_SETMASK)', 'sigprocmask', [Type.I32, Type.BigInt, Type.BigInt], [SIG_SETMASK, emptySet.address, NULL]);
}

export function execve(path: string, argv: readonly string[], env: readonly string[]): never {
  check(`execve(${path})`, 'execve', [Type.String, Type.BigInt, Type.BigInt], [path, cStringArray(argv), cStringArray(env)]);
  throw new SyscallError(`execve(${path}) returned`, 0);
}

/** Calls a libc function that returns 0 or an error number (the posix_spawn family); throws SyscallError naming `what`. */
function checkReturned(what: string, funcName: string, paramsType: TypeCode[], paramsValue: unknown[]): void {
  const { value } = call(funcName, Type.I32, paramsType, paramsValue);
  if (value !== 0) throw new SyscallError(what, value as number);
}

const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
/** glibc's x86_64 sizes of the opaque posix_spawn types. */
const SPAWN_ATTR_SIZE = 336;
const SPAWN_FILE_ACTIONS_SIZE = 80;

/**
 * Starts `path` as a child through posix_spawn, which is a vfork: no copy of Node's page tables
 * (a fork of PID 1 costs tens of ms under TCG) and no node:child_process to load. The child gets
 * `stdio` on 0–2, `cwd` as its directory, every signal at its default and none blocked (Node
 * ignores SIGPIPE, and an ignored signal survives exec). Returns its pid; a program that cannot be
 * started throws SyscallError with the exec's errno.
 */
export function spawn(path: Buffer, argv: readonly Buffer[], env: readonly Buffer[], cwd: Buffer, stdio: readonly number[]): number {
  const actions = allocate(SPAWN_FILE_ACTIONS_SIZE);
  checkReturned('posix_spawn_file_actions_init', 'posix_spawn_file_actions_init', [Type.BigInt], [actions.address]);
  stdio.forEach((fd, target) => {
    checkReturned(`posix_spawn_file_actions_adddup2(${fd}, ${target})`, 'posix_spawn_file_actions_adddup2', [Type.BigInt, Type.I32, Type.I32], [actions.address, fd, target]);
  });
  checkReturned(`posix_spawn_file_actions_addchdir_np(${cwd})`, 'posix_spawn_file_actions_addchdir_np', [Type.BigInt, Type.BigInt], [actions.address, cString(cwd)]);
  const attributes = allocate(SPAWN_ATTR_SIZE);
  checkReturned('posix_spawnattr_init', 'posix_spawnattr_init', [Type.BigInt], [attributes.address]);
  // Signals 1–64 all back to default. Not sigfillset(): it leaves out glibc's internal signals (32
  // and 33), which posix_spawn then sets to ignored in the child, and ignored survives the exec.
  const everySignal = allocate(SIGSET_SIZE);
  everySignal.bytes.fill(0xff, 0, 8);
  checkReturned('posix_spawnattr_setsigdefault', 'posix_spawnattr_setsigdefault', [Type.BigInt, Type.BigInt], [attributes.address, everySignal.address]);
  const noSignal = allocate(SIGSET_SIZE);
  checkReturned('posix_spawnattr_setsigmask', 'posix_spawnattr_setsigmask', [Type.BigInt, Type.BigInt], [attributes.address, noSignal.address]);
  checkReturned('posix_spawnattr_setflags', 'posix_spawnattr_setflags', [Type.BigInt, Type.I32], [attributes.address, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK]);
  const pid = allocate(4);
  checkReturned(`posix_spawn(${path})`, 'posix_spawn', [Type.BigInt, Type.BigInt, Type.BigInt, Type.BigInt, Type.BigInt, Type.BigInt], [
    pid.address,
    cString(path),
    actions.address,
    attributes.address,
    cStringArray(argv),
    cStringArray(env),
  ]);
  return pid.bytes.readInt32LE(0);
}

const P_ALL = 0;
const WEXITED = 4;
const WNOHANG = 1;
const ECHILD = 10;
const SIGINFO_SIZE = 128;
const SI_CODE_OFFSET = 8;
const SI_PID_OFFSET = 16;
const SI_STATUS_OFFSET = 24;
const CLD_EXITED = 1;

let siginfo: { address: bigint; bytes: Buffer } | undefined;

export type ChildEnd = { kind: 'exit'; code: number } | { kind: 'signal'; signal: number };

/**
 * Reaps one child that has ended, if any: its pid and how it ended (exit code, or the signal that
 * killed it). PID 1 calls it on SIGCHLD until it returns undefined, for its command and for the
 * orphans the kernel makes its children.
 */
export function reapExitedChild(): { pid: number; end: ChildEnd } | undefined {
  siginfo ??= allocate(SIGINFO_SIZE);
  siginfo.bytes.fill(0);
  const { value, errnoCode } = call('waitid', Type.I32, [Type.I32, Type.I32, Type.BigInt, Type.I32], [P_ALL, 0, siginfo.address, WEXITED | WNOHANG]);
  if (value === -1) {
    if (errnoCode === ECHILD) return undefined;
    throw new SyscallError('waitid', errnoCode);
  }
  const pid = siginfo.bytes.readInt32LE(SI_PID_OFFSET);
  if (pid === 0) return undefined;
  const status = siginfo.bytes.readInt32LE(SI_STATUS_OFFSET);
  return { pid, end: siginfo.bytes.readInt32LE(SI_CODE_OFFSET) === CLD_EXITED ? { kind: 'exit', code: status } : { kind: 'signal', signal: status } };
}

const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const F_GETFL = 3;
const F_SETFL = 4;
const F_SETPIPE_SZ = 1031;

/** A pipe, both ends close-on-exec (a child gets an end only through dup2, which clears the flag). */
export function pipe(): { read: number; write: number } {
  const fds = allocate(8);
  check('pipe2', 'pipe2', [Type.BigInt, Type.I32], [fds.address, O_CLOEXEC]);
  return { read: fds.bytes.readInt32LE(0), write: fds.bytes.readInt32LE(4) };
}

/** O_NONBLOCK on one open file: the other end of a pipe, which a child gets, stays blocking. */
export function setNonBlocking(fd: number, name: string): void {
  const flags = check(`fcntl(${name}, F_GETFL)`, 'fcntl', [Type.I32, Type.I32], [fd, F_GETFL]);
  check(`fcntl(${name}, F_SETFL)`, 'fcntl', [Type.I32, Type.I32, Type.I32], [fd, F_SETFL, flags | O_NONBLOCK]);
}

/** Resizes a pipe's buffer (up to /proc/sys/fs/pipe-max-size): fewer, larger copies through it. */
export function setPipeSize(fd: number, bytes: number): void {
  check(`fcntl(F_SETPIPE_SZ, ${bytes})`, 'fcntl', [Type.I32, Type.I32, Type.I32], [fd, F_SETPIPE_SZ, bytes]);
}

const EINTR = 4;

/**
 * read(2) of one descriptor on a thread of its own, so PID 1 goes on (reaping, relaying) while it
 * waits for the host. One read at a time: the memory is allocated once and reused.
 */
export class ThreadReader {
  private readonly fd: number;
  private readonly name: string;
  private readonly memory: { address: bigint; bytes: Buffer };

  constructor(fd: number, name: string, bytes = 4096) {
    this.fd = fd;
    this.name = name;
    this.memory = allocate(bytes);
  }

  /** The next bytes that came; empty at end of file. */
  async read(): Promise<Buffer> {
    for (;;) {
      const { value, errnoCode } = await callInThread('read', Type.I64, [Type.I32, Type.BigInt, Type.U64], [this.fd, this.memory.address, this.memory.bytes.length]);
      if (value !== -1) return Buffer.from(this.memory.bytes.subarray(0, Number(value)));
      if (errnoCode !== EINTR) throw new SyscallError(`read(${this.name})`, errnoCode);
    }
  }
}

export const POLL = { IN: 0x1, OUT: 0x4, ERR: 0x8, HUP: 0x10 } as const;
const POLLFD_SIZE = 8;
const MAX_POLLED = 16;

let pollTable: { address: bigint; bytes: Buffer } | undefined;

/**
 * poll(2) on a thread of libuv's pool, so PID 1 keeps reaping and forwarding signals while it
 * waits; resolves with each entry's revents. One caller at a time: the table is shared.
 */
export async function pollInThread(entries: readonly { fd: number; events: number }[]): Promise<number[]> {
  if (entries.length > MAX_POLLED) throw new Error(`poll: ${entries.length} descriptors, at most ${MAX_POLLED}`);
  pollTable ??= allocate(POLLFD_SIZE * MAX_POLLED);
  const table = pollTable;
  entries.forEach(({ fd, events }, index) => {
    table.bytes.writeInt32LE(fd, POLLFD_SIZE * index);
    table.bytes.writeInt16LE(events, POLLFD_SIZE * index + 4);
    table.bytes.writeInt16LE(0, POLLFD_SIZE * index + 6);
  });
  for (;;) {
    const { value, errnoCode } = await callInThread('poll', Type.I32, [Type.BigInt, Type.U64, Type.I32], [table.address, entries.length, -1]);
    if (value !== -1) break;
    // A signal for PID 1 may land on the pool's thread.
    if (errnoCode !== EINTR) throw new SyscallError('poll', errnoCode);
  }
  return entries.map((_, index) => table.bytes.readInt16LE(POLLFD_SIZE * index + 6));
}

