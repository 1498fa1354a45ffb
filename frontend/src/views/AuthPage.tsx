'use client';

import { type FormEvent, useState } from 'react';
import { ErrorList } from '@/components/common';
import { request } from '@/lib/api';
import { messagesOf } from '@/lib/hooks';
import { Link, navigate, useLocation } from '@/lib/router';
import { type User, exclusively, signedIn } from '@/lib/session';

/** Where to go after signing in: `?next=` when it is a page of this site, else home. */
export function nextPath(query: URLSearchParams, origin = window.location.origin): string {
  const next = query.get('next') ?? '';
  if (!next.startsWith('/')) return '/';
  try {
    // As the browser would read it (tabs and newlines dropped, `\` as `/`).
    const url = new URL(next, origin);
    return url.origin === origin ? url.pathname + url.search + url.hash : '/';
  } catch {
    return '/';
  }
}

/** Sign in and sign up: one form, the username only when signing up. */
export function AuthPage({ mode }: { mode: 'login' | 'register' }) {
  const register = mode === 'register';
  const { query } = useLocation();
  const next = nextPath(query);
  const [errors, setErrors] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const user: Record<string, string> = {
      email: String(form.get('email') ?? ''),
      password: String(form.get('password') ?? ''),
    };
    if (register) user.username = String(form.get('username') ?? '');
    setBusy(true);
    setErrors([]);
    try {
      await exclusively(async () => {
        const answer = await request<{ user: User & { token: string } }>(
          'POST',
          register ? '/api/users' : '/api/users/login',
          { user },
        );
        signedIn(answer.user);
      });
      navigate(next);
    } catch (error) {
      setErrors(messagesOf(error).messages);
      setBusy(false);
    }
  };

  return (
    <div className="auth-page">
      <div className="container page">
        <div className="row">
          <div className="col-md-6 offset-md-3 col-xs-12">
            <h1 className="text-xs-center">{register ? 'Sign up' : 'Sign in'}</h1>
            <p className="text-xs-center">
              {register ? <Link href="/login">Have an account?</Link> : <Link href="/register">Need an account?</Link>}
            </p>
            <ErrorList messages={errors} />
            <form onSubmit={submit}>
              <fieldset disabled={busy}>
                {register && (
                  <fieldset className="form-group">
                    <input
                      className="form-control form-control-lg"
                      type="text"
                      name="username"
                      placeholder="Username"
                      autoComplete="username"
                      required
                    />
                  </fieldset>
                )}
                <fieldset className="form-group">
                  <input
                    className="form-control form-control-lg"
                    type="email"
                    name="email"
                    placeholder="Email"
                    autoComplete="email"
                    required
                  />
                </fieldset>
                <fieldset className="form-group">
                  <input
                    className="form-control form-control-lg"
                    type="password"
                    name="password"
                    placeholder="Password"
                    autoComplete={register ? 'new-password' : 'current-password'}
                    required
                  />
                </fieldset>
                <button className="btn btn-lg btn-primary pull-xs-right" type="submit">
                  {register ? 'Sign up' : 'Sign in'}
                </button>
              </fieldset>
            </form>
          </div>
        </div>
      </div>
    </div>
  );
}
