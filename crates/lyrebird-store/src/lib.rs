//! PostgreSQL storage through sqlx: accounts, workspaces, keys, mocks, examples, call log, usage.
