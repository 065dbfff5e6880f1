/**
 * Which manifest of an image index to use. The VM runs the host's kind of kernel, so by default
 * linux/amd64; an index that names no platforms must hold exactly one image to be unambiguous.
 */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export const DEFAULT_PLATFORM: Readonly<Platform> = { os: 'linux', architecture: 'amd64' };

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Readonly<Record<string, string>>;
}

export function formatPlatform({ os, architecture, variant }: Platform): string {
  return [os, architecture, variant].filter(Boolean).join('/');
}

/** "linux/arm64/v8" → { os, architecture, variant }. */
export function parsePlatform(text: string): Platform {
  const [os, architecture, variant, ...rest] = text.split('/');
  if (!os || !architecture || rest.length > 0 || variant === '') {
    throw new Error(`platform "${text}" is not OS/ARCHITECTURE[/VARIANT] (e.g. linux/amd64)`);
  }
  return variant ? { os, architecture, variant } : { os, architecture };
}

export function platformMatches(offered: Platform, wanted: Platform): boolean {
  return offered.os === wanted.os && offered.architecture === wanted.architecture
    && (wanted.variant === undefined || offered.variant === wanted.variant);
}

function label(descriptor: Descriptor): string {
  const name = descriptor.annotations?.['org.opencontainers.image.ref.name'];
  return name ? `${descriptor.digest} (${name})` : descriptor.digest;
}

/**
 * The descriptor to follow among an index's `manifests` (all of them image manifests or indexes):
 * the first one for `wanted`, else the only one that names no platform.
 */
export function selectDescriptor(descriptors: readonly Descriptor[], wanted: Platform, where: string): Descriptor {
  const match = descriptors.find((descriptor) => descriptor.platform && platformMatches(descriptor.platform, wanted));
  if (match) return match;
  const unnamed = descriptors.filter((descriptor) => !descriptor.platform);
  if (unnamed.length === 1) return unnamed[0] as Descriptor;
  if (descriptors.length === 0) throw new Error(`${where} lists no images`);
  if (unnamed.length > 1) {
    throw new Error(`${where} holds ${unnamed.length} images and names no platform for them, so none can be chosen: ${unnamed.map(label).join(', ')}`);
  }
  const offered = descriptors.map((descriptor) => formatPlatform(descriptor.platform as Platform));
  throw new Error(`${where} has no image for ${formatPlatform(wanted)}; it offers ${[...new Set(offered)].join(', ')} (choose one with the platform option)`);
}
