'use client';

// Client-side routing over the History API. The export is one page; the
// gateway answers every page path with it, and this decides what to show.

import { type AnchorHTMLAttributes, type MouseEvent, useSyncExternalStore } from 'react';

const NAVIGATE = 'cloudsec:navigate';

function subscribe(listener: () => void) {
  window.addEventListener('popstate', listener);
  window.addEventListener(NAVIGATE, listener);
  return () => {
    window.removeEventListener('popstate', listener);
    window.removeEventListener(NAVIGATE, listener);
  };
}

const current = () => window.location.pathname + window.location.search;

export interface Location {
  pathname: string;
  query: URLSearchParams;
}

/** The current path and query; re-renders on every navigation. */
export function useLocation(): Location {
  const href = useSyncExternalStore(subscribe, current, () => '/');
  const url = new URL(href, 'http://app.invalid');
  return { pathname: url.pathname, query: url.searchParams };
}

export function navigate(to: string, options: { replace?: boolean } = {}) {
  if (to === current() && !options.replace) return;
  if (options.replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  window.scrollTo(0, 0);
  window.dispatchEvent(new Event(NAVIGATE));
}

/** An <a> that navigates in the app (a modified click still opens a new tab). */
export function Link({ href, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const handle = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    event.preventDefault();
    navigate(href);
  };
  return <a href={href} onClick={handle} {...rest} />;
}

export type Route =
  | { page: 'home'; feed: 'global' | 'following'; tag?: string; pageNumber: number }
  | { page: 'login' }
  | { page: 'register' }
  | { page: 'settings' }
  | { page: 'editor'; slug?: string }
  | { page: 'article'; slug: string }
  | { page: 'profile'; username: string; favorites: boolean }
  | { page: 'not-found' };

function pageNumber(query: URLSearchParams): number {
  const n = Number(query.get('page'));
  return Number.isInteger(n) && n > 1 ? n : 1;
}

function segment(raw: string): string | null {
  try {
    const decoded = decodeURIComponent(raw);
    return decoded ? decoded : null;
  } catch {
    return null;
  }
}

/** Which page a location shows. */
export function match({ pathname, query }: Location): Route {
  const parts = pathname.replace(/\/+$/, '').split('/').slice(1);
  const [first, second, third] = parts;
  const arg = second === undefined ? null : segment(second);
  switch (parts.length === 0 || first === '' ? '' : first) {
    case '':
      return { page: 'home', feed: query.get('feed') === 'following' ? 'following' : 'global', pageNumber: pageNumber(query) };
    case 'tag':
      if (parts.length === 2 && arg) return { page: 'home', feed: 'global', tag: arg, pageNumber: pageNumber(query) };
      break;
    case 'login':
      if (parts.length === 1) return { page: 'login' };
      break;
    case 'register':
      if (parts.length === 1) return { page: 'register' };
      break;
    case 'settings':
      if (parts.length === 1) return { page: 'settings' };
      break;
    case 'editor':
      if (parts.length === 1) return { page: 'editor' };
      if (parts.length === 2 && arg) return { page: 'editor', slug: arg };
      break;
    case 'article':
      if (parts.length === 2 && arg) return { page: 'article', slug: arg };
      break;
    case 'profile':
      if (parts.length === 2 && arg) return { page: 'profile', username: arg, favorites: false };
      if (parts.length === 3 && arg && third === 'favorites') return { page: 'profile', username: arg, favorites: true };
      break;
  }
  return { page: 'not-found' };
}
