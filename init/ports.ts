/**
 * The virtio-serial ports chrootvm gives the VM, found by the name the host gave each
 * (/sys/class/virtio-ports/vportNpM/name). A port is a character device /dev/vportNpM that can be
 * open only once at a time (EBUSY).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { monotonicMs } from './clock.ts';
import { PORTS, type PortRole } from './control-protocol.ts';
import { sleepSync } from './sleep.ts';

const PORTS_DIRECTORY = '/sys/class/virtio-ports';
/** Ports appear once virtio_console has probed the device and the host has announced them. */
export const PORT_TIMEOUT_MS = 20_000;
const RETRY_INTERVAL_MS = 10;

/** The device of each named port present now. */
function presentPorts(): Map<string, string> {
  const found = new Map<string, string>();
  let entries: string[] = [];
  try {
    entries = readdirSync(PORTS_DIRECTORY);
  } catch {
    return found;
  }
  for (const entry of entries) {
    try {
      found.set(readFileSync(`${PORTS_DIRECTORY}/${entry}/name`, 'utf8').trim(), `/dev/${entry}`);
    } catch {
      // A port being added: its name comes a moment later.
    }
  }
  return found;
}

/** The device paths of the ports with these roles, waiting for each to appear (and its /dev node). */
export function findPorts<Role extends PortRole>(roles: readonly Role[], timeoutMs = PORT_TIMEOUT_MS): Record<Role, string> {
  const deadline = monotonicMs() + timeoutMs;
  for (;;) {
    const present = presentPorts();
    const missing = roles.filter((role) => !existsSync(present.get(PORTS[role]) ?? '/nonexistent'));
    if (missing.length === 0) return Object.fromEntries(roles.map((role) => [role, present.get(PORTS[role])!])) as Record<Role, string>;
    if (monotonicMs() >= deadline) {
      const names = missing.map((role) => PORTS[role]).join(', ');
      const seen = [...present.keys()].join(', ') || 'none';
      throw new Error(`virtio-serial port ${names} did not appear within ${timeoutMs / 1000} s (ports present: ${seen}; module virtio_console loaded?)`);
    }
    sleepSync(RETRY_INTERVAL_MS);
  }
}
