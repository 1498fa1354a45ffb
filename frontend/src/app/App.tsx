'use client';

import { useEffect } from 'react';
import { Footer, Header } from '@/components/Header';
import { Loading } from '@/components/common';
import { useSession } from '@/lib/hooks';
import { type Route, match, navigate, useLocation } from '@/lib/router';
import { retry, start } from '@/lib/session';
import { ArticlePage } from '@/views/ArticlePage';
import { AuthPage } from '@/views/AuthPage';
import { Editor } from '@/views/Editor';
import { Home } from '@/views/Home';
import { NotFound } from '@/views/NotFound';
import { ProfilePage } from '@/views/ProfilePage';
import { Settings } from '@/views/Settings';

const SIGNED_IN_ONLY: Route['page'][] = ['settings', 'editor'];

function View({ route }: { route: Route }) {
  switch (route.page) {
    case 'home':
      return <Home feed={route.feed} tag={route.tag} pageNumber={route.pageNumber} />;
    case 'login':
    case 'register':
      return <AuthPage key={route.page} mode={route.page} />;
    case 'settings':
      return <Settings />;
    case 'editor':
      return <Editor key={route.slug ?? 'new'} slug={route.slug} />;
    case 'article':
      return <ArticlePage key={route.slug} slug={route.slug} />;
    case 'profile':
      return <ProfilePage key={route.username} username={route.username} favorites={route.favorites} />;
    case 'not-found':
      return <NotFound />;
  }
}

function Unavailable() {
  return (
    <div className="session-unavailable" role="alert">
      Could not reach the sign-in service; you are browsing signed out.{' '}
      <button type="button" className="btn btn-sm btn-outline-secondary" onClick={retry}>
        Try again
      </button>
    </div>
  );
}

export function App() {
  const location = useLocation();
  const route = match(location);
  const { state } = useSession();
  const guarded = SIGNED_IN_ONLY.includes(route.page);

  useEffect(start, []);
  useEffect(() => {
    if (guarded && (state === 'unauthenticated' || state === 'unavailable')) navigate('/login', { replace: true });
  }, [guarded, state]);

  return (
    <>
      <Header />
      {state === 'unavailable' && <Unavailable />}
      <main>{guarded && state !== 'authenticated' ? <Loading what="your session" /> : <View route={route} />}</main>
      <Footer />
    </>
  );
}
