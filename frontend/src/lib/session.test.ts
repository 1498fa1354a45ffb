import { describe, expect, it } from 'vitest';
import { avatar } from './images';
import { refreshDelay, tokenExpiry } from './session';

function jwt(payload: object) {
  const b64 = (o: object) => btoa(JSON.stringify(o)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  return `${b64({ alg: 'EdDSA' })}.${b64(payload)}.signature`;
}

describe('session timing', () => {
  it('reads exp from a token and nothing from garbage', () => {
    expect(tokenExpiry(jwt({ exp: 1_900_000_000, sub: 'u' }))).toBe(1_900_000_000);
    expect(tokenExpiry('not-a-jwt')).toBeNull();
    expect(tokenExpiry('a.!!!.c')).toBeNull();
  });

  it('refreshes a minute early, or at half-life for short tokens, never in a busy loop', () => {
    const now = 1_000_000;
    expect(refreshDelay(now + 15 * 60_000, now)).toBe(14 * 60_000);
    expect(refreshDelay(now + 60_000, now)).toBe(30_000);
    expect(refreshDelay(now - 5_000, now)).toBe(1_000);
  });
});

describe('avatar', () => {
  it('keeps http(s) images and replaces anything else with the default', () => {
    expect(avatar('https://example.com/a.jpg')).toBe('https://example.com/a.jpg');
    expect(avatar('https://example.com/img.jpg"onerror="alert(1)')).toBe('https://example.com/img.jpg"onerror="alert(1)');
    for (const bad of [null, '', 'javascript:alert(1)', 'data:text/html,<script>alert(1)</script>', 'JaVaScRiPt:x']) {
      expect(avatar(bad)).toBe('/default-avatar.svg');
    }
  });
});
