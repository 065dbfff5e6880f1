/**
 * The kernel command line as the init reads it. Pure: /proc/cmdline text in, a boot configuration out.
 *
 * Our own parameters besides the osbuild-compatible ones (rootfs=, mount=, mount-ro=, init=, rw, debug)
 * share the `virtinitrd.` prefix, like virtme's `virtme.`.
 */

import { isValidHostname } from './hostname.ts';

export interface Share {
  tag: string;
  readonly: boolean;
}

/**
 * virtinitrd.overlay=: the root share as the read-only lower layer of an overlayfs, with the upper
 * layer on a tmpfs (`tmpfs`, or `tmpfs:SIZE` in tmpfs's size= syntax) or on the ext4 filesystem of
 * the virtio disk with serial SERIAL (`disk:SERIAL`).
 */
export type OverlayConfig = { upper: 'tmpfs'; size?: string } | { upper: 'disk'; serial: string };

/** virtinitrd.net=ADDRESS/PREFIX,GATEWAY,DNS,MTU: the first network interface's IPv4 setup, as the host's back end provides it. */
export interface NetConfig {
  address: string;
  prefix: number;
  gateway: string;
  dns: string;
  mtu: number;
}

export interface BootConfig {
  rootfs: string;
  /**
   * The command line named the root (rootfs= or root=…rootfstype=virtiofs). When it did not and the
   * initramfs holds a whole system, that system is the root and no share is mounted.
   */
  rootfsNamed: boolean;
  rw: boolean;
  shares: Share[];
  /**
   * init=: the program exec'd as PID 1 after the switch. Not named: /bin/sh, or, in a whole-system
   * initramfs made from an image, that image's process (run-request.ts).
   */
  init?: string;
  initArgs: string[];
  debug: boolean;
  /**
   * Run mode (virtinitrd.run): chrootvm sends a command over the control port (control-protocol.ts),
   * which the init runs as its child instead of exec'ing init=.
   */
  run: boolean;
  /** virtinitrd.hostname=: the VM's name; otherwise the root's /etc/hostname, else localhost. */
  hostname?: string;
  /** How long each share may take to appear (virtinitrd.share_timeout=); the init's default otherwise. */
  shareTimeoutSeconds?: number;
  overlay?: OverlayConfig;
  net?: NetConfig;
}

export const RUN_PARAMETER = 'virtinitrd.run';
export const SHARE_TIMEOUT_PARAMETER = 'virtinitrd.share_timeout';
export const HOSTNAME_PARAMETER = 'virtinitrd.hostname';
export const OVERLAY_PARAMETER = 'virtinitrd.overlay';
export const NET_PARAMETER = 'virtinitrd.net';

export class CmdlineError extends Error {
  constructor(message: string) {
    super(`kernel command line: ${message}`);
    this.name = 'CmdlineError';
  }
}

/**
 * Splits like the kernel's next_arg() (lib/cmdline.c): whitespace separates, a double quote protects
 * whitespace, and only the quotes that open a token or a value (and the matching last one) are removed.
 */
export function splitCmdline(text: string): string[] {
  const words: string[] = [];
  let index = 0;
  while (index < text.length) {
    while (index < text.length && isSpace(text[index]!)) index++;
    if (index >= text.length) break;
    let start = index;
    let inQuote = false;
    let quoted = false;
    if (text[index] === '"') {
      start = ++index;
      inQuote = quoted = true;
    }
    let equals = -1;
    while (index < text.length && (inQuote || !isSpace(text[index]!))) {
      // next_arg() keeps `equals` 0 for "not found", so a leading "=" does not start a value.
      if (equals < 0 && index > start && text[index] === '=') equals = index;
      if (text[index] === '"') inQuote = !inQuote;
      index++;
    }
    let word = text.slice(start, index);
    if (equals >= 0 && text[equals + 1] === '"') {
      const valueStart = equals + 1 - start;
      word = word.slice(0, valueStart) + word.slice(valueStart + 1);
      if (word.endsWith('"')) word = word.slice(0, -1);
    } else if (quoted && word.endsWith('"')) {
      word = word.slice(0, -1);
    }
    words.push(word);
    index++;
  }
  return words;
}

/** The kernel's isspace(): \v, \f and \r separate words too. */
function isSpace(character: string): boolean {
  return ' \t\n\v\f\r'.includes(character);
}

