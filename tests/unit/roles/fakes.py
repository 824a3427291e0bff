"""A MariaDB connection as the node programs use it (pymysql, DictCursor): the connection is its
own cursor; a subclass's execute() sets `row` (fetchone) and `rows` (fetchall)."""


class FakeConnection:
    row: dict = {}
    rows: list = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def cursor(self):
        return self

    def fetchone(self):
        return self.row

    def fetchall(self):
        return self.rows
