//! The RealWorld JSON shapes, and assembling them from stored rows plus
//! profiles (from auth) plus the viewer's favorites and follows.

use std::collections::HashSet;
use std::sync::Arc;

use serde::Serialize;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::State;
use crate::error::{Error, Result};
use crate::profiles::Profile;
use crate::store::{Article, Comment};

/// ISO 8601 UTC with milliseconds, as the RealWorld spec's examples.
pub fn timestamp(ms: i64) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

pub fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

#[derive(Serialize)]
pub struct ProfileView {
    pub username: String,
    pub bio: Option<String>,
    pub image: Option<String>,
    pub following: bool,
}

impl ProfileView {
    pub fn of(profile: Option<&Profile>, following: bool) -> Self {
        match profile {
            Some(p) => Self {
                username: p.username.clone(),
                bio: p.bio.clone(),
                image: p.image.clone(),
                following,
            },
            // The author's account is gone; the content stays.
            None => Self {
                username: "[deleted]".into(),
                bio: None,
                image: None,
                following: false,
            },
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArticleView {
    pub slug: String,
    pub title: String,
    pub description: String,
    /// Absent in lists (the spec leaves it out of multiple-article responses).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    pub tag_list: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub favorited: bool,
    pub favorites_count: i64,
    pub author: ProfileView,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommentView {
    pub id: i64,
    pub created_at: String,
    pub updated_at: String,
    pub body: String,
    pub author: ProfileView,
}

impl State {
    /// Views of `articles` as `viewer` sees them; `with_body` for single-article
    /// responses. Authors in `known` are not looked up again.
    pub async fn article_views(
        &self,
        articles: Vec<Article>,
        viewer: Option<&str>,
        with_body: bool,
        known: Option<Arc<Profile>>,
    ) -> Result<Vec<ArticleView>> {
        let ids: Vec<String> = articles.iter().map(|a| a.id.clone()).collect();
        let authors: Vec<String> = articles.iter().map(|a| a.author_id.clone()).collect();
        let (profiles, favorited, following) =
            self.viewer_context(&authors, viewer, &ids, known).await?;
        Ok(articles
            .into_iter()
            .map(|a| ArticleView {
                favorited: favorited.contains(&a.id),
                author: ProfileView::of(
                    profiles.get(&a.author_id).map(AsRef::as_ref),
                    following.contains(&a.author_id),
                ),
                slug: a.slug,
                title: a.title,
                description: a.description,
                body: with_body.then_some(a.body),
                tag_list: a.tags,
                created_at: timestamp(a.created_at),
                updated_at: timestamp(a.updated_at),
                favorites_count: a.favorites_count,
            })
            .collect())
    }

    pub async fn comment_views(
        &self,
        comments: Vec<Comment>,
        viewer: Option<&str>,
        known: Option<Arc<Profile>>,
    ) -> Result<Vec<CommentView>> {
        let authors: Vec<String> = comments.iter().map(|c| c.author_id.clone()).collect();
        let (profiles, _, following) = self.viewer_context(&authors, viewer, &[], known).await?;
        Ok(comments
            .into_iter()
            .map(|c| CommentView {
                id: c.id,
                created_at: timestamp(c.created_at),
                updated_at: timestamp(c.updated_at),
                body: c.body,
                author: ProfileView::of(
                    profiles.get(&c.author_id).map(AsRef::as_ref),
                    following.contains(&c.author_id),
                ),
            })
            .collect())
    }

    /// A user's profile, looked up before a write (by `viewer`) whose answer
    /// shows it: if auth cannot be asked, the request fails (503) before
    /// anything is written.
    pub async fn profile_by_id(&self, id: &str, viewer: &str) -> Result<Arc<Profile>> {
        self.inner
            .profiles
            .by_ids(&[id.to_owned()], Some(viewer))
            .await
            .map_err(|_| Error::Unavailable("profile"))?
            .remove(id)
            .ok_or(Error::NotFound("profile"))
    }

    async fn viewer_context(
        &self,
        authors: &[String],
        viewer: Option<&str>,
        article_ids: &[String],
        known: Option<Arc<Profile>>,
    ) -> Result<(
        std::collections::HashMap<String, Arc<Profile>>,
        HashSet<String>,
        HashSet<String>,
    )> {
        let store = &self.inner.store;
        let unknown: Vec<String> = authors
            .iter()
            .filter(|id| known.as_ref().is_none_or(|p| &p.id != *id))
            .cloned()
            .collect();
        let profiles = self.inner.profiles.by_ids(&unknown, viewer);
        let (favorited, following) = match viewer {
            Some(viewer) => {
                let mut unique: Vec<String> = authors.to_vec();
                unique.sort();
                unique.dedup();
                let (f, g) = tokio::try_join!(
                    store.favorited(viewer, article_ids),
                    store.following(viewer, &unique)
                )?;
                (f, g)
            }
            None => (HashSet::new(), HashSet::new()),
        };
        let mut profiles = profiles.await.map_err(|_| Error::Unavailable("profile"))?;
        if let Some(known) = known {
            profiles.insert(known.id.clone(), known);
        }
        Ok((profiles, favorited, following))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_iso8601_utc_with_millis() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(1_455_765_776_637), "2016-02-18T03:22:56.637Z");
    }
}
