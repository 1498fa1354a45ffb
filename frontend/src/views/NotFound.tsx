'use client';

import { Link } from '@/lib/router';

export function NotFound() {
  return (
    <div className="container page not-found">
      <h1>Page not found</h1>
      <p>
        There is nothing at this address. <Link href="/">Back to the home page</Link>.
      </p>
    </div>
  );
}
