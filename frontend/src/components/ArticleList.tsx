'use client';

import { type Article, type ArticleQuery, PAGE_SIZE, articles } from '@/lib/api';
import { useRequest } from '@/lib/hooks';
import { Link } from '@/lib/router';
import { FavoriteButton } from './Buttons';
import { AuthorInfo, Failed, Loading, TagList } from './common';

export function ArticlePreview({ article, onChange }: { article: Article; onChange: (a: Article) => void }) {
  return (
    <div className="article-preview">
      <div className="article-meta">
        <AuthorInfo author={article.author} date={article.createdAt} />
        <FavoriteButton article={article} onChange={onChange} compact />
      </div>
      <Link href={`/article/${encodeURIComponent(article.slug)}`} className="preview-link">
        <h1>{article.title}</h1>
        <p>{article.description}</p>
        <span>Read more...</span>
        <TagList tags={article.tagList} />
      </Link>
    </div>
  );
}

/** The pages to link: all of few, else the first, the last and two either side of the current. */
export function pageWindow(pages: number, current: number): number[] {
  if (pages <= 9) return Array.from({ length: pages }, (_, i) => i + 1);
  const shown = new Set([1, pages]);
  for (let n = current - 2; n <= current + 2; n++) if (n >= 1 && n <= pages) shown.add(n);
  return [...shown].sort((a, b) => a - b);
}

/** Page links; `href(n)` makes each page's URL. */
function Pagination({ pages, current, href }: { pages: number; current: number; href: (n: number) => string }) {
  if (pages <= 1) return null;
  return (
    <nav aria-label="Pages">
      <ul className="pagination">
        {pageWindow(pages, current).map(n => (
          <li key={n} className={`page-item${n === current ? ' active' : ''}`}>
            <Link className="page-link" href={href(n)} aria-current={n === current ? 'page' : undefined}>
              {n}
            </Link>
          </li>
        ))}
      </ul>
    </nav>
  );
}

export function ArticleList({
  query,
  pageHref,
  empty,
}: {
  query: ArticleQuery;
  pageHref: (n: number) => string;
  empty: React.ReactNode;
}) {
  const key = JSON.stringify(query);
  const { load, reload, set } = useRequest(key, () => articles.list(query));
  if (load.status === 'loading') return <Loading what="articles" />;
  if (load.status === 'failed') return <Failed messages={load.messages} onRetry={reload} />;
  const { articles: list, articlesCount } = load.data;
  if (list.length === 0) return <div className="empty-feed-message">{empty}</div>;
  const replace = (changed: Article) =>
    set({ articlesCount, articles: list.map(a => (a.slug === changed.slug ? changed : a)) });
  return (
    <>
      {list.map(article => (
        <ArticlePreview key={article.slug} article={article} onChange={replace} />
      ))}
      <Pagination pages={Math.ceil(articlesCount / PAGE_SIZE)} current={query.page} href={pageHref} />
    </>
  );
}
