'use client';

import { useEffect } from 'react';
import { ArticleList } from '@/components/ArticleList';
import { Failed, Loading } from '@/components/common';
import { type ArticleQuery, tags as tagsApi } from '@/lib/api';
import { useRequest, useSession } from '@/lib/hooks';
import { Link, navigate } from '@/lib/router';

function PopularTags() {
  const { load, reload } = useRequest('tags', tagsApi.list);
  return (
    <div className="sidebar">
      <p>Popular Tags</p>
      {load.status === 'loading' && <Loading what="tags" />}
      {load.status === 'failed' && <Failed messages={load.messages} onRetry={reload} />}
      {load.status === 'loaded' &&
        (load.data.length === 0 ? (
          <div className="tag-list-empty">No tags are here... yet.</div>
        ) : (
          <div className="tag-list">
            {load.data.map(tag => (
              <Link key={tag} href={`/tag/${encodeURIComponent(tag)}`} className="tag-pill tag-default">
                {tag}
              </Link>
            ))}
          </div>
        ))}
    </div>
  );
}

function withPage(base: string, n: number): string {
  if (n <= 1) return base;
  return base.includes('?') ? `${base}&page=${n}` : `${base}?page=${n}`;
}

export function Home({ feed, tag, pageNumber }: { feed: 'global' | 'following'; tag?: string; pageNumber: number }) {
  const { state, user } = useSession();
  const following = feed === 'following' && !tag;
  useEffect(() => {
    if (following && state === 'unauthenticated') navigate('/login', { replace: true });
  }, [following, state]);

  const base = tag ? `/tag/${encodeURIComponent(tag)}` : following ? '/?feed=following' : '/';
  const query: ArticleQuery = tag
    ? { kind: 'tag', tag, page: pageNumber }
    : following
      ? { kind: 'feed', page: pageNumber }
      : { kind: 'global', page: pageNumber };

  return (
    <div className="home-page">
      {!user && state !== 'loading' && (
        <div className="banner">
          <div className="container">
            <h1 className="logo-font">conduit</h1>
            <p>A place to share your knowledge.</p>
          </div>
        </div>
      )}
      <div className="container page">
        <div className="row">
          <div className="col-md-9">
            <div className="feed-toggle">
              <ul className="nav nav-pills outline-active">
                {user && (
                  <li className="nav-item">
                    <Link className={`nav-link${following ? ' active' : ''}`} href="/?feed=following">
                      Your Feed
                    </Link>
                  </li>
                )}
                <li className="nav-item">
                  <Link className={`nav-link${!following && !tag ? ' active' : ''}`} href="/">
                    Global Feed
                  </Link>
                </li>
                {tag && (
                  <li className="nav-item">
                    <Link className="nav-link active" href={base}>
                      <i className="ion-pound" aria-hidden="true" /> {tag}
                    </Link>
                  </li>
                )}
              </ul>
            </div>
            {state === 'loading' || (following && !user) ? (
              <Loading what="articles" />
            ) : (
              <ArticleList
                query={query}
                pageHref={n => withPage(base, n)}
                empty={
                  following ? (
                    <>
                      Your feed is empty. Follow some authors, or browse the <Link href="/">Global Feed</Link>.
                    </>
                  ) : (
                    'No articles are here... yet.'
                  )
                }
              />
            )}
          </div>
          <div className="col-md-3">
            <PopularTags />
          </div>
        </div>
      </div>
    </div>
  );
}
