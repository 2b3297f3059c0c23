DROP TABLE IF EXISTS filter_profiles;
