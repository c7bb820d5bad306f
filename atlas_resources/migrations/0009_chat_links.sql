-- Chat-ops (atlas_bot, docs/bot.md): which Atlas user a chat identity acts as, and which API keys may
-- relay chat requests. A relay key carries no rights of its own: every request it makes names a chat
-- identity (header X-Atlas-Chat-User) and the API applies the role of the user that identity is linked to.

-- chat_user is '<connector>:<user id>' (e.g. 'websocket:alice', 'slack:U02ABCDEF'), so an identity of one
-- chat service can never be claimed through another.
CREATE TABLE IF NOT EXISTS atlas_meta.chat_links (
    chat_user  text        PRIMARY KEY CHECK (chat_user ~ '^[a-z0-9_-]{1,32}:[^[:space:]]{1,200}$'),
    user_id    bigint      NOT NULL REFERENCES atlas_meta.users (user_id) ON DELETE CASCADE,
    created_by text,
    created_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE atlas_meta.api_keys ADD COLUMN IF NOT EXISTS chat_relay boolean NOT NULL DEFAULT false;
