"""Stopping in order and leaving nothing behind: the stop request on Ctrl-C or SIGTERM, the
watchdog of each throwaway server, and what a killed run left."""
