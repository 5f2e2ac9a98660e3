"""MariaDB, reached with PyMySQL: the backend type (backend.py), the run's own database on a
server (database.py), where a server comes from (servers.py), the server's own account
(statistics.py) and the observer that counts (observer.py)."""
