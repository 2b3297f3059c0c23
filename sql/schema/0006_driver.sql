-- Driver features: saved filter profiles (placeholder until this part lands)
SELECT 1;
