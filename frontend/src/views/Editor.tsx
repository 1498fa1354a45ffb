'use client';

import { type FormEvent, type KeyboardEvent, useState } from 'react';
import { ErrorList, Failed, Loading } from '@/components/common';
import { type Article, type ArticleDraft, articles } from '@/lib/api';
import { messagesOf, useRequest, useSession } from '@/lib/hooks';
import { navigate } from '@/lib/router';

function EditorForm({ initial, slug }: { initial: ArticleDraft; slug?: string }) {
  const [draft, setDraft] = useState(initial);
  const [tagInput, setTagInput] = useState('');
  const [errors, setErrors] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);

  const field = (name: 'title' | 'description' | 'body') => ({
    name,
    value: draft[name],
    onChange: (e: { target: { value: string } }) => setDraft(d => ({ ...d, [name]: e.target.value })),
  });

  const addTag = () => {
    const tag = tagInput.trim();
    if (tag && !draft.tagList.includes(tag)) setDraft(d => ({ ...d, tagList: [...d.tagList, tag] }));
    setTagInput('');
  };
  const onTagKey = (event: KeyboardEvent<HTMLInputElement>) => {
    if (event.key === 'Enter' || event.key === ',') {
      event.preventDefault();
      addTag();
    }
  };
  const removeTag = (tag: string) => setDraft(d => ({ ...d, tagList: d.tagList.filter(t => t !== tag) }));

  const publish = async (event?: FormEvent) => {
    event?.preventDefault();
    setBusy(true);
    setErrors([]);
    const pending = tagInput.trim();
    const tagList = pending && !draft.tagList.includes(pending) ? [...draft.tagList, pending] : draft.tagList;
    try {
      const saved = slug ? await articles.update(slug, { ...draft, tagList }) : await articles.create({ ...draft, tagList });
      navigate(`/article/${encodeURIComponent(saved.slug)}`);
    } catch (error) {
      setErrors(messagesOf(error).messages);
      setBusy(false);
    }
  };

  return (
    <>
      <ErrorList messages={errors} />
      <form onSubmit={publish}>
        <fieldset disabled={busy}>
          <fieldset className="form-group">
            <input className="form-control form-control-lg" type="text" placeholder="Article Title" {...field('title')} />
          </fieldset>
          <fieldset className="form-group">
            <input className="form-control" type="text" placeholder="What's this article about?" {...field('description')} />
          </fieldset>
          <fieldset className="form-group">
            <textarea className="form-control" rows={8} placeholder="Write your article (in markdown)" {...field('body')} />
          </fieldset>
          <fieldset className="form-group">
            <input
              className="form-control"
              type="text"
              placeholder="Enter tags"
              value={tagInput}
              onChange={e => setTagInput(e.target.value)}
              onKeyDown={onTagKey}
              onBlur={addTag}
            />
            <div className="tag-list">
              {draft.tagList.map(tag => (
                <span key={tag} className="tag-default tag-pill">
                  <i
                    className="ion-close-round"
                    role="button"
                    tabIndex={0}
                    aria-label={`Remove tag ${tag}`}
                    onClick={() => removeTag(tag)}
                    onKeyDown={e => (e.key === 'Enter' || e.key === ' ') && removeTag(tag)}
                  />{' '}
                  {tag}
                </span>
              ))}
            </div>
          </fieldset>
          <button className="btn btn-lg pull-xs-right btn-primary" type="submit">
            Publish Article
          </button>
        </fieldset>
      </form>
    </>
  );
}

const EMPTY: ArticleDraft = { title: '', description: '', body: '', tagList: [] };

function EditExisting({ slug }: { slug: string }) {
  const { user } = useSession();
  const { load, reload } = useRequest<Article>(`edit:${slug}`, () => articles.get(slug));
  if (load.status === 'loading') return <Loading what="the article" />;
  if (load.status === 'failed') return <Failed messages={load.messages} onRetry={reload} />;
  const article = load.data;
  if (user && article.author.username !== user.username) {
    return <ErrorList messages={['Only the author can edit this article.']} />;
  }
  const { title, description, body, tagList } = article;
  return <EditorForm key={slug} slug={slug} initial={{ title, description, body, tagList }} />;
}

export function Editor({ slug }: { slug?: string }) {
  return (
    <div className="editor-page">
      <div className="container page">
        <div className="row">
          <div className="col-md-10 offset-md-1 col-xs-12">
            {slug ? <EditExisting slug={slug} /> : <EditorForm key="new" initial={EMPTY} />}
          </div>
        </div>
      </div>
    </div>
  );
}
