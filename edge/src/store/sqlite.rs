//! The embedded store: one SQLite database file (WAL mode) holding every version, the current
//! pointer per `Type/id`, the index rows computed by `firn-core` and metadata.
//!
//! Writers are serialized through one connection; each write session is a transaction, so a
//! crash (even `kill -9`) leaves either all or none of an interaction or a transaction Bundle.
//! Readers use a small pool of connections, each session inside a read transaction (a
//! consistent snapshot while a search runs several statements).
//!
//! The DDL, the pragmas and `BEGIN IMMEDIATE` are SQLite's; the statements the sessions run are
//! plain SQL (`ON CONFLICT ... DO UPDATE`, `RETURNING`, `LIMIT ... OFFSET`, `NOT EXISTS`) that
//! libSQL and Spin's SQLite accept as written, and PostgreSQL once `?N` placeholders become `$N`.

use super::{Current, HistoryPage, HistoryQuery, Session, Store, StoreError, Version, index_rows};
use firn_core::search::{DocId, Entries};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS firn_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS resources (
    doc INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    last_updated INTEGER NOT NULL,
    method TEXT NOT NULL,
    body TEXT,
    UNIQUE (type, id)
);
CREATE TABLE IF NOT EXISTS index_entries (
    doc INTEGER PRIMARY KEY,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS resources_type_doc ON resources (type, doc);
CREATE TABLE IF NOT EXISTS versions (
    seq INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    last_updated INTEGER NOT NULL,
    method TEXT NOT NULL,
    body TEXT,
    UNIQUE (type, id, version)
);
CREATE INDEX IF NOT EXISTS versions_type_seq ON versions (type, seq);
CREATE TABLE IF NOT EXISTS postings (
    type TEXT NOT NULL,
    param TEXT NOT NULL,
    key TEXT NOT NULL,
    doc INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS postings_lookup ON postings (type, param, key, doc);
CREATE INDEX IF NOT EXISTS postings_doc ON postings (doc);
CREATE TABLE IF NOT EXISTS dates (
    type TEXT NOT NULL,
    param TEXT NOT NULL,
    low INTEGER NOT NULL,
    high INTEGER NOT NULL,
    doc INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dates_lookup ON dates (type, param, low);
CREATE INDEX IF NOT EXISTS dates_doc ON dates (doc);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    created INTEGER NOT NULL
);
";

/// Version 3: index entries as postcard bytes in their own table (compact rows that a search
/// reads without touching the bodies).
const SCHEMA_VERSION: &str = "3";

/// Idle read connections kept for reuse (more than the host's usual concurrency, so busy
/// servers do not reopen connections).
const MAX_POOLED_READERS: usize = 64;

fn backend(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            StoreError::Busy
        }
        e => StoreError::Backend(e.to_string()),
    }
}

/// The SQLite store. Open it once and share it (`Arc`) between request threads.
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl SqliteStore {
    /// Opens (creating when needed) the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let conn = Self::connect(&path, true)?;
        conn.execute_batch(SCHEMA).map_err(backend)?;
        let found: Option<String> = conn
            .query_row(
                "SELECT value FROM firn_meta WHERE name = 'schema'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)?;
        match found {
            None => {
                conn.execute(
                    "INSERT INTO firn_meta (name, value) VALUES ('schema', ?1)",
                    [SCHEMA_VERSION],
                )
                .map_err(backend)?;
            }
            Some(v) if v == SCHEMA_VERSION => {}
            Some(v) => {
                return Err(StoreError::Corrupt(format!(
                    "database schema version {v}, this firn expects {SCHEMA_VERSION}"
                )));
            }
        }
        Ok(SqliteStore {
            path,
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn connect(path: &Path, write: bool) -> Result<Connection, StoreError> {
        let flags = if write {
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
        };
        let conn = Connection::open_with_flags(path, flags).map_err(backend)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(backend)?;
        if write {
            conn.execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF;",
            )
            .map_err(backend)?;
        }
        // Memory-mapped reads (no pread per page) and a 32 MB page cache per connection.
        conn.execute_batch("PRAGMA mmap_size = 1073741824; PRAGMA cache_size = -32768;")
            .map_err(backend)?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }
}

enum Conn<'a> {
    Reader(Option<Connection>, &'a SqliteStore),
    Writer(MutexGuard<'a, Connection>),
}

impl Conn<'_> {
    fn get(&self) -> &Connection {
        match self {
            Conn::Reader(c, _) => c.as_ref().expect("connection present until drop"),
            Conn::Writer(g) => g,
        }
    }
}

/// A session on the SQLite store.
pub struct SqliteSession<'a> {
    conn: Conn<'a>,
    done: bool,
}

impl Drop for SqliteSession<'_> {
    fn drop(&mut self) {
        if !self.done {
            let sql = match self.conn {
                Conn::Reader(..) => "COMMIT",
                Conn::Writer(_) => "ROLLBACK",
            };
            let _ = self.conn.get().execute_batch(sql);
        }
        if let Conn::Reader(c, store) = &mut self.conn
            && let Some(c) = c.take()
            && let Ok(mut pool) = store.readers.lock()
            && pool.len() < MAX_POOLED_READERS
        {
            pool.push(c);
        }
    }
}

