"""Atlas REST API: JWT/API-key auth and roles over Dagster's GraphQL API, plus a small dashboard."""
