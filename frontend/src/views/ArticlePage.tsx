'use client';

import { type FormEvent, useMemo, useState } from 'react';
import { FavoriteButton, FollowButton } from '@/components/Buttons';
import { AuthorInfo, Avatar, ErrorList, Failed, Loading, TagList, formatDate } from '@/components/common';
import { type Article, type Comment, articles } from '@/lib/api';
import { messagesOf, useRequest, useSession } from '@/lib/hooks';
import { renderMarkdown } from '@/lib/markdown';
import { Link, navigate } from '@/lib/router';

function ArticleMeta({ article, onChange }: { article: Article; onChange: (a: Article) => void }) {
  const { user } = useSession();
  const [errors, setErrors] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const own = user?.username === article.author.username;

  const remove = async () => {
    setBusy(true);
    setErrors([]);
    try {
      await articles.remove(article.slug);
      navigate('/');
    } catch (error) {
      setErrors(messagesOf(error).messages);
      setBusy(false);
    }
  };

  return (
    <div className="article-meta">
      <AuthorInfo author={article.author} date={article.createdAt} />
      {own ? (
        <span>
          <Link className="btn btn-outline-secondary btn-sm" href={`/editor/${encodeURIComponent(article.slug)}`}>
            <i className="ion-edit" aria-hidden="true" /> Edit Article
          </Link>{' '}
          <button type="button" className="btn btn-outline-danger btn-sm" disabled={busy} onClick={remove}>
            <i className="ion-trash-a" aria-hidden="true" /> Delete Article
          </button>
          <ErrorList messages={errors} />
        </span>
      ) : (
        <span>
          <FollowButton
            profile={article.author}
            onChange={author => onChange({ ...article, author: { ...article.author, following: author.following } })}
          />{' '}
          <FavoriteButton article={article} onChange={changed => onChange({ ...changed, author: article.author })} />
        </span>
      )}
    </div>
  );
}

function CommentCard({ slug, comment, onDeleted }: { slug: string; comment: Comment; onDeleted: () => void }) {
  const { user } = useSession();
  const [error, setError] = useState<string[]>([]);
  const profile = `/profile/${encodeURIComponent(comment.author.username)}`;
  const remove = async () => {
    setError([]);
    try {
      await articles.removeComment(slug, comment.id);
      onDeleted();
    } catch (e) {
      setError(messagesOf(e).messages);
    }
  };
  return (
    <div className="card">
      <div className="card-block">
        <p className="card-text">{comment.body}</p>
      </div>
      <div className="card-footer">
        <Link href={profile} className="comment-author">
          <Avatar image={comment.author.image} className="comment-author-img" alt={comment.author.username} />
        </Link>
        &nbsp;
        <Link href={profile} className="comment-author">
          {comment.author.username}
        </Link>
        <span className="date-posted">{formatDate(comment.createdAt)}</span>
        {user?.username === comment.author.username && (
          <span className="mod-options">
            <i
              className="ion-trash-a"
              role="button"
              tabIndex={0}
              aria-label="Delete comment"
              onClick={remove}
              onKeyDown={e => (e.key === 'Enter' || e.key === ' ') && remove()}
            />
          </span>
        )}
        <ErrorList messages={error} />
      </div>
    </div>
  );
}

function Comments({ slug }: { slug: string }) {
  const { user, state } = useSession();
  const { load, reload, set } = useRequest(`comments:${slug}`, () => articles.comments(slug));
  const [text, setText] = useState('');
  const [errors, setErrors] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);

  const post = async (event: FormEvent) => {
    event.preventDefault();
    if (!text.trim()) return;
    setBusy(true);
    setErrors([]);
    try {
      const comment = await articles.comment(slug, text);
      setText('');
      set([comment, ...(load.status === 'loaded' ? load.data : [])]);
    } catch (error) {
      setErrors(messagesOf(error).messages);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="row">
      <div className="col-xs-12 col-md-8 offset-md-2">
        {user ? (
          <>
            <ErrorList messages={errors} />
            <form className="card comment-form" onSubmit={post}>
              <div className="card-block">
                <textarea
                  className="form-control"
                  placeholder="Write a comment..."
                  rows={3}
                  value={text}
                  onChange={e => setText(e.target.value)}
                  disabled={busy}
                />
              </div>
              <div className="card-footer">
                <Avatar image={user.image} className="comment-author-img" alt={user.username} />
                <button className="btn btn-sm btn-primary" type="submit" disabled={busy}>
                  Post Comment
                </button>
              </div>
            </form>
          </>
        ) : state === 'loading' ? null : (
          <p className="sign-in-to-comment">
            <Link href={`/login?next=${encodeURIComponent(`/article/${slug}`)}`}>Sign in</Link> or{' '}
            <Link href={`/register?next=${encodeURIComponent(`/article/${slug}`)}`}>sign up</Link> to add comments on
            this article.
          </p>
        )}
        {load.status === 'loading' && <Loading what="comments" />}
        {load.status === 'failed' && <Failed messages={load.messages} onRetry={reload} />}
        {load.status === 'loaded' &&
          load.data.map(comment => (
            <CommentCard
              key={comment.id}
              slug={slug}
              comment={comment}
              onDeleted={() => load.status === 'loaded' && set(load.data.filter(c => c.id !== comment.id))}
            />
          ))}
      </div>
    </div>
  );
}

function Body({ markdown }: { markdown: string }) {
  const html = useMemo(() => renderMarkdown(markdown), [markdown]);
  // renderMarkdown escapes raw HTML and sanitizes the rest (see lib/markdown.ts).
  return <div className="article-body" dangerouslySetInnerHTML={{ __html: html }} />;
}

export function ArticlePage({ slug }: { slug: string }) {
  const { state } = useSession();
  const { load, reload, set } = useRequest(state === 'loading' ? null : `article:${slug}`, () => articles.get(slug));
  if (load.status === 'loading') return <Loading what="the article" />;
  if (load.status === 'failed') {
    return (
      <div className="container page">
        <Failed
          messages={load.httpStatus === 404 ? ['This article does not exist (or was deleted).'] : load.messages}
          onRetry={load.httpStatus === 404 ? undefined : reload}
        />
      </div>
    );
  }
  const article = load.data;
  return (
    <div className="article-page">
      <div className="banner">
        <div className="container">
          <h1>{article.title}</h1>
          <ArticleMeta article={article} onChange={set} />
        </div>
      </div>
      <div className="container page">
        <div className="row article-content">
          <div className="col-md-12">
            <Body markdown={article.body} />
            <TagList tags={article.tagList} />
          </div>
        </div>
        <hr />
        <div className="article-actions">
          <ArticleMeta article={article} onChange={set} />
        </div>
        <Comments slug={slug} />
      </div>
    </div>
  );
}
