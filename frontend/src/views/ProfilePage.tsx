'use client';

import { ArticleList } from '@/components/ArticleList';
import { FollowButton } from '@/components/Buttons';
import { Avatar, Failed, Loading } from '@/components/common';
import { profiles } from '@/lib/api';
import { useRequest, useSession } from '@/lib/hooks';
import { Link, useLocation } from '@/lib/router';

export function ProfilePage({ username, favorites }: { username: string; favorites: boolean }) {
  const { state, user } = useSession();
  const { query } = useLocation();
  const pageNumber = Math.max(1, Number.parseInt(query.get('page') ?? '1', 10) || 1);
  const { load, reload, set } = useRequest(state === 'loading' ? null : `profile:${username}`, () =>
    profiles.get(username),
  );
  if (load.status === 'loading') return <Loading what="the profile" />;
  if (load.status === 'failed') {
    return (
      <div className="container page">
        <Failed
          messages={load.httpStatus === 404 ? [`There is no user called ${username}.`] : load.messages}
          onRetry={load.httpStatus === 404 ? undefined : reload}
        />
      </div>
    );
  }
  const profile = load.data;
  const base = `/profile/${encodeURIComponent(profile.username)}`;
  const tab = favorites ? `${base}/favorites` : base;
  return (
    <div className="profile-page">
      <div className="user-info">
        <div className="container">
          <div className="row">
            <div className="col-xs-12 col-md-10 offset-md-1">
              <Avatar image={profile.image} className="user-img" alt={profile.username} />
              <h4>{profile.username}</h4>
              <p>{profile.bio ?? ''}</p>
              {user?.username === profile.username ? (
                <Link href="/settings" className="btn btn-sm btn-outline-secondary action-btn">
                  <i className="ion-gear-a" aria-hidden="true" /> Edit Profile Settings
                </Link>
              ) : (
                <FollowButton profile={profile} onChange={set} />
              )}
            </div>
          </div>
        </div>
      </div>
      <div className="container">
        <div className="row">
          <div className="col-xs-12 col-md-10 offset-md-1">
            <div className="articles-toggle">
              <ul className="nav nav-pills outline-active">
                <li className="nav-item">
                  <Link className={`nav-link${favorites ? '' : ' active'}`} href={base}>
                    My Articles
                  </Link>
                </li>
                <li className="nav-item">
                  <Link className={`nav-link${favorites ? ' active' : ''}`} href={`${base}/favorites`}>
                    Favorited Articles
                  </Link>
                </li>
              </ul>
            </div>
            <ArticleList
              query={
                favorites
                  ? { kind: 'favorited', username: profile.username, page: pageNumber }
                  : { kind: 'author', username: profile.username, page: pageNumber }
              }
              pageHref={n => (n > 1 ? `${tab}?page=${n}` : tab)}
              empty="No articles are here... yet."
            />
          </div>
        </div>
      </div>
    </div>
  );
}