impl Store for SqliteStore {
    fn reader(&self) -> Result<Box<dyn Session + '_>, StoreError> {
        let pooled = self.readers.lock().ok().and_then(|mut p| p.pop());
        let conn = match pooled {
            Some(c) => c,
            None => Self::connect(&self.path, false)?,
        };
        conn.execute_batch("BEGIN").map_err(backend)?;
        Ok(Box::new(SqliteSession {
            conn: Conn::Reader(Some(conn), self),
            done: false,
        }))
    }

    fn writer(&self) -> Result<Box<dyn Session + '_>, StoreError> {
        let guard = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.execute_batch("BEGIN IMMEDIATE").map_err(backend)?;
        Ok(Box::new(SqliteSession {
            conn: Conn::Writer(guard),
            done: false,
        }))
    }
}

fn row_version(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Version> {
    Ok(Version {
        resource_type: r.get(at)?,
        id: r.get(at + 1)?,
        version: r.get::<_, i64>(at + 2)? as u64,
        last_updated: r.get(at + 3)?,
        method: r.get(at + 4)?,
        body: r.get(at + 5)?,
    })
}

impl SqliteSession<'_> {
    fn c(&self) -> &Connection {
        self.conn.get()
    }

    fn docs_query(&self, sql: &str, p: &[&dyn rusqlite::ToSql]) -> Result<Vec<DocId>, StoreError> {
        let mut st = self.c().prepare_cached(sql).map_err(backend)?;
        let rows = st.query_map(p, |r| r.get::<_, i64>(0)).map_err(backend)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r.map_err(backend)? as DocId);
        }
        Ok(out)
    }
}

