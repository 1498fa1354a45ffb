-- The total behind an unfiltered listing, kept by triggers: COUNT(*) over the
-- whole table would make every first page O(articles).
CREATE TABLE article_count (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO article_count (id, n) SELECT 1, COUNT(*) FROM articles;
CREATE TRIGGER article_count_insert AFTER INSERT ON articles
BEGIN
    UPDATE article_count SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER article_count_delete AFTER DELETE ON articles
BEGIN
    UPDATE article_count SET n = n - 1 WHERE id = 1;
END;
