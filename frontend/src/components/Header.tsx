'use client';

import { useSession } from '@/lib/hooks';
import { Link, useLocation } from '@/lib/router';
import { Avatar } from './common';

function NavLink({ href, children }: { href: string; children: React.ReactNode }) {
  const { pathname } = useLocation();
  return (
    <li className="nav-item">
      <Link href={href} className={`nav-link${pathname === href ? ' active' : ''}`}>
        {children}
      </Link>
    </li>
  );
}

export function Header() {
  const { state, user } = useSession();
  return (
    <nav className="navbar navbar-light">
      <div className="container">
        <Link className="navbar-brand" href="/">
          conduit
        </Link>
        <ul className="nav navbar-nav pull-xs-right">
          <NavLink href="/">Home</NavLink>
          {user ? (
            <>
              <NavLink href="/editor">
                <i className="ion-compose" aria-hidden="true" />
                &nbsp;New Article
              </NavLink>
              <NavLink href="/settings">
                <i className="ion-gear-a" aria-hidden="true" />
                &nbsp;Settings
              </NavLink>
              <NavLink href={`/profile/${encodeURIComponent(user.username)}`}>
                <Avatar image={user.image} className="user-pic" alt="" />
                {user.username}
              </NavLink>
            </>
          ) : state === 'loading' ? null : (
            <>
              <NavLink href="/login">Sign in</NavLink>
              <NavLink href="/register">Sign up</NavLink>
            </>
          )}
        </ul>
      </div>
    </nav>
  );
}

export function Footer() {
  return (
    <footer>
      <div className="container">
        <Link href="/" className="logo-font">
          conduit
        </Link>
        <span className="attribution">
          An interactive learning project from <a href="https://thinkster.io">Thinkster</a>. Code &amp; design licensed
          under MIT.
        </span>
      </div>
    </footer>
  );
}
