/**
 * `--image TEXT` as an extracted tree, the one way both CLIs open an image: a local path (an
 * existing one, or one starting with / or .) is extracted as it is; anything else is a registry
 * reference, pulled first into an OCI layout in the cache (registry/pull.ts) and extracted from there.
 */
import { existsSync } from 'node:fs';
import { cacheDirectory } from '../initrd-cache.ts';
import { DEFAULT_PLATFORM } from './platform.ts';
import { terminalProgress } from './registry/progress.ts';
import type { PullChoice } from './registry/pull-options.ts';
import { pullImage } from './registry/pull.ts';
import { isLocalImage, parseReference } from './registry/reference.ts';
import { resolveImage, type ResolvedImage } from './resolve-image.ts';

export interface OpenImageOptions extends PullChoice {
  /** The CLI's name, for progress lines. */
  program: string;
  /** --debug's log. */
  log?: (text: string) => void;
  /** Default: cacheDirectory(). */
  cacheDir?: string;
  /** Auth files to read (default: podman's list). */
  authFiles?: readonly string[];
}

// What a mistyped archive name looks like: as a reference it is an image on docker.io.
const ARCHIVE_NAME = /\.(tar|tar\.gz|tgz|tar\.zst|tar\.zstd)$/;

export async function openImage(text: string, options: OpenImageOptions): Promise<ResolvedImage> {
  const cacheDir = options.cacheDir ?? cacheDirectory();
  const log = options.log ?? (() => undefined);
  if (isLocalImage(text, existsSync)) return resolveImage(text, { cacheDir, log });
  const progress = terminalProgress(options.program);
  try {
    const layout = await pullImage(parseReference(text), {
      cacheDir,
      policy: options.pull ?? 'missing',
      tlsVerify: options.tlsVerify ?? true,
      platform: DEFAULT_PLATFORM,
      log,
      ...(options.authFiles ? { authFiles: options.authFiles } : {}),
      ...(progress ? { progress: progress.report } : {}),
    });
    return await resolveImage(layout, { cacheDir, log });
  } catch (cause) {
    if (cause instanceof Error && ARCHIVE_NAME.test(text)) cause.message += ` (and there is no file ${text} here)`;
    throw cause;
  } finally {
    progress?.end();
  }
}
