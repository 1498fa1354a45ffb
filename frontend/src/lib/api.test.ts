import { afterEach, describe, expect, it, vi } from 'vitest';
import { articlesPath, errorMessages, request } from './api';

describe('errorMessages', () => {
  it('names the field of a RealWorld validation error', () => {
    expect(errorMessages(422, { errors: { email: ['has already been taken'] } }, null)).toEqual([
      'email has already been taken',
    ]);
    expect(errorMessages(422, { errors: { body: ["can't be empty"] } }, null)).toEqual(["can't be empty"]);
  });

  it('reads problem+json and OAuth errors', () => {
    expect(errorMessages(413, { title: 'Payload Too Large', detail: 'body over 1 MiB' }, null)).toEqual([
      'body over 1 MiB',
    ]);
    expect(errorMessages(400, { error: 'invalid_grant', error_description: 'bad token' }, null)).toEqual([
      'bad token',
    ]);
  });

  it('says when to retry after a rate limit', () => {
    expect(errorMessages(429, null, '2.5')).toEqual(['Too many requests: try again in 3 s.']);
    expect(errorMessages(429, null, null)).toEqual(['Too many requests: try again in a moment.']);
  });

  it('has a message for any status without a body', () => {
    expect(errorMessages(503, undefined, null)).toEqual(['The server had a problem. Try again in a moment.']);
    expect(errorMessages(404, undefined, null)).toEqual(['Not found.']);
    expect(errorMessages(418, undefined, null)).toEqual(['The request failed (HTTP 418).']);
  });
});

describe('articlesPath', () => {
  it('pages by ten and filters', () => {
    expect(articlesPath({ kind: 'global', page: 1 })).toBe('/api/articles?limit=10&offset=0');
    expect(articlesPath({ kind: 'feed', page: 3 })).toBe('/api/articles/feed?limit=10&offset=20');
    expect(articlesPath({ kind: 'tag', tag: 'a b&c', page: 2 })).toBe('/api/articles?limit=10&offset=10&tag=a+b%26c');
    expect(articlesPath({ kind: 'favorited', username: 'jo', page: 1 })).toBe(
      '/api/articles?limit=10&offset=0&favorited=jo',
    );
  });
});

describe('request', () => {
  afterEach(() => vi.unstubAllGlobals());

  const sent = async (method: string, body?: unknown) => {
    const fetch = vi.fn(async () => new Response('{}', { status: 200 }));
    vi.stubGlobal('fetch', fetch);
    await request(method, '/api/x', body);
    return (fetch.mock.calls[0] as unknown as [string, RequestInit])[1];
  };

  it('sends changes so that leaving the page does not cancel them', async () => {
    expect((await sent('POST')).keepalive).toBe(true);
    expect((await sent('DELETE')).keepalive).toBe(true);
    expect((await sent('PUT', { article: { body: 'short' } })).keepalive).toBe(true);
  });

  it('sends a change the ordinary way when the keep-alive quota is used up', async () => {
    const fetch = vi
      .fn()
      .mockRejectedValueOnce(new TypeError('keepalive quota exceeded'))
      .mockResolvedValueOnce(new Response('{}', { status: 200 }));
    vi.stubGlobal('fetch', fetch);
    await request('POST', '/api/x', { a: 1 });
    const inits = fetch.mock.calls.map((call) => (call as unknown as [string, RequestInit])[1]);
    expect(inits.map((init) => init.keepalive)).toEqual([true, false]);
  });

  it('leaves reads and long bodies as ordinary requests', async () => {
    expect((await sent('GET')).keepalive).toBeUndefined();
    expect((await sent('POST', { article: { body: 'x'.repeat(20_000) } })).keepalive).toBeUndefined();
  });
});
