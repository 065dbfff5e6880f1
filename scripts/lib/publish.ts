/**
 * -p/--publish: a guest port reachable from the host, as podman spells it
 * (`[HOSTIP:][HOSTPORT:]GUESTPORT[/tcp|/udp]`), forwarded by qemu's user-mode network. HOSTIP
 * defaults to 127.0.0.1, not podman's 0.0.0.0: a test VM's server should not be on the network
 * unless asked. An empty or 0 HOSTPORT is chosen here (qemu cannot report a port it chose), and a
 * host port that is taken is found before anything boots.
 */
import { createSocket } from 'node:dgram';
import { createServer, isIPv4 } from 'node:net';
import { UsageError } from './usage.ts';

export type Protocol = 'tcp' | 'udp';

export interface PublishSpec {
  /** As given, for messages. */
  text: string;
  hostIp: string;
  /** 0: chosen when the VM starts. */
  hostPort: number;
  guestPort: number;
  protocol: Protocol;
}

export const DEFAULT_HOST_IP = '127.0.0.1';

function port(spec: string, what: string, text: string, allowZero: boolean): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value > 65535 || (value === 0 && !allowZero)) {
    throw new UsageError(`-p ${spec}: ${what} must be a port number from ${allowZero ? 0 : 1} to 65535, not "${text}"`);
  }
  return value;
}

/** One -p SPEC, checked against the ones before it. */
export function parsePublishSpec(spec: string, earlier: readonly PublishSpec[]): PublishSpec {
  const slash = spec.lastIndexOf('/');
  const protocol = slash < 0 ? 'tcp' : spec.slice(slash + 1);
  if (protocol !== 'tcp' && protocol !== 'udp') throw new UsageError(`-p ${spec}: the protocol must be tcp or udp, not "${protocol}"`);
  const fields = (slash < 0 ? spec : spec.slice(0, slash)).split(':');
  if (fields.length > 3) throw new UsageError(`-p ${spec}: expected [HOSTIP:][HOSTPORT:]GUESTPORT[/tcp|/udp] (an IPv4 HOSTIP)`);
  const [hostIp = DEFAULT_HOST_IP, hostPortText = '', guestPortText = ''] = fields.length === 3 ? fields : fields.length === 2 ? [undefined, ...fields] : [undefined, undefined, ...fields];
  const ip = hostIp === '' ? DEFAULT_HOST_IP : hostIp;
  if (!isIPv4(ip)) throw new UsageError(`-p ${spec}: HOSTIP must be an IPv4 address, not "${hostIp}"`);
  const parsed: PublishSpec = {
    text: spec,
    hostIp: ip,
    hostPort: hostPortText === '' ? 0 : port(spec, 'HOSTPORT', hostPortText, true),
    guestPort: port(spec, 'GUESTPORT', guestPortText, false),
    protocol,
  };
  const same = earlier.find(
    (other) => other.protocol === parsed.protocol && other.hostPort !== 0 && other.hostPort === parsed.hostPort && (other.hostIp === parsed.hostIp || other.hostIp === '0.0.0.0' || parsed.hostIp === '0.0.0.0'),
  );
  if (same) throw new UsageError(`-p ${spec}: host port ${parsed.hostPort}/${parsed.protocol} is already published by -p ${same.text}`);
  return parsed;
}

export interface Published extends PublishSpec {
  /** The host port qemu listens on: the given one, or one chosen here. */
  boundPort: number;
}

/** Binds (and releases) hostIp:port to see that it is free, or to have the kernel choose one (port 0). */
function probePort(protocol: Protocol, hostIp: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    if (protocol === 'udp') {
      const socket = createSocket('udp4');
      socket.once('error', reject);
      socket.bind(port, hostIp, () => {
        const bound = socket.address().port;
        socket.close(() => resolve(bound));
      });
      return;
    }
    const server = createServer();
    server.once('error', reject);
    server.listen({ port, host: hostIp, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : port;
      server.close(() => resolve(bound));
    });
  });
}

function portProblem(spec: PublishSpec, cause: NodeJS.ErrnoException): string {
  const where = `${spec.hostIp}:${spec.hostPort}/${spec.protocol}`;
  switch (cause.code) {
    case 'EADDRINUSE':
      return `-p ${spec.text}: host port ${where} is in use`;
    case 'EACCES':
      return `-p ${spec.text}: host port ${where} needs privileges (ports below 1024 are root's)`;
    case 'EADDRNOTAVAIL':
      return `-p ${spec.text}: ${spec.hostIp} is not an address of this host`;
    default:
      return `-p ${spec.text}: cannot listen on ${where}: ${cause.message}`;
  }
}

/** Every spec with the host port qemu is to listen on; a taken port is an error naming it. */
export async function choosePorts(specs: readonly PublishSpec[]): Promise<Published[]> {
  const published: Published[] = [];
  for (const spec of specs) {
    const boundPort = await probePort(spec.protocol, spec.hostIp, spec.hostPort).catch((cause: NodeJS.ErrnoException) => {
      throw new Error(portProblem(spec, cause));
    });
    published.push({ ...spec, boundPort });
  }
  return published;
}

/** qemu's hostfwd= value for one published port (the guest address is the user network's default). */
export function hostForward(port: Published): string {
  return `${port.protocol}:${port.hostIp}:${port.boundPort}-:${port.guestPort}`;
}

/** The --publish-file contents: one JSON object per port, in the order given. */
export function publishFileText(ports: readonly Published[]): string {
  const rows = ports.map(({ protocol, hostIp, boundPort, guestPort }) => ({ protocol, hostIp, hostPort: boundPort, guestPort }));
  return `${JSON.stringify(rows, null, 2)}\n`;
}
