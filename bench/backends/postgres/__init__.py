"""PostgreSQL, reached with psycopg 3 (and asyncpg for the asyncio styles): the backend type
(backend.py), the run's own schema on a server (database.py), where a server comes from
(servers.py), the server's own account (statistics.py), the observer that counts
(observer.py), the protocol counted from libpq's trace or the wire (protocol_trace.py,
protocol.py), the drivers (drivers.py) and connection strings (conninfo.py)."""
