import { describe, expect, it } from 'vitest';
import { pageWindow } from '@/components/ArticleList';
import { changes } from './Settings';

const user = { username: 'jo', email: 'jo@example.com', bio: null, image: null };

function form(fields: Record<string, string>) {
  const data = new FormData();
  const all = { image: '', username: 'jo', bio: '', email: 'jo@example.com', password: '', current_password: '', ...fields };
  for (const [k, v] of Object.entries(all)) data.set(k, v);
  return data;
}

describe('settings changes', () => {
  it('sends only what changed, so an unchanged email asks for no password', () => {
    expect(changes(user, form({}))).toEqual({});
    expect(changes(user, form({ bio: 'hi' }))).toEqual({ bio: 'hi' });
    expect(changes({ ...user, bio: 'old' }, form({ bio: '' }))).toEqual({ bio: '' });
  });

  it('sends the current password only with an email or password change', () => {
    expect(changes(user, form({ bio: 'x', current_password: 'secret' }))).toEqual({ bio: 'x' });
    expect(changes(user, form({ password: 'new one', current_password: 'secret' }))).toEqual({
      password: 'new one',
      current_password: 'secret',
    });
  });
});

describe('pageWindow', () => {
  it('lists few pages in full, many around the current one', () => {
    expect(pageWindow(3, 1)).toEqual([1, 2, 3]);
    expect(pageWindow(50, 1)).toEqual([1, 2, 3, 50]);
    expect(pageWindow(50, 25)).toEqual([1, 23, 24, 25, 26, 27, 50]);
  });
});
