export const DEFAULT_AVATAR = '/default-avatar.svg';

/** An avatar URL fit for <img src>: http(s) or our own path; anything else is the default avatar. */
export function avatar(image: string | null | undefined): string {
  if (!image) return DEFAULT_AVATAR;
  try {
    const url = new URL(image, 'http://placeholder.invalid/');
    if (url.protocol === 'https:' || url.protocol === 'http:') return image;
  } catch {
    // not a URL
  }
  return DEFAULT_AVATAR;
}
