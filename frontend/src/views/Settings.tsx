'use client';

import { type FormEvent, useState } from 'react';
import { ErrorList, Loading } from '@/components/common';
import { errorMessages, request, sessions, UNREACHABLE } from '@/lib/api';
import { messagesOf, useSession } from '@/lib/hooks';
import { navigate } from '@/lib/router';
import { type User, signOut, userChanged } from '@/lib/session';

/** The fields of the form that differ from `user` (the API changes only what it is sent). */
export function changes(user: User, form: FormData): Record<string, string> {
  const out: Record<string, string> = {};
  const text = (name: string) => String(form.get(name) ?? '');
  const image = text('image').trim();
  if (image !== (user.image ?? '')) out.image = image;
  const username = text('username').trim();
  if (username !== user.username) out.username = username;
  const bio = text('bio');
  if (bio !== (user.bio ?? '')) out.bio = bio;
  const email = text('email').trim();
  if (email !== user.email) out.email = email;
  const password = text('password');
  if (password) out.password = password;
  const current = text('current_password');
  if (current && (out.email !== undefined || out.password !== undefined)) out.current_password = current;
  return out;
}

function OtherSessions() {
  const [status, setStatus] = useState<{ busy: boolean; note: string | null; errors: string[] }>({
    busy: false,
    note: null,
    errors: [],
  });
  const endOthers = async () => {
    setStatus({ busy: true, note: null, errors: [] });
    try {
      const others = (await sessions.list()).filter(s => !s.current);
      await Promise.all(others.map(s => sessions.end(s.id)));
      setStatus({
        busy: false,
        note: others.length === 0 ? 'No other session was open.' : `Signed out of ${others.length} other session(s).`,
        errors: [],
      });
    } catch (error) {
      setStatus({ busy: false, note: null, errors: messagesOf(error).messages });
    }
  };
  return (
    <div className="other-sessions">
      <ErrorList messages={status.errors} />
      {status.note && (
        <p className="sessions-note" role="status">
          {status.note}
        </p>
      )}
      <button type="button" className="btn btn-outline-secondary" disabled={status.busy} onClick={endOthers}>
        Sign out of all other sessions
      </button>
    </div>
  );
}

function SettingsForm({ user }: { user: User }) {
  const [errors, setErrors] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const changed = changes(user, new FormData(event.currentTarget));
    setBusy(true);
    setErrors([]);
    try {
      let next = user;
      if (Object.keys(changed).length > 0) {
        const answer = await request<{ user: User & { token?: string } }>('PUT', '/api/user', { user: changed });
        userChanged(answer.user);
        next = answer.user;
      }
      navigate(`/profile/${encodeURIComponent(next.username)}`);
    } catch (error) {
      setErrors(messagesOf(error).messages);
      setBusy(false);
    }
  };

  const logout = async () => {
    setBusy(true);
    setErrors([]);
    const outcome = await signOut();
    if (outcome.ok) {
      navigate('/');
      return;
    }
    const why = outcome.status === 0 ? [UNREACHABLE] : errorMessages(outcome.status, null, null);
    setErrors([`You are still signed in: the server could not end your session. ${why.join(' ')}`]);
    setBusy(false);
  };

  return (
    <>
      <ErrorList messages={errors} />
      <form onSubmit={submit}>
        <fieldset disabled={busy}>
          <fieldset className="form-group">
            <input
              className="form-control"
              type="text"
              name="image"
              placeholder="URL of profile picture"
              defaultValue={user.image ?? ''}
            />
          </fieldset>
          <fieldset className="form-group">
            <input
              className="form-control form-control-lg"
              type="text"
              name="username"
              placeholder="Your Name"
              autoComplete="username"
              defaultValue={user.username}
            />
          </fieldset>
          <fieldset className="form-group">
            <textarea
              className="form-control form-control-lg"
              rows={8}
              name="bio"
              placeholder="Short bio about you"
              defaultValue={user.bio ?? ''}
            />
          </fieldset>
          <fieldset className="form-group">
            <input
              className="form-control form-control-lg"
              type="email"
              name="email"
              placeholder="Email"
              autoComplete="email"
              defaultValue={user.email}
            />
          </fieldset>
          <fieldset className="form-group">
            <input
              className="form-control form-control-lg"
              type="password"
              name="password"
              placeholder="New Password"
              autoComplete="new-password"
            />
          </fieldset>
          <fieldset className="form-group">
            <input
              className="form-control"
              type="password"
              name="current_password"
              placeholder="Current password (to change email or password)"
              autoComplete="current-password"
            />
          </fieldset>
          <button className="btn btn-lg btn-primary pull-xs-right" type="submit">
            Update Settings
          </button>
        </fieldset>
      </form>
      <hr />
      <OtherSessions />
      <hr />
      <button type="button" className="btn btn-outline-danger" disabled={busy} onClick={logout}>
        Or click here to logout.
      </button>
    </>
  );
}

export function Settings() {
  const { user } = useSession();
  return (
    <div className="settings-page">
      <div className="container page">
        <div className="row">
          <div className="col-md-6 offset-md-3 col-xs-12">
            <h1 className="text-xs-center">Your Settings</h1>
            {user ? <SettingsForm key={user.username} user={user} /> : <Loading what="your settings" />}
          </div>
        </div>
      </div>
    </div>
  );
}
