-- Vector tiles: tile functions and precomputed clusters (placeholder until this part lands)
SELECT 1;
