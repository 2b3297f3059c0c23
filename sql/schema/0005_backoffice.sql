-- Back office: problem reports, messages and analytics views (placeholder until this part lands)
SELECT 1;
