"""What tests and benchmarks share, one module per concept. Plain code, no pytest import: the
bench/ scripts use it too (run from the repository root, they import it as `tests.support`).

- ports: free ports on 127.0.0.1
- files: private files (secrets, `.env`), the tail of a log
- children: the environment a child process gets, children that die with us, stopping them
- waiting: wait for a condition with a deadline, instead of sleeping "long enough"
- binaries: the server binaries the fixtures start, and the Debian packages that ship them
- managed: a server process in a folder of its own (the base of the servers below)
- mariadb, redis: private, throwaway MariaDB and Redis servers
- seaweedfs, sshd: an S3 server (SeaweedFS) and an SFTP server (OpenSSH), the offsite targets
- lumbung: a real `lumbung serve` process, as a user runs it
- asgi: an app on a real uvicorn inside the test's event loop
- graphql: GraphQL over HTTP (async for tests, blocking for benchmarks)
- websocket: the graphql-transport-ws protocol (async and blocking clients)
- tokens: the test JWT secret and admin tokens
- app: the app under test through its ASGI interface (`Api`), and its settings
- factories: catalog rows (backups, restore logs, cache logs)
"""
