import { describe, expect, it } from 'vitest';
import { nextPath } from '@/views/AuthPage';
import { match } from './router';

const at = (href: string) => {
  const url = new URL(href, 'http://app.invalid');
  return match({ pathname: url.pathname, query: url.searchParams });
};

describe('match', () => {
  it('maps every page of the selector contract', () => {
    expect(at('/')).toEqual({ page: 'home', feed: 'global', pageNumber: 1 });
    expect(at('/?feed=following&page=2')).toEqual({ page: 'home', feed: 'following', pageNumber: 2 });
    expect(at('/tag/rust%20lang?page=3')).toEqual({ page: 'home', feed: 'global', tag: 'rust lang', pageNumber: 3 });
    expect(at('/login')).toEqual({ page: 'login' });
    expect(at('/register')).toEqual({ page: 'register' });
    expect(at('/settings')).toEqual({ page: 'settings' });
    expect(at('/editor')).toEqual({ page: 'editor' });
    expect(at('/editor/my-slug')).toEqual({ page: 'editor', slug: 'my-slug' });
    expect(at('/article/my-slug')).toEqual({ page: 'article', slug: 'my-slug' });
    expect(at('/profile/jo')).toEqual({ page: 'profile', username: 'jo', favorites: false });
    expect(at('/profile/jo/favorites')).toEqual({ page: 'profile', username: 'jo', favorites: true });
  });

  it('sends anything else to "not found", bad pages to page 1', () => {
    for (const path of ['/nope', '/article', '/article/a/b', '/profile/jo/other', '/tag/%E0%A4%A', '/login/x']) {
      expect(at(path)).toEqual({ page: 'not-found' });
    }
    expect(at('/?page=-4')).toEqual({ page: 'home', feed: 'global', pageNumber: 1 });
    expect(at('/?page=abc')).toEqual({ page: 'home', feed: 'global', pageNumber: 1 });
  });
});

describe('nextPath', () => {
  it('follows only paths of this site', () => {
    const next = (value: string) => nextPath(new URLSearchParams({ next: value }));
    expect(next('/article/a-b')).toBe('/article/a-b');
    for (const bad of [
      '//evil.example/x',
      '/\\evil.example',
      '/\t/evil.example',
      '/\n/evil.example',
      'https://evil.example',
      'javascript:alert(1)',
      '',
    ]) {
      expect(next(bad)).toBe('/');
    }
    expect(nextPath(new URLSearchParams())).toBe('/');
  });
});
