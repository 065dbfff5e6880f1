/**
 * `--pull POLICY` and `--tls-verify=BOOL`, podman's options for where an image comes from, as both
 * CLIs parse them. Absent options stay absent: the defaults (missing, true) are applied where the
 * image is opened.
 */
import { UsageError } from '../../usage.ts';

export type PullPolicy = 'always' | 'missing' | 'never';
export const PULL_POLICIES: readonly PullPolicy[] = ['always', 'missing', 'never'];

export interface PullChoice {
  pull?: PullPolicy;
  tlsVerify?: boolean;
}

export function parsePullPolicy(value: string): PullPolicy {
  if (!(PULL_POLICIES as readonly string[]).includes(value)) throw new UsageError(`--pull must be ${PULL_POLICIES.join(', ')}, not "${value}"`);
  return value as PullPolicy;
}

/** `--tls-verify` alone is true, as podman's boolean flags are. */
export function parseTlsVerify(value: string): boolean {
  if (value === '' || value === 'true') return true;
  if (value === 'false') return false;
  throw new UsageError(`--tls-verify must be true or false, not "${value}"`);
}

/** The choice as an options object; a usage error when there is no --image to apply it to. */
export function pullChoice(pull: string | undefined, tlsVerify: string | undefined, image: boolean): PullChoice {
  if (!image && (pull !== undefined || tlsVerify !== undefined)) throw new UsageError(`${pull !== undefined ? '--pull' : '--tls-verify'} applies to --image only`);
  return {
    ...(pull !== undefined ? { pull: parsePullPolicy(pull) } : {}),
    ...(tlsVerify !== undefined ? { tlsVerify: parseTlsVerify(tlsVerify) } : {}),
  };
}
