// Who is signed in, and the access token that proves it.
//
// The access token lives in this module's memory only: never in
// localStorage, sessionStorage or a cookie a script can read. What survives a
// reload is the refresh token, in an HttpOnly cookie scoped to /auth that no
// script can see; on load and before the access token expires the app trades
// it at POST /auth/token/refresh for a new access token (and the server
// rotates the cookie). Tabs share that cookie, so refreshes are serialized
// across tabs (Web Locks) — two tabs spending the same refresh token would
// look like a stolen token and end the session — and tabs tell each other
// about sign-in, sign-out and profile changes (BroadcastChannel; never the token).
// A visitor who never signed in here makes no refresh call at all: a
// non-secret flag in localStorage ("a session may exist") says whether to try.

export interface User {
  username: string;
  email: string;
  bio: string | null;
  image: string | null;
}

export type AuthState = 'loading' | 'authenticated' | 'unauthenticated' | 'unavailable';

interface Snapshot {
  state: AuthState;
  user: User | null;
}

let token: string | null = null;
let expiresAt = 0;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let snapshot: Snapshot = { state: 'loading', user: null };
const listeners = new Set<() => void>();
let channel: BroadcastChannel | null = null;
let started = false;

/** Refresh this long before the access token expires. */
const REFRESH_MARGIN_MS = 60_000;
const SERVER_SNAPSHOT: Snapshot = { state: 'loading', user: null };

type Message = { type: 'signed-in' } | { type: 'signed-out' } | { type: 'user'; user: User };

const HINT = 'cloudsec.session';

/** Whether this browser may hold a session cookie (a flag, never a credential). */
function hint(on?: boolean): boolean {
  try {
    if (on === true) window.localStorage.setItem(HINT, '1');
    if (on === false) window.localStorage.removeItem(HINT);
    return window.localStorage.getItem(HINT) === '1';
  } catch {
    return true; // storage blocked: just try
  }
}

function publish(next: Snapshot) {
  snapshot = next;
  listeners.forEach(listener => listener());
}

function broadcast(message: Message) {
  channel?.postMessage(message);
}

export function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function getSnapshot(): Snapshot {
  return snapshot;
}

export function getServerSnapshot(): Snapshot {
  return SERVER_SNAPSHOT;
}

/** Seconds-since-epoch `exp` of a JWT, read (not verified: the server verifies). */
export function tokenExpiry(jwt: string): number | null {
  const payload = jwt.split('.')[1];
  if (!payload) return null;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp : null;
  } catch {
    return null;
  }
}

/** When to refresh a token that expires at `expiresAtMs`, from `nowMs`. */
export function refreshDelay(expiresAtMs: number, nowMs: number): number {
  const lifetime = expiresAtMs - nowMs;
  // Short-lived tokens refresh at half their life, long ones a minute early.
  return Math.max(1_000, lifetime > 2 * REFRESH_MARGIN_MS ? lifetime - REFRESH_MARGIN_MS : lifetime / 2);
}

function holdToken(accessToken: string, expiresInSecs?: number) {
  token = accessToken;
  const exp = tokenExpiry(accessToken);
  expiresAt = exp !== null ? exp * 1000 : Date.now() + (expiresInSecs ?? 300) * 1000;
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    void refreshAccessToken().then(ok => {
      if (!ok) dropSession();
    });
  }, refreshDelay(expiresAt, Date.now()));
}

function dropSession(state: AuthState = 'unauthenticated') {
  if (state === 'unauthenticated') hint(false);
  token = null;
  expiresAt = 0;
  clearTimeout(refreshTimer);
  publish({ state, user: null });
}

/**
 * Runs `task` while holding the cross-tab session lock (where the browser has
 * Web Locks): refreshes, and sign-ins, whose new cookie a refresh answered
 * late in another tab must not overwrite.
 */
export async function exclusively<T>(task: () => Promise<T>): Promise<T> {
  if (typeof navigator !== 'undefined' && navigator.locks) {
    return navigator.locks.request('cloudsec-refresh', task);
  }
  return task();
}

type RefreshOutcome = 'refreshed' | 'no-session' | 'unreachable';

let inFlight: Promise<RefreshOutcome> | null = null;

async function refreshOnce(): Promise<RefreshOutcome> {
  return exclusively(async () => {
    let response: Response;
    try {
      response = await fetch('/auth/token/refresh', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { Accept: 'application/json' },
      });
    } catch {
      return 'unreachable';
    }
    if (response.ok) {
      const body = (await response.json().catch(() => null)) as { access_token?: string; expires_in?: number } | null;
      if (body?.access_token) {
        holdToken(body.access_token, body.expires_in);
        return 'refreshed';
      }
      return 'unreachable';
    }
    if (response.status >= 500 || response.status === 429) return 'unreachable';
    return 'no-session';
  });
}

