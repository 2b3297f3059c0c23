-- Accounts: users, sessions, vehicles, password resets, filter profiles (placeholder until this part lands)
SELECT 1;
