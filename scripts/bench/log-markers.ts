/**
 * Boot phases from a guest's console log. The kernel stamps its lines with printk time and the init
 * stamps its `debug` lines with CLOCK_MONOTONIC, both counted from boot, so one log gives one time
 * axis for the kernel's part and the init's part of a boot.
 */

/** The lines that mark where a phase begins or ends; the first line containing `text` wins. */
export const MARKERS = {
  kernelStart: { label: 'kernel start', text: 'Linux version ' },
  unpackStart: { label: 'initramfs unpack start', text: 'Trying to unpack rootfs image as initramfs...' },
  unpackEnd: { label: 'initramfs unpacked', text: 'Freeing initrd memory' },
  runInit: { label: '/init started', text: 'Run /init as init process' },
  jsStart: { label: 'JS started', text: 'init: init started' },
  // The init logs when each step starts, so the step after a phase marks the phase's end.
  modulesLoaded: { label: 'modules loaded', text: 'init: step: prepare the root' },
  sharesMounted: { label: 'shares mounted', text: 'init: step: switch root' },
  commandStarted: { label: 'command started', text: 'init: run [' },
  // --boot: the init hands over to the tree's own init.
  systemInit: { label: "the system's init started", text: 'init: exec ' },
  commandEnded: { label: 'command ended', text: 'init: command ended: ' },
  powerDown: { label: 'power down', text: 'reboot: Power down' },
} as const;

export type MarkerId = keyof typeof MARKERS;
export type Markers = Partial<Record<MarkerId, number>>;

/** A boot with the `debug` parameter, from the kernel's first line to the power-off, in order. */
export const BOOT_SEQUENCE: readonly MarkerId[] = [
  'kernelStart',
  'unpackStart',
  'unpackEnd',
  'runInit',
  'jsStart',
  'modulesLoaded',
  'sharesMounted',
  'commandStarted',
  'commandEnded',
  'powerDown',
];

const STAMPED = /^\[\s*(\d+\.\d+)\]\s?(.*)$/;

/** The time of the first line for each marker found in `log`; lines without a timestamp are skipped. */
export function findMarkers(log: string): Markers {
  const found: Markers = {};
  const ids = Object.keys(MARKERS) as MarkerId[];
  for (const raw of log.split('\n')) {
    const match = STAMPED.exec(raw.replace(/\r$/, ''));
    if (!match) continue;
    const [, seconds, text] = match;
    for (const id of ids) {
      if (found[id] === undefined && text!.includes(MARKERS[id].text)) found[id] = Number(seconds);
    }
  }
  return found;
}

/** The markers `ids` of `found`, or an error naming the first missing one and the log it was looked for in. */
export function requireMarkers<const Id extends MarkerId>(found: Markers, ids: readonly Id[], what: string): Record<Id, number> {
  const result = {} as Record<Id, number>;
  for (const id of ids) {
    const seconds = found[id];
    if (seconds === undefined) throw new Error(`${what}: no "${MARKERS[id].text}" line (${MARKERS[id].label})`);
    result[id] = seconds;
  }
  return result;
}

export interface Phase {
  /** "from → to", in the markers' labels. */
  name: string;
  start: number;
  end: number;
  seconds: number;
}

/** The phases between consecutive markers of `sequence`; every marker must be in `markers`. */
export function phasesOf(markers: Markers, sequence: readonly MarkerId[]): Phase[] {
  const times = requireMarkers(markers, sequence, 'phases');
  return sequence.slice(1).map((to, index) => {
    const from = sequence[index]!;
    return { name: `${MARKERS[from].label} → ${MARKERS[to].label}`, start: times[from], end: times[to], seconds: times[to] - times[from] };
  });
}

/** Seconds from marker `from` to marker `to`, or an error naming the one missing from `what`. */
export function span(markers: Markers, from: MarkerId, to: MarkerId, what: string): number {
  const times = requireMarkers(markers, [from, to], what);
  return times[to] - times[from];
}
