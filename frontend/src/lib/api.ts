// The platform's HTTP API as the UI uses it: one request function that knows
// the error shapes (RealWorld `{"errors": {field: [..]}}`, the gateway's
// problem+json, OAuth `{"error_description"}`), and one typed function per call.

import { authorizedFetch } from './session';

export interface Profile {
  username: string;
  bio: string | null;
  image: string | null;
  following: boolean;
}

export interface Article {
  slug: string;
  title: string;
  description: string;
  body: string;
  tagList: string[];
  createdAt: string;
  updatedAt: string;
  favorited: boolean;
  favoritesCount: number;
  author: Profile;
}

export interface Comment {
  id: number;
  createdAt: string;
  body: string;
  author: Profile;
}

export interface ArticleDraft {
  title: string;
  description: string;
  body: string;
  tagList: string[];
}

export interface Session {
  id: string;
  createdAt: number;
  lastUsedAt: number;
  userAgent: string | null;
  current: boolean;
}

/** A failed call, with messages fit to show the user. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly messages: string[],
  ) {
    super(messages.join('; '));
    this.name = 'ApiError';
  }
}

export const UNREACHABLE = 'Could not reach the server. Check your connection and try again.';

/** The messages a failed response carries, whatever its shape. */
export function errorMessages(status: number, body: unknown, retryAfter: string | null): string[] {
  if (status === 429) {
    const seconds = Number(retryAfter);
    return [
      Number.isFinite(seconds) && seconds > 0
        ? `Too many requests: try again in ${Math.ceil(seconds)} s.`
        : 'Too many requests: try again in a moment.',
    ];
  }
  if (body && typeof body === 'object') {
    const record = body as Record<string, unknown>;
    const errors = record.errors;
    if (errors && typeof errors === 'object') {
      const messages = Object.entries(errors as Record<string, unknown>).flatMap(([field, value]) => {
        const list = Array.isArray(value) ? value : [value];
        return list.map(message => (field === 'body' || field === 'error' ? String(message) : `${field} ${String(message)}`));
      });
      if (messages.length > 0) return messages;
    }
    for (const key of ['detail', 'error_description', 'title']) {
      if (typeof record[key] === 'string' && record[key]) return [record[key] as string];
    }
  }
  if (status === 401) return ['You need to sign in again.'];
  if (status === 403) return ['This request was refused.'];
  if (status === 404) return ['Not found.'];
  if (status >= 500) return ['The server had a problem. Try again in a moment.'];
  return [`The request failed (HTTP ${status}).`];
}

/** Longest request body (in UTF-16 units: at most 48 KiB as UTF-8) sent with
 * `keepalive`; browsers allow 64 KiB of such bodies in flight in all. */
const KEEPALIVE_BYTES = 16 * 1024;

/** Sends a JSON request (signed with the access token when there is one) and reads the JSON answer. */
export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)['Content-Type'] = 'application/json';
  }
  // A change the user asked for is sent even if they leave the page at once
  // (a favorite clicked just before following a link): browsers cancel
  // ordinary requests of a page being left. Keep-alive bodies are capped at
  // 64 KiB in flight, so long article bodies go as ordinary requests.
  if (method !== 'GET' && (typeof init.body !== 'string' || init.body.length <= KEEPALIVE_BYTES)) {
    init.keepalive = true;
  }
  let response: Response;
  try {
    response = await authorizedFetch(path, init).catch((e: unknown) => {
      // Over the browser's quota for keep-alive bodies: sent the ordinary way.
      if (!init.keepalive) throw e;
      init.keepalive = false;
      return authorizedFetch(path, init);
    });
  } catch {
    throw new ApiError(0, [UNREACHABLE]);
  }
  const text = await response.text().catch(() => '');
  let parsed: unknown = undefined;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
  }
  if (!response.ok) {
    throw new ApiError(response.status, errorMessages(response.status, parsed, response.headers.get('Retry-After')));
  }
  return parsed as T;
}

const PAGE_SIZE = 10;
export { PAGE_SIZE };

export type ArticleQuery =
  | { kind: 'global'; page: number }
  | { kind: 'feed'; page: number }
  | { kind: 'tag'; tag: string; page: number }
  | { kind: 'author'; username: string; page: number }
  | { kind: 'favorited'; username: string; page: number };

export function articlesPath(query: ArticleQuery): string {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String((query.page - 1) * PAGE_SIZE) });
  if (query.kind === 'tag') params.set('tag', query.tag);
  if (query.kind === 'author') params.set('author', query.username);
  if (query.kind === 'favorited') params.set('favorited', query.username);
  return `${query.kind === 'feed' ? '/api/articles/feed' : '/api/articles'}?${params}`;
}

const enc = encodeURIComponent;

export const articles = {
  list: (query: ArticleQuery) =>
    request<{ articles: Article[]; articlesCount: number }>('GET', articlesPath(query)),
  get: (slug: string) => request<{ article: Article }>('GET', `/api/articles/${enc(slug)}`).then(r => r.article),
  create: (draft: ArticleDraft) =>
    request<{ article: Article }>('POST', '/api/articles', { article: draft }).then(r => r.article),
  update: (slug: string, draft: ArticleDraft) =>
    request<{ article: Article }>('PUT', `/api/articles/${enc(slug)}`, { article: draft }).then(r => r.article),
  remove: (slug: string) => request<unknown>('DELETE', `/api/articles/${enc(slug)}`),
  favorite: (slug: string, on: boolean) =>
    request<{ article: Article }>(on ? 'POST' : 'DELETE', `/api/articles/${enc(slug)}/favorite`).then(r => r.article),
  comments: (slug: string) =>
    request<{ comments: Comment[] }>('GET', `/api/articles/${enc(slug)}/comments`).then(r => r.comments),
  comment: (slug: string, body: string) =>
    request<{ comment: Comment }>('POST', `/api/articles/${enc(slug)}/comments`, { comment: { body } }).then(
      r => r.comment,
    ),
  removeComment: (slug: string, id: number) =>
    request<unknown>('DELETE', `/api/articles/${enc(slug)}/comments/${id}`),
};

export const profiles = {
  get: (username: string) =>
    request<{ profile: Profile }>('GET', `/api/profiles/${enc(username)}`).then(r => r.profile),
  follow: (username: string, on: boolean) =>
    request<{ profile: Profile }>(on ? 'POST' : 'DELETE', `/api/profiles/${enc(username)}/follow`).then(
      r => r.profile,
    ),
};

export const tags = {
  list: () => request<{ tags: string[] }>('GET', '/api/tags').then(r => r.tags),
};

export const sessions = {
  list: () => request<{ sessions: Session[] }>('GET', '/auth/sessions').then(r => r.sessions),
  end: (id: string) => request<unknown>('DELETE', `/auth/sessions/${enc(id)}`),
};