/** Trades the refresh cookie for a new access token; one trade at a time. */
function refresh(): Promise<RefreshOutcome> {
  inFlight ??= refreshOnce().finally(() => {
    inFlight = null;
  });
  return inFlight;
}

async function refreshAccessToken(): Promise<boolean> {
  return (await refresh()) === 'refreshed';
}

async function loadUser(): Promise<boolean> {
  const response = await authorizedFetch('/api/user', { headers: { Accept: 'application/json' } }).catch(() => null);
  if (!response?.ok) return false;
  const body = (await response.json().catch(() => null)) as { user?: User & { token?: string } } | null;
  if (!body?.user) return false;
  publish({ state: 'authenticated', user: withoutToken(body.user) });
  return true;
}

function withoutToken(user: User & { token?: string }): User {
  return { username: user.username, email: user.email, bio: user.bio ?? null, image: user.image ?? null };
}

/** Restores the session from the refresh cookie, if there is one. */
async function restore() {
  if (!hint()) {
    dropSession();
    return;
  }
  const outcome = await refresh();
  if (outcome === 'refreshed') {
    if (!(await loadUser())) dropSession(token ? 'unavailable' : 'unauthenticated');
  } else {
    dropSession(outcome === 'unreachable' ? 'unavailable' : 'unauthenticated');
  }
}

/** Starts the session once per page: restore, listen to other tabs, expose the debug view. */
export function start() {
  if (started || typeof window === 'undefined') return;
  started = true;
  if (typeof BroadcastChannel !== 'undefined') {
    channel = new BroadcastChannel('cloudsec-session');
    channel.onmessage = (event: MessageEvent<Message>) => {
      const message = event.data;
      if (message.type === 'signed-out') dropSession();
      if (message.type === 'signed-in') void restore();
      if (message.type === 'user' && snapshot.user) publish({ state: snapshot.state, user: message.user });
    };
  }
  // The RealWorld e2e contract's debug view. It never hands out the token:
  // a script that can call it must not be able to take the session away.
  (window as unknown as { __conduit_debug__: unknown }).__conduit_debug__ = {
    getToken: () => null,
    getAuthState: () => snapshot.state,
    getCurrentUser: () => snapshot.user,
  };
  void restore();
}

/** Retries a failed restore (after "unavailable"). */
export function retry() {
  publish({ state: 'loading', user: null });
  void restore();
}

/** fetch() with the access token; on a 401 it refreshes once and tries again. */
export async function authorizedFetch(path: string, init: RequestInit = {}): Promise<Response> {
  const send = () => {
    const headers = new Headers(init.headers);
    if (token) headers.set('Authorization', `Token ${token}`);
    return fetch(path, { ...init, headers, credentials: 'same-origin' });
  };
  if (token && expiresAt - Date.now() < 5_000) await refresh();
  const hadToken = token !== null;
  const response = await send();
  if (response.status !== 401 || !hadToken) return response;
  const outcome = await refresh();
  if (outcome !== 'refreshed') {
    // No session any more, or none that can be checked right now.
    dropSession(outcome === 'unreachable' ? 'unavailable' : 'unauthenticated');
    return response;
  }
  return send();
}

/** After login or registration: the answer's token goes to memory, the user to every tab. */
export function signedIn(user: User & { token: string }) {
  hint(true);
  holdToken(user.token);
  publish({ state: 'authenticated', user: withoutToken(user) });
  broadcast({ type: 'signed-in' });
}

/** After a profile update. */
export function userChanged(user: User & { token?: string }) {
  if (user.token) holdToken(user.token);
  const next = withoutToken(user);
  publish({ state: 'authenticated', user: next });
  broadcast({ type: 'user', user: next });
}

/**
 * Ends the session on the server (with the access token, or the refresh
 * cookie alone), which clears the cookie, then here and in every tab. When
 * the server could not be told, nothing is dropped and the answer says why.
 */
export async function signOut(): Promise<{ ok: true } | { ok: false; status: number }> {
  const response = await authorizedFetch('/auth/logout', { method: 'POST' }).catch(() => null);
  // 401: no session left to end.
  if (response && (response.ok || response.status === 401)) {
    dropSession();
    broadcast({ type: 'signed-out' });
    return { ok: true };
  }
  return { ok: false, status: response?.status ?? 0 };
}
