DROP TABLE IF EXISTS vehicles, email_outbox, password_resets, auth_sessions, users;
