-- One row per conversation; the version and created_at together say which state a cached
-- copy shows, so a copy is reused only while nobody else has written or recreated it.
CREATE TABLE conversations (
    agent TEXT NOT NULL,
    id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    message_count INTEGER NOT NULL,
    summary_text TEXT,
    summary_covers INTEGER,
    PRIMARY KEY (agent, id)
);

CREATE INDEX conversations_updated_at ON conversations (updated_at);

-- Messages are appended, never rewritten: a turn costs the rows it adds, not the history.
CREATE TABLE messages (
    agent TEXT NOT NULL,
    id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (agent, id, seq),
    FOREIGN KEY (agent, id) REFERENCES conversations (agent, id) ON DELETE CASCADE
);
