-- One row per conversation; the version and created_at together say which state a cached
-- copy shows, so a copy is reused only while nobody else has written or recreated it.
CREATE TABLE conversations (
    agent TEXT NOT NULL,
    id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    message_count BIGINT NOT NULL,
    summary_text TEXT,
    summary_covers BIGINT,
    PRIMARY KEY (agent, id)
);

CREATE INDEX conversations_updated_at ON conversations (updated_at);

-- Messages are appended, never rewritten: a turn costs the rows it adds, not the history.
CREATE TABLE messages (
    agent TEXT NOT NULL,
    id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (agent, id, seq),
    FOREIGN KEY (agent, id) REFERENCES conversations (agent, id) ON DELETE CASCADE
);
