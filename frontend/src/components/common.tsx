'use client';

import { avatar } from '@/lib/images';
import { Link } from '@/lib/router';

export function ErrorList({ messages }: { messages: string[] }) {
  if (messages.length === 0) return null;
  return (
    <ul className="error-messages" role="alert">
      {messages.map(message => (
        <li key={message}>{message}</li>
      ))}
    </ul>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <div className="loading" role="status" aria-live="polite">
      Loading {what}…
    </div>
  );
}

/** A failed request: what went wrong, and a way to try again. */
export function Failed({ messages, onRetry }: { messages: string[]; onRetry?: () => void }) {
  return (
    <div className="load-failed">
      <ErrorList messages={messages} />
      {onRetry && (
        <button type="button" className="btn btn-sm btn-outline-secondary" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Avatar({ image, className, alt }: { image: string | null | undefined; className?: string; alt: string }) {
  // eslint-disable-next-line @next/next/no-img-element -- avatars are user-given URLs; there is no image optimizer in a static export
  return <img src={avatar(image)} className={className} alt={alt} referrerPolicy="no-referrer" />;
}

export function formatDate(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  return date.toLocaleDateString('en-US', { month: 'long', day: 'numeric', year: 'numeric' });
}

/** An author's avatar, name (`.author`) and date, as article metas show them. */
export function AuthorInfo({ author, date }: { author: { username: string; image: string | null }; date: string }) {
  const profile = `/profile/${encodeURIComponent(author.username)}`;
  return (
    <>
      <Link href={profile}>
        <Avatar image={author.image} alt={author.username} />
      </Link>
      <div className="info">
        <Link href={profile} className="author">
          {author.username}
        </Link>
        <span className="date">{formatDate(date)}</span>
      </div>
    </>
  );
}

/** An article's tags, as outlined pills (nothing when it has none). */
export function TagList({ tags }: { tags: string[] }) {
  if (tags.length === 0) return null;
  return (
    <ul className="tag-list">
      {tags.map(tag => (
        <li key={tag} className="tag-default tag-pill tag-outline">
          {tag}
        </li>
      ))}
    </ul>
  );
}