impl Session for SqliteSession<'_> {
    fn current(&self, resource_type: &str, id: &str) -> Result<Option<Current>, StoreError> {
        let mut st = self
            .c()
            .prepare_cached(
                "SELECT doc, type, id, version, last_updated, method, body FROM resources \
                 WHERE type = ?1 AND id = ?2",
            )
            .map_err(backend)?;
        st.query_row(params![resource_type, id], |r| {
            Ok(Current {
                doc: r.get::<_, i64>(0)? as DocId,
                version: row_version(r, 1)?,
            })
        })
        .optional()
        .map_err(backend)
    }

    fn version(
        &self,
        resource_type: &str,
        id: &str,
        version: u64,
    ) -> Result<Option<Version>, StoreError> {
        let mut st = self
            .c()
            .prepare_cached(
                "SELECT type, id, version, last_updated, method, body FROM versions \
                 WHERE type = ?1 AND id = ?2 AND version = ?3",
            )
            .map_err(backend)?;
        st.query_row(params![resource_type, id, version as i64], |r| {
            row_version(r, 0)
        })
        .optional()
        .map_err(backend)
    }

    fn history(&self, q: &HistoryQuery) -> Result<HistoryPage, StoreError> {
        use rusqlite::types::Value as Sql;
        let snapshot: i64 = match q.snapshot {
            Some(s) => s,
            None => self
                .c()
                .query_row("SELECT COALESCE(MAX(seq), 0) FROM versions", [], |r| {
                    r.get(0)
                })
                .map_err(backend)?,
        };
        let mut cond = vec!["v.seq <= ?".to_string()];
        let mut args: Vec<Sql> = vec![Sql::Integer(snapshot)];
        if let Some(t) = &q.resource_type {
            cond.push("v.type = ?".into());
            args.push(Sql::Text(t.clone()));
        }
        if let Some(id) = &q.id {
            cond.push("v.id = ?".into());
            args.push(Sql::Text(id.clone()));
        }
        if let Some(s) = q.since {
            cond.push("v.last_updated > ?".into());
            args.push(Sql::Integer(s));
        }
        if let Some((low, high)) = q.at {
            // Alive during the period: written before its end, not replaced before its start.
            cond.push(
                "v.last_updated < ? AND NOT EXISTS (SELECT 1 FROM versions n WHERE n.type = v.type \
                 AND n.id = v.id AND n.version > v.version AND n.last_updated <= ? AND n.seq <= ?)"
                    .into(),
            );
            args.push(Sql::Integer(high));
            args.push(Sql::Integer(low));
            args.push(Sql::Integer(snapshot));
        }
        let wher = cond.join(" AND ");
        let total: i64 = self
            .c()
            .query_row(
                &format!("SELECT COUNT(*) FROM versions v WHERE {wher}"),
                rusqlite::params_from_iter(args.iter()),
                |r| r.get(0),
            )
            .map_err(backend)?;
        let mut page_args = args.clone();
        page_args.push(Sql::Integer(q.count as i64));
        page_args.push(Sql::Integer(q.offset as i64));
        let mut st = self
            .c()
            .prepare_cached(&format!(
                "SELECT v.type, v.id, v.version, v.last_updated, v.method, v.body FROM versions v \
                 WHERE {wher} ORDER BY v.seq DESC LIMIT ? OFFSET ?"
            ))
            .map_err(backend)?;
        let rows = st
            .query_map(rusqlite::params_from_iter(page_args.iter()), |r| {
                row_version(r, 0)
            })
            .map_err(backend)?;
        let mut versions = Vec::new();
        for r in rows {
            versions.push(r.map_err(backend)?);
        }
        Ok(HistoryPage {
            versions,
            total: total as usize,
            snapshot,
        })
    }

    fn write(&mut self, v: &Version, entries: Option<&Entries>) -> Result<DocId, StoreError> {
        if !matches!(self.conn, Conn::Writer(_)) {
            return Err(StoreError::Backend("write on a read session".into()));
        }
        let c = self.c();
        c.prepare_cached(
            "INSERT INTO versions (type, id, version, last_updated, method, body) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .and_then(|mut st| {
            st.execute(params![
                v.resource_type,
                v.id,
                v.version as i64,
                v.last_updated,
                v.method,
                v.body
            ])
        })
        .map_err(backend)?;
        let entries_text = match (&v.body, entries) {
            (Some(_), Some(e)) => {
                Some(postcard::to_allocvec(e).map_err(|e| StoreError::Backend(e.to_string()))?)
            }
            _ => None,
        };
        let doc: i64 = c
            .prepare_cached(
                "INSERT INTO resources (type, id, version, last_updated, method, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (type, id) DO UPDATE SET version = excluded.version, \
                 last_updated = excluded.last_updated, method = excluded.method, \
                 body = excluded.body RETURNING doc",
            )
            .and_then(|mut st| {
                st.query_row(
                    params![
                        v.resource_type,
                        v.id,
                        v.version as i64,
                        v.last_updated,
                        v.method,
                        v.body
                    ],
                    |r| r.get(0),
                )
            })
            .map_err(backend)?;
        match &entries_text {
            Some(bytes) => c
                .prepare_cached(
                    "INSERT INTO index_entries (doc, data) VALUES (?1, ?2) \
                     ON CONFLICT (doc) DO UPDATE SET data = excluded.data",
                )
                .and_then(|mut st| st.execute(params![doc, bytes])),
            None => c
                .prepare_cached("DELETE FROM index_entries WHERE doc = ?1")
                .and_then(|mut st| st.execute([doc])),
        }
        .map_err(backend)?;
        c.prepare_cached("DELETE FROM postings WHERE doc = ?1")
            .and_then(|mut st| st.execute([doc]))
            .map_err(backend)?;
        c.prepare_cached("DELETE FROM dates WHERE doc = ?1")
            .and_then(|mut st| st.execute([doc]))
            .map_err(backend)?;
        if let (Some(_), Some(e)) = (&v.body, entries) {
            let rows = index_rows(e);
            let mut st = c
                .prepare_cached(
                    "INSERT INTO postings (type, param, key, doc) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(backend)?;
            for (param, key) in &rows.postings {
                st.execute(params![v.resource_type, param, key, doc])
                    .map_err(backend)?;
            }
            let mut st = c
                .prepare_cached(
                    "INSERT INTO dates (type, param, low, high, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(backend)?;
            for (param, low, high) in &rows.dates {
                st.execute(params![v.resource_type, param, low, high, doc])
                    .map_err(backend)?;
            }
        }
        Ok(doc as DocId)
    }

    fn idempotency(&self, key: &str) -> Result<Option<(String, String)>, StoreError> {
        self.c()
            .prepare_cached("SELECT type, id FROM idempotency WHERE key = ?1")
            .and_then(|mut st| {
                st.query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(backend)
    }

    fn remember(
        &mut self,
        key: &str,
        resource_type: &str,
        id: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        self.c()
            .prepare_cached(
                "INSERT INTO idempotency (key, type, id, created) VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut st| st.execute(params![key, resource_type, id, at]))
            .map_err(backend)?;
        Ok(())
    }

    fn docs(&self, resource_type: &str) -> Result<Vec<DocId>, StoreError> {
        self.docs_query(
            "SELECT doc FROM resources WHERE type = ?1 AND body IS NOT NULL ORDER BY doc",
            &[&resource_type],
        )
    }

    fn entries(&self, doc: DocId) -> Result<Option<Entries>, StoreError> {
        // Decoded straight from SQLite's buffer (no copy of the blob).
        let decoded: Option<Result<Entries, postcard::Error>> = self
            .c()
            .prepare_cached("SELECT data FROM index_entries WHERE doc = ?1")
            .and_then(|mut st| {
                st.query_row([doc as i64], |r| {
                    Ok(postcard::from_bytes::<Entries>(r.get_ref(0)?.as_blob()?))
                })
                .optional()
            })
            .map_err(backend)?;
        match decoded {
            None => Ok(None),
            Some(d) => d
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("index entries of doc {doc}: {e}"))),
        }
    }

    fn resource(&self, doc: DocId) -> Result<Option<Value>, StoreError> {
        let text: Option<Option<String>> = self
            .c()
            .prepare_cached("SELECT body FROM resources WHERE doc = ?1")
            .and_then(|mut st| st.query_row([doc as i64], |r| r.get(0)).optional())
            .map_err(backend)?;
        match text.flatten() {
            None => Ok(None),
            Some(t) => serde_json::from_str(&t)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("body of doc {doc}: {e}"))),
        }
    }

    fn postings(
        &self,
        resource_type: &str,
        param: &str,
        key: &str,
    ) -> Result<Vec<DocId>, StoreError> {
        self.docs_query(
            "SELECT doc FROM postings WHERE type = ?1 AND param = ?2 AND key = ?3 ORDER BY doc",
            &[&resource_type, &param, &key],
        )
    }

    fn lookup(&self, resource_type: &str, id: &str) -> Result<Option<DocId>, StoreError> {
        self.c()
            .prepare_cached(
                "SELECT doc FROM resources WHERE type = ?1 AND id = ?2 AND body IS NOT NULL",
            )
            .and_then(|mut st| {
                st.query_row([resource_type, id], |r| r.get::<_, i64>(0))
                    .optional()
            })
            .map(|d| d.map(|d| d as DocId))
            .map_err(backend)
    }

    fn dates(
        &self,
        resource_type: &str,
        param: &str,
        low: i64,
        high: i64,
    ) -> Result<Vec<DocId>, StoreError> {
        self.docs_query(
            "SELECT DISTINCT doc FROM dates WHERE type = ?1 AND param = ?2 AND low < ?3 \
             AND high > ?4 ORDER BY doc",
            &[&resource_type, &param, &high, &low],
        )
    }

    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.done = true;
        let sql = match self.conn {
            Conn::Reader(..) => "COMMIT",
            Conn::Writer(_) => "COMMIT",
        };
        let r = self.c().execute_batch(sql).map_err(backend);
        if r.is_err() && matches!(self.conn, Conn::Writer(_)) {
            let _ = self.c().execute_batch("ROLLBACK");
        }
        r
    }
}