/**
 * What is wrong with a virtiofs tag, if anything. A tag becomes a directory name under /run/mnt and
 * a word on the kernel command line; the kernel caps tags at 36 bytes.
 */
export function tagProblem(tag: string): string | undefined {
  if (tag === '') return 'a tag cannot be empty';
  if (Buffer.byteLength(tag) > 36) return 'a virtiofs tag is at most 36 bytes';
  if (/[\s"/]/.test(tag) || tag === '.' || tag === '..') return 'a tag cannot contain "/", quotes or whitespace, or be "." or ".."';
  return undefined;
}

export function checkTag(parameter: string, tag: string): string {
  const problem = tagProblem(tag);
  if (problem) throw new CmdlineError(`${parameter}=${tag}: ${problem}`);
  return tag;
}

export function parseCmdline(text: string): BootConfig {
  const words = splitCmdline(text);
  const separator = words.indexOf('--');
  const config: BootConfig = {
    rootfs: 'rootfs',
    rootfsNamed: false,
    rw: false,
    shares: [],
    initArgs: separator < 0 ? [] : words.slice(separator + 1),
    debug: false,
    run: false,
  };
  const tagsSeen = new Set<string>();
  let rootfsTag: string | undefined;
  let rootDevice: string | undefined;
  let rootType: string | undefined;
  const addShare = (parameter: string, tag: string, readonly: boolean) => {
    checkTag(parameter, tag);
    if (tagsSeen.has(tag)) throw new CmdlineError(`${parameter}=${tag}: tag "${tag}" is already mounted`);
    tagsSeen.add(tag);
    config.shares.push({ tag, readonly });
  };

  for (const word of separator < 0 ? words : words.slice(0, separator)) {
    const equals = word.indexOf('=');
    const key = equals < 0 ? word : word.slice(0, equals);
    const value = equals < 0 ? undefined : word.slice(equals + 1);
    switch (key) {
      case 'rootfs':
        rootfsTag = checkTag('rootfs', value ?? '');
        break;
      case 'root':
        rootDevice = value;
        break;
      case 'rootfstype':
        rootType = value;
        break;
      case 'mount':
        addShare('mount', value ?? '', false);
        break;
      case 'mount-ro':
        addShare('mount-ro', value ?? '', true);
        break;
      case 'init':
        if (!value) throw new CmdlineError('init= needs a path');
        config.init = value;
        break;
      case 'rw':
        config.rw = true;
        break;
      case 'ro':
        config.rw = false;
        break;
      case 'debug':
        config.debug = true;
        break;
      case RUN_PARAMETER:
        if (value !== undefined) throw new CmdlineError(`${RUN_PARAMETER} takes no value (the command comes over the control port)`);
        config.run = true;
        break;
      case HOSTNAME_PARAMETER:
        if (!isValidHostname(value ?? '')) throw new CmdlineError(`${HOSTNAME_PARAMETER}= must be a valid host name, not "${value ?? ''}"`);
        config.hostname = value;
        break;
      case SHARE_TIMEOUT_PARAMETER:
        config.shareTimeoutSeconds = parseSeconds(SHARE_TIMEOUT_PARAMETER, value ?? '');
        break;
      case OVERLAY_PARAMETER:
        config.overlay = parseOverlay(value ?? '');
        break;
      case NET_PARAMETER:
        config.net = parseNet(value ?? '');
        break;
    }
  }
  if (config.overlay && config.rw) throw new CmdlineError(`rw and ${OVERLAY_PARAMETER} cannot be given together: the overlay is the writable root`);
  // osbuild boots with `root=rootfs rootfstype=virtiofs` and no rootfs=: the kernel's own way of
  // naming a virtiofs root. rootfs= wins when both are given.
  const named = rootfsTag ?? (rootType === 'virtiofs' && rootDevice ? checkTag('root', rootDevice) : undefined);
  if (named !== undefined) {
    config.rootfs = named;
    config.rootfsNamed = true;
  }
  if (tagsSeen.has(config.rootfs)) throw new CmdlineError(`tag "${config.rootfs}" is both the rootfs and a mount`);
  return config;
}

/** tmpfs's size= syntax: a number of bytes with an optional k, m or g, or a percentage of memory. */
const TMPFS_SIZE = /^[1-9][0-9]*[kmgKMG%]?$/;

function parseOverlay(value: string): OverlayConfig {
  const [upper, argument, ...rest] = value.split(':');
  if (upper === 'tmpfs' && rest.length === 0) {
    if (argument === undefined) return { upper: 'tmpfs' };
    if (TMPFS_SIZE.test(argument)) return { upper: 'tmpfs', size: argument };
  }
  if (upper === 'disk' && rest.length === 0 && argument && /^[A-Za-z0-9._-]{1,20}$/.test(argument)) return { upper: 'disk', serial: argument };
  throw new CmdlineError(`${OVERLAY_PARAMETER}=${value}: expected tmpfs, tmpfs:SIZE (as tmpfs's size=, e.g. 512m or 50%) or disk:SERIAL (a virtio disk's serial, at most 20 characters)`);
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function parseNet(value: string): NetConfig {
  const [cidr = '', gateway = '', dns = '', mtu = '', ...rest] = value.split(',');
  const [address = '', prefix = ''] = cidr.split('/');
  const valid = rest.length === 0 && IPV4.test(address) && /^\d+$/.test(prefix) && Number(prefix) >= 1 && Number(prefix) <= 32
    && IPV4.test(gateway) && IPV4.test(dns) && /^\d+$/.test(mtu) && Number(mtu) >= 68 && Number(mtu) <= 65535;
  if (!valid) throw new CmdlineError(`${NET_PARAMETER}=${value}: expected ADDRESS/PREFIX,GATEWAY,DNS,MTU (IPv4, e.g. 10.0.2.15/24,10.0.2.2,10.0.2.3,1500)`);
  return { address, prefix: Number(prefix), gateway, dns, mtu: Number(mtu) };
}

function formatOverlay(overlay: OverlayConfig): string {
  if (overlay.upper === 'disk') return `disk:${overlay.serial}`;
  return overlay.size === undefined ? 'tmpfs' : `tmpfs:${overlay.size}`;
}

/** A positive number of seconds, fractions allowed. */
function parseSeconds(parameter: string, value: string): number {
  const seconds = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !(seconds > 0)) throw new CmdlineError(`${parameter}=${value}: expected a number of seconds greater than 0`);
  return seconds;
}

/** The kernel has no escape for `"`, and whitespace or quotes in a tag would not survive splitting. */
function quoteValue(what: string, value: string): string {
  if (value.includes('"')) throw new CmdlineError(`${what} cannot contain a double quote: ${value}`);
  // An empty word needs quotes too, or joining the words drops it.
  return value === '' || /\s/.test(value) ? `"${value}"` : value;
}

/**
 * The kernel command line words that make the init boot `config`: the inverse of parseCmdline for the
 * parameters the init owns (console and other kernel parameters are the caller's).
 */
export function formatBootParameters(config: BootConfig): string[] {
  const words = config.rootfsNamed ? [`rootfs=${quoteValue('rootfs tag', checkTag('rootfs', config.rootfs))}`] : [];
  if (config.rw) words.push('rw');
  for (const share of config.shares) {
    const key = share.readonly ? 'mount-ro' : 'mount';
    words.push(`${key}=${quoteValue(`${key} tag`, checkTag(key, share.tag))}`);
  }
  if (config.init !== undefined) words.push(`init=${quoteValue('init', config.init)}`);
  if (config.debug) words.push('debug');
  if (config.run) words.push(RUN_PARAMETER);
  if (config.shareTimeoutSeconds !== undefined) words.push(`${SHARE_TIMEOUT_PARAMETER}=${config.shareTimeoutSeconds}`);
  if (config.hostname !== undefined) words.push(`${HOSTNAME_PARAMETER}=${config.hostname}`);
  if (config.overlay !== undefined) words.push(`${OVERLAY_PARAMETER}=${formatOverlay(config.overlay)}`);
  if (config.net !== undefined) {
    const { address, prefix, gateway, dns, mtu } = config.net;
    words.push(`${NET_PARAMETER}=${address}/${prefix},${gateway},${dns},${mtu}`);
  }
  if (config.initArgs.length > 0) words.push('--', ...config.initArgs.map((arg) => quoteValue('init argument', arg)));
  return words;
}
