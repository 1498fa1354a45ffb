'use client';

import { useState } from 'react';
import { type Article, type Profile, articles, profiles } from '@/lib/api';
import { messagesOf, useSession } from '@/lib/hooks';
import { navigate } from '@/lib/router';

/** Calls `action` once at a time; a signed-out user is sent to sign in instead. */
function useAction() {
  const { user } = useSession();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async (action: () => Promise<void>) => {
    if (!user) {
      navigate('/login');
      return;
    }
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (e) {
      setError(messagesOf(e).messages.join(' '));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run };
}

function ActionError({ error }: { error: string | null }) {
  return error ? (
    <span className="action-error" role="alert">
      {error}
    </span>
  ) : null;
}

export function FavoriteButton({
  article,
  onChange,
  compact = false,
}: {
  article: Article;
  onChange: (article: Article) => void;
  compact?: boolean;
}) {
  const { busy, error, run } = useAction();
  const on = article.favorited;
  const toggle = () => run(async () => onChange(await articles.favorite(article.slug, !on)));
  const className = `btn btn-sm ${on ? 'btn-primary' : 'btn-outline-primary'}${compact ? ' pull-xs-right' : ''}`;
  return (
    <>
      <button
        type="button"
        className={className}
        disabled={busy}
        onClick={toggle}
        aria-pressed={on}
        aria-label={compact ? `${on ? 'Unfavorite' : 'Favorite'} article (${article.favoritesCount})` : undefined}
      >
        <i className="ion-heart" aria-hidden="true" />
        {compact ? (
          <> {article.favoritesCount}</>
        ) : (
          <>
            {' '}
            {on ? 'Unfavorite' : 'Favorite'} Article <span className="counter">({article.favoritesCount})</span>
          </>
        )}
      </button>
      <ActionError error={error} />
    </>
  );
}

export function FollowButton({ profile, onChange }: { profile: Profile; onChange: (profile: Profile) => void }) {
  const { busy, error, run } = useAction();
  const on = profile.following;
  const toggle = () => run(async () => onChange(await profiles.follow(profile.username, !on)));
  return (
    <>
      <button
        type="button"
        className={`btn btn-sm action-btn ${on ? 'btn-secondary' : 'btn-outline-secondary'}`}
        disabled={busy}
        onClick={toggle}
      >
        <i className="ion-plus-round" aria-hidden="true" />
        &nbsp;{on ? 'Unfollow' : 'Follow'} {profile.username}
      </button>
      <ActionError error={error} />
    </>
  );
}
