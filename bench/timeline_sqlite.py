"""SQLite behind the timeline filter, measured: build cost and query time at 1,000,000 rows.

The candidate engine issue 13 names, against the screen's own column scan (a list
comprehension over one column). Prints the table and FTS5 trigram index build
times, then one-column LIKE, FTS5 MATCH, a two-term query and a word anywhere.
docs/timeline.md says what it showed and why the screen does not use it.

    python bench/timeline_sqlite.py
"""

import random
import sqlite3
import time

n = 1_000_000
rnd = random.Random(5)
actors = ("deploy-bot", "backup-admin", "alice@example.com", "bob@example.com", "svc-reporting")
rows = [(rnd.choice(actors), "failure" if rnd.random() < 0.04 else "success",
         f"arn:aws:iam::123456789012:user/u{rnd.randrange(500)} "
         f"203.0.113.{rnd.randrange(1, 255)} listbuckets iam us-east-1")
        for _ in range(n)]
db = sqlite3.connect(":memory:")
t = time.perf_counter()
db.execute("create table ev(actor text, result text, blob text)")
db.executemany("insert into ev values (?,?,?)", rows)
print("build table", round(time.perf_counter() - t, 2), "s")
t = time.perf_counter()
db.execute("create virtual table fts using fts5(actor, result, blob, tokenize='trigram', "
           "content='ev', content_rowid='rowid')")
db.execute("insert into fts(fts) values('rebuild')")
print("build fts5 trigram", round(time.perf_counter() - t, 2), "s")


def q(sql: str, *a: str) -> tuple[float, int]:
    t = time.perf_counter()
    r = db.execute(sql, a).fetchall()
    return round((time.perf_counter() - t) * 1000, 1), len(r)



for v in ("deploy-bot", "dep"):
    print("LIKE actor", v, q("select rowid from ev where actor like ?", f"%{v}%"))
    print("FTS actor", v, q("select rowid from fts where fts match ?", f'actor:"{v}"'))
print("LIKE two terms",
      q("select rowid from ev where actor like '%deploy-bot%' and result like '%failure%'"))
print("FTS two terms",
      q("select rowid from fts where fts match 'actor:\"deploy-bot\" AND result:\"failure\"'"))
print("LIKE blob 'a'", q("select rowid from ev where blob like '%a%'"))
t = time.perf_counter()
x = [i for i, (a, _r, _b) in enumerate(rows) if "deploy-bot" in a]
print("python list comp actor", round((time.perf_counter() - t) * 1000, 1), len(x))
