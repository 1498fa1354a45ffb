'use client';

import { useCallback, useEffect, useState, useSyncExternalStore } from 'react';
import { ApiError, UNREACHABLE } from './api';
import { getServerSnapshot, getSnapshot, subscribe } from './session';

/** The signed-in user and the auth state, re-rendered on every change. */
export function useSession() {
  return useSyncExternalStore(subscribe, getSnapshot, getServerSnapshot);
}

export type Load<T> =
  | { status: 'loading' }
  | { status: 'failed'; messages: string[]; httpStatus: number }
  | { status: 'loaded'; data: T };

export function messagesOf(error: unknown): { messages: string[]; httpStatus: number } {
  if (error instanceof ApiError) return { messages: error.messages, httpStatus: error.status };
  return { messages: [UNREACHABLE], httpStatus: 0 };
}

/**
 * Runs `fetcher` whenever `key` changes (and when asked to reload); a
 * response for an older key is dropped, so a fast click never shows stale data.
 */
export function useRequest<T>(key: string | null, fetcher: () => Promise<T>) {
  const [load, setLoad] = useState<{ key: string | null; value: Load<T> }>({ key, value: { status: 'loading' } });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    if (key === null) return;
    let live = true;
    fetcher().then(
      data => live && setLoad({ key, value: { status: 'loaded', data } }),
      error => live && setLoad({ key, value: { status: 'failed', ...messagesOf(error) } }),
    );
    return () => {
      live = false;
    };
    // fetcher changes with every render; key says when the request is a new one.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, generation]);
  const reload = useCallback(() => {
    setLoad({ key, value: { status: 'loading' } });
    setGeneration(g => g + 1);
  }, [key]);
  const set = useCallback((data: T) => setLoad({ key, value: { status: 'loaded', data } }), [key]);
  const value: Load<T> = load.key === key ? load.value : { status: 'loading' };
  return { load: value, reload, set };
}
