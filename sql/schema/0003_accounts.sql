-- Accounts: users, their sessions (revocable refresh tokens), vehicles, password resets, and
-- an outbox for the emails we would send (there is no mail server here).

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL CHECK (email = lower(email) AND position('@' IN email) > 1),
    password_hash text NOT NULL,
    first_name    text,
    last_name     text,
    role          text NOT NULL DEFAULT 'driver' CHECK (role IN ('driver', 'admin')),
    disabled_at   timestamptz,
    -- Bumped by "log out everywhere", a password change or an admin disabling the account:
    -- access tokens carry it, so every outstanding token dies at once.
    token_version integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    deleted_at    timestamptz
);
CREATE UNIQUE INDEX users_email ON users (email);

CREATE TABLE auth_sessions (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash  text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    user_agent  text
);
CREATE INDEX auth_sessions_user ON auth_sessions (user_id);

CREATE TABLE password_resets (
    token_hash  text PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);

CREATE TABLE email_outbox (
    id          bigserial PRIMARY KEY,
    to_address  text NOT NULL,
    subject     text NOT NULL,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE vehicles (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    plate       text CHECK (plate ~ '^[A-Z]{2}-[0-9]{3}-[A-Z]{2}$'),
    connectors  text[] NOT NULL CHECK (
        cardinality(connectors) > 0
        AND connectors <@ ARRAY['ef', 'type_2', 'combo_ccs', 'chademo', 'autre']),
    battery_kwh numeric NOT NULL DEFAULT 60 CHECK (battery_kwh > 0 AND battery_kwh <= 300),
    max_ac_kw   numeric NOT NULL DEFAULT 11 CHECK (max_ac_kw >= 0 AND max_ac_kw <= 50),
    max_dc_kw   numeric NOT NULL DEFAULT 0 CHECK (max_dc_kw >= 0 AND max_dc_kw <= 500),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vehicles_user ON vehicles (user_id);
