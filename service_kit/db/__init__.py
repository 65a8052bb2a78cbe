"""How a service reaches its database, in four modules:

- `types`: column types and bounds every service's models use (UTC datetimes, exact strings, ids);
- `engine`: engines for MySQL (asyncmy for requests, PyMySQL for migrations and tools) or embedded SQLite;
- `unit_of_work`: `Database`, the one way a request reads or writes (a unit of work per transaction);
- `errors`: what a database error means (a deadlock, a failed connect, a statement out of time);

and, for rollouts, `migrate` (prestart: create the database, `alembic upgrade head` under a lock) and
`schema_versions` (which revisions this code ships, checked by readiness)."""
