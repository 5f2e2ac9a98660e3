"""Reading libpq's protocol trace: statements, round trips and bytes, from lines in the format
libpq writes (as captured from a psycopg pipeline: BEGIN, an executemany of two INSERTs with
RETURNING, a multi-line SELECT, COMMIT)."""

from __future__ import annotations

from bench.backends.postgres.protocol_trace import summarize_protocol_trace

TRACE = """\
F\t13\tParse\t "" "BEGIN" 0
F\t14\tBind\t "" "" 0 0 1 0
F\t6\tDescribe\t P ""
F\t9\tExecute\t "" 0
F\t4\tSync
B\t4\tParseComplete
B\t4\tBindComplete
B\t4\tNoData
B\t10\tCommandComplete\t "BEGIN"
B\t5\tReadyForQuery\t T
F\t53\tParse\t "" "insert into t(v) values ($1) returning id" 1 NNNN
F\t21\tBind\t "" "" 1 0 1 1 'a' 1 0
F\t6\tDescribe\t P ""
F\t9\tExecute\t "" 0
F\t21\tBind\t "" "" 1 0 1 1 'b' 1 0
F\t6\tDescribe\t P ""
F\t9\tExecute\t "" 0
F\t4\tFlush
B\t4\tParseComplete
B\t4\tBindComplete
B\t11\tDataRow\t 1 1 '1'
B\t15\tCommandComplete\t "INSERT 0 1"
B\t4\tBindComplete
B\t11\tDataRow\t 1 1 '2'
B\t15\tCommandComplete\t "INSERT 0 1"
F\t4\tSync
B\t5\tReadyForQuery\t T
F\t60\tParse\t "" "SELECT t.id
FROM t
WHERE t.id = $1" 1 NNNN
F\t20\tBind\t "" "" 1 0 1 1 '1' 1 0
F\t9\tExecute\t "" 0
F\t4\tSync
B\t16\tDataRow\t 1 1 '1'
B\t13\tCommandComplete\t "SELECT 1"
B\t5\tReadyForQuery\t T
F\t11\tQuery\t "COMMIT"
B\t11\tCommandComplete\t "COMMIT"
B\t5\tReadyForQuery\t I
"""


def test_statements_are_executes_and_queries_with_their_sql() -> None:
    summary = summarize_protocol_trace(TRACE.splitlines())
    assert summary.statements == [
        "BEGIN",
        "insert into t(v) values ($1) returning id",
        "insert into t(v) values ($1) returning id",
        "SELECT t.id\nFROM t\nWHERE t.id = $1",
        "COMMIT",
    ]


def test_a_round_trip_is_client_messages_then_server_messages() -> None:
    # BEGIN | the two inserts up to Flush | the Sync | the SELECT | COMMIT
    assert summarize_protocol_trace(TRACE.splitlines()).round_trips == 5


def test_bytes_are_message_lengths_plus_their_type_byte() -> None:
    summary = summarize_protocol_trace(TRACE.splitlines())
    sent = [13, 14, 6, 9, 4, 53, 21, 6, 9, 21, 6, 9, 4, 4, 60, 20, 9, 4, 11]
    received = [4, 4, 4, 10, 5, 4, 4, 11, 15, 4, 11, 15, 5, 16, 13, 5, 11, 5]
    assert summary.bytes_sent == sum(sent) + len(sent)
    assert summary.bytes_received == sum(received) + len(received)


def test_an_empty_trace_costs_nothing() -> None:
    summary = summarize_protocol_trace([])
    assert (summary.statements, summary.round_trips, summary.bytes_sent) == ([], 0, 0)
