//! `limit` and `offset`, the RealWorld paging parameters, bounded: every
//! listing costs at most `MAX_OFFSET + limit` rows to skip and read, so a
//! client cannot make one request read a whole table (docs/dynamodb.md).

use crate::error::{Error, Result};

/// The largest `offset` accepted.
pub const MAX_OFFSET: u32 = 10_000;

/// One page of a listing, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: u32,
    pub offset: u32,
}

pub struct Paging {
    default_limit: u32,
    max_limit: u32,
}

/// Article listings and the feed.
pub const ARTICLES: Paging = Paging {
    default_limit: 20,
    max_limit: 100,
};

/// An article's comments (the RealWorld API lists them all; here at most
/// 500 at a time, oldest first, `offset` for the rest).
pub const COMMENTS: Paging = Paging {
    default_limit: 500,
    max_limit: 500,
};

impl Paging {
    /// The page asked for, or 422 naming the parameter.
    pub fn parse(&self, limit: Option<&str>, offset: Option<&str>) -> Result<Page> {
        let limit = match limit {
            None => self.default_limit,
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if (1..=self.max_limit).contains(&n) => n,
                _ => {
                    return Err(Error::invalid(
                        "limit",
                        format!("must be an integer between 1 and {}", self.max_limit),
                    ));
                }
            },
        };
        let offset = match offset {
            None => 0,
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if n <= MAX_OFFSET => n,
                _ => {
                    return Err(Error::invalid(
                        "offset",
                        format!("must be an integer between 0 and {MAX_OFFSET}"),
                    ));
                }
            },
        };
        Ok(Page { limit, offset })
    }
}
