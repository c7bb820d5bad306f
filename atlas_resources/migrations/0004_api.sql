-- REST API: users, refresh-token families, API keys and the audit trail (atlas_api).

CREATE TABLE IF NOT EXISTS atlas_meta.users (
    user_id       bigserial   PRIMARY KEY,
    username      text        NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9_.-]{1,62}$'),
    password_hash text        NOT NULL,              -- argon2id
    role          text        NOT NULL CHECK (role IN ('admin', 'data_engineer', 'data_analyst', 'ml_engineer', 'viewer')),
    disabled_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- One family per login. Every refresh token minted from that login belongs to it; presenting a
-- refresh token twice (reuse) revokes the family, which also kills its access tokens (claim "fam").
CREATE TABLE IF NOT EXISTS atlas_meta.token_families (
    family_id      uuid        PRIMARY KEY,
    user_id        bigint      NOT NULL REFERENCES atlas_meta.users (user_id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    revoked_reason text
);

CREATE TABLE IF NOT EXISTS atlas_meta.refresh_tokens (
    jti        uuid        PRIMARY KEY,
    family_id  uuid        NOT NULL REFERENCES atlas_meta.token_families (family_id) ON DELETE CASCADE,
    issued_at  timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz              -- set when exchanged for a new pair; a second use is a reuse
);
CREATE INDEX IF NOT EXISTS refresh_tokens_by_family ON atlas_meta.refresh_tokens (family_id);

-- Service-account keys: only a SHA-256 of the (256-bit random) key is stored; prefix is for display.
CREATE TABLE IF NOT EXISTS atlas_meta.api_keys (
    key_id     bigserial   PRIMARY KEY,
    name       text        NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{1,62}$'),
    prefix     text        NOT NULL,
    key_hash   text        NOT NULL UNIQUE,
    role       text        NOT NULL CHECK (role IN ('admin', 'data_engineer', 'data_analyst', 'ml_engineer', 'viewer')),
    created_by text,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS api_keys_active_name ON atlas_meta.api_keys (name) WHERE revoked_at IS NULL;

-- Every trigger, upload, PII report read, decrypt and authentication failure. No tokens, no values.
CREATE TABLE IF NOT EXISTS atlas_meta.audit (
    audit_id   bigserial   PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    action     text        NOT NULL,
    outcome    text        NOT NULL,
    principal  text,
    role       text,
    target     text,
    detail     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    request_id text,
    client     text
);
CREATE INDEX IF NOT EXISTS audit_by_action ON atlas_meta.audit (action, at);
