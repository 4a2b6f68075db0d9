"""A Shopify imitation for development and tests: a generated business served over GraphQL."""
