#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point
//! `migrations/postgres` and `migrations/sqlite` must describe one schema: the store runs the
//! same queries on both (sqlx's `Any` driver), so a column, key or index added to one folder
//! only would work in the tests of one backend and fail in production on the other.
//!
//! Both folders are applied through `SqlStore::migrate` (to a fresh PostgreSQL database and a
//! fresh SQLite file), each catalogue is read back into one neutral `Schema`, and the two are
//! compared. Dialect spellings are normalised (see `type_family` and the comments where it
//! happens); everything else must be equal.

use std::collections::{BTreeMap, BTreeSet};

use idbroker_store::testing::TestDatabase;
use idbroker_store::{Backend, SqlStore};
use sqlx::postgres::PgConnection;
use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Row};

/// sqlx's own bookkeeping table, which differs by design between the dialects.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Column {
    name: String,
    family: &'static str,
    not_null: bool,
    default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ForeignKey {
    columns: Vec<String>,
    references: String,
    referenced_columns: Vec<String>,
    on_delete: String,
}

/// An index by what it does; names are compared only for indexes the migrations name
/// (`CREATE INDEX x`); those behind a UNIQUE constraint get a generated name per dialect.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Index {
    name: Option<String>,
    columns: Vec<String>,
    unique: bool,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Table {
    columns: Vec<Column>,
    primary_key: Vec<String>,
    foreign_keys: BTreeSet<ForeignKey>,
    indexes: BTreeSet<Index>,
}

type Schema = BTreeMap<String, Table>;

/// The family of a declared type: both dialects store the same values in it, even where the
/// spelling differs (`BIGINT` on PostgreSQL, `INTEGER` on SQLite, whose integers are 64-bit).
fn type_family(declared: &str) -> &'static str {
    let t = declared.to_ascii_lowercase();
    if t.contains("int") {
        "integer"
    } else if t.contains("char") || t.contains("text") || t.contains("clob") {
        "text"
    } else if t.contains("bool") {
        "boolean"
    } else if t.contains("real") || t.contains("double") || t.contains("float") {
        "real"
    } else if t.contains("bytea") || t.contains("blob") {
        "blob"
    } else {
        panic!("no type family for {declared:?}: add one here and in both migration folders")
    }
}

/// PostgreSQL writes a literal default with its cast (`'{}'::text`); SQLite as declared.
fn normalise_default(default: Option<String>) -> Option<String> {
    default.map(|d| match d.split_once("::") {
        Some((value, _cast)) => value.to_owned(),
        None => d,
    })
}

fn split_list(list: &str) -> Vec<String> {
    list.split(',').map(str::to_owned).collect()
}

async fn postgres_schema(url: &str) -> Schema {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let mut schema = Schema::new();

    let tables = sqlx::query(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> $1",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for row in tables {
        schema.insert(row.get(0), Table::default());
    }

    let columns = sqlx::query(
        "SELECT table_name::text, column_name::text, is_nullable::text, data_type::text, \
                column_default::text \
         FROM information_schema.columns WHERE table_schema = 'public' \
         ORDER BY table_name, ordinal_position",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for row in columns {
        let table: String = row.get(0);
        let Some(entry) = schema.get_mut(&table) else {
            continue;
        };
        let data_type: String = row.get(3);
        entry.columns.push(Column {
            name: row.get(1),
            family: type_family(&data_type),
            not_null: row.get::<String, _>(2) == "NO",
            default: normalise_default(row.get(4)),
        });
    }

    // Primary keys, foreign keys and unique constraints, columns in key order.
    let constraints = sqlx::query(
        "SELECT c.conrelid::regclass::text, c.contype::text, \
                (SELECT string_agg(a.attname, ',' ORDER BY k.ord) \
                   FROM unnest(c.conkey) WITH ORDINALITY AS k(num, ord) \
                   JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num), \
                c.confrelid::regclass::text, \
                (SELECT string_agg(a.attname, ',' ORDER BY k.ord) \
                   FROM unnest(c.confkey) WITH ORDINALITY AS k(num, ord) \
                   JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num), \
                c.confdeltype::text \
         FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace \
         WHERE n.nspname = 'public' AND c.contype IN ('p', 'f', 'u')",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for row in constraints {
        let table: String = row.get(0);
        let Some(entry) = schema.get_mut(&table) else {
            continue;
        };
        let columns = split_list(&row.get::<String, _>(2));
        match row.get::<String, _>(1).as_str() {
            "p" => entry.primary_key = columns,
            "u" => {
                entry.indexes.insert(Index {
                    name: None,
                    columns,
                    unique: true,
                });
            }
            _ => {
                let on_delete = match row.get::<String, _>(5).as_str() {
                    "c" => "CASCADE",
                    "r" => "RESTRICT",
                    "n" => "SET NULL",
                    "d" => "SET DEFAULT",
                    _ => "NO ACTION",
                };
                entry.foreign_keys.insert(ForeignKey {
                    columns,
                    references: row.get(3),
                    referenced_columns: split_list(&row.get::<String, _>(4)),
                    on_delete: on_delete.to_owned(),
                });
            }
        }
    }

    // Indexes the migrations create by name (not those behind a constraint, read above).
    let indexes = sqlx::query(
        "SELECT t.relname::text, i.relname::text, x.indisunique, \
                (SELECT string_agg(a.attname, ',' ORDER BY k.ord) \
                   FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(num, ord) \
                   JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.num) \
         FROM pg_index x \
         JOIN pg_class i ON i.oid = x.indexrelid \
         JOIN pg_class t ON t.oid = x.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = 'public' \
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for row in indexes {
        let table: String = row.get(0);
        let Some(entry) = schema.get_mut(&table) else {
            continue;
        };
        entry.indexes.insert(Index {
            name: Some(row.get(1)),
            columns: split_list(&row.get::<String, _>(3)),
            unique: row.get(2),
        });
    }
    let _ = conn.close().await;
    schema
}

async fn sqlite_schema(url: &str) -> Schema {
    let mut conn = SqliteConnection::connect(url).await.unwrap();
    let mut schema = Schema::new();

    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master \
         WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> ?",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for table in tables {
        let mut entry = Table::default();

        let columns = sqlx::query(
            "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid",
        )
        .bind(&table)
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let mut primary_key: Vec<(i64, String)> = Vec::new();
        for row in columns {
            let name: String = row.get(0);
            let declared: String = row.get(1);
            let pk: i64 = row.get(4);
            if pk > 0 {
                primary_key.push((pk, name.clone()));
            }
            entry.columns.push(Column {
                name,
                family: type_family(&declared),
                // SQLite lets a non-INTEGER primary key column hold NULL unless it says NOT
                // NULL (a historical quirk); PostgreSQL makes every key column NOT NULL. The
                // store never writes a NULL key, so a key column counts as NOT NULL here.
                not_null: row.get::<i64, _>(2) != 0 || pk > 0,
                default: row.get(3),
            });
        }
        primary_key.sort();
        entry.primary_key = primary_key.into_iter().map(|(_, name)| name).collect();

        let foreign_keys = sqlx::query(
            "SELECT id, seq, \"table\", \"from\", \"to\", on_delete \
             FROM pragma_foreign_key_list(?) ORDER BY id, seq",
        )
        .bind(&table)
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let mut by_id: BTreeMap<i64, ForeignKey> = BTreeMap::new();
        for row in foreign_keys {
            let key = by_id.entry(row.get(0)).or_insert_with(|| ForeignKey {
                columns: vec![],
                references: row.get(2),
                referenced_columns: vec![],
                on_delete: row.get(5),
            });
            key.columns.push(row.get(3));
            key.referenced_columns.push(row.get(4));
        }
        entry.foreign_keys = by_id.into_values().collect();

        // origin: 'c' = CREATE INDEX (named by the migration), 'u' = UNIQUE constraint,
        // 'pk' = the primary key (compared above).
        let indexes = sqlx::query("SELECT name, \"unique\", origin FROM pragma_index_list(?)")
            .bind(&table)
            .fetch_all(&mut conn)
            .await
            .unwrap();
        for row in indexes {
            let name: String = row.get(0);
            let origin: String = row.get(2);
            if origin == "pk" {
                continue;
            }
            let columns: Vec<String> =
                sqlx::query_scalar("SELECT name FROM pragma_index_info(?) ORDER BY seqno")
                    .bind(&name)
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            entry.indexes.insert(Index {
                name: (origin == "c").then_some(name),
                columns,
                unique: row.get::<i64, _>(1) != 0,
            });
        }
        schema.insert(table, entry);
    }
    let _ = conn.close().await;
    schema
}

/// A readable account of every difference, table by table; empty when the schemas agree.
fn differences(postgres: &Schema, sqlite: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    let names: BTreeSet<&String> = postgres.keys().chain(sqlite.keys()).collect();
    for name in names {
        match (postgres.get(name), sqlite.get(name)) {
            (Some(p), Some(s)) if p == s => {}
            (Some(p), Some(s)) => {
                if p.columns != s.columns {
                    out.push(format!(
                        "{name}: columns\n  postgres {:?}\n  sqlite   {:?}",
                        p.columns, s.columns
                    ));
                }
                if p.primary_key != s.primary_key {
                    out.push(format!(
                        "{name}: primary key postgres {:?}, sqlite {:?}",
                        p.primary_key, s.primary_key
                    ));
                }
                if p.foreign_keys != s.foreign_keys {
                    out.push(format!(
                        "{name}: foreign keys\n  postgres {:?}\n  sqlite   {:?}",
                        p.foreign_keys, s.foreign_keys
                    ));
                }
                if p.indexes != s.indexes {
                    out.push(format!(
                        "{name}: indexes\n  postgres {:?}\n  sqlite   {:?}",
                        p.indexes, s.indexes
                    ));
                }
            }
            (Some(_), None) => out.push(format!("{name}: only in migrations/postgres")),
            (None, _) => out.push(format!("{name}: only in migrations/sqlite")),
        }
    }
    out
}

async fn migrated(backend: Backend) -> TestDatabase {
    let db = TestDatabase::new(backend).await;
    let store = SqlStore::connect(db.url()).await.unwrap();
    store.migrate().await.unwrap();
    store.close().await;
    db
}

#[tokio::test]
async fn postgres_and_sqlite_migrations_give_the_same_schema() {
    let (pg, lite) = (
        migrated(Backend::Postgres).await,
        migrated(Backend::Sqlite).await,
    );
    let postgres = postgres_schema(pg.url()).await;
    let sqlite = sqlite_schema(lite.url()).await;

    // Guard against a comparison of two empty readings passing vacuously.
    assert!(
        postgres.len() >= 10 && postgres.contains_key("identity_logins"),
        "read too little of the PostgreSQL schema: {:?}",
        postgres.keys().collect::<Vec<_>>()
    );
    let logins = &postgres["identity_logins"];
    assert_eq!(logins.primary_key, ["pool_id", "provider_key", "subject"]);
    assert_eq!(logins.foreign_keys.len(), 2, "{:?}", logins.foreign_keys);
    assert!(
        postgres["oidc_providers"]
            .indexes
            .iter()
            .any(|i| i.unique && i.columns == ["issuer"]),
        "the UNIQUE issuer constraint is read: {:?}",
        postgres["oidc_providers"].indexes
    );

    let diffs = differences(&postgres, &sqlite);
    assert!(
        diffs.is_empty(),
        "migrations/postgres and migrations/sqlite differ:\n{}",
        diffs.join("\n")
    );
}

/// The comparison is not blind: one index, column or nullability added on one side only is
/// reported.
#[tokio::test]
async fn a_change_to_one_dialect_only_is_reported() {
    let (pg, lite) = (
        migrated(Backend::Postgres).await,
        migrated(Backend::Sqlite).await,
    );
    let postgres = postgres_schema(pg.url()).await;
    {
        let mut conn = SqliteConnection::connect(lite.url()).await.unwrap();
        for change in [
            "CREATE INDEX identities_by_created ON identities (created_at)",
            "ALTER TABLE signing_keys ADD COLUMN note TEXT",
        ] {
            sqlx::query(change).execute(&mut conn).await.unwrap();
        }
        let _ = conn.close().await;
    }
    let sqlite = sqlite_schema(lite.url()).await;
    let diffs = differences(&postgres, &sqlite);
    assert_eq!(diffs.len(), 2, "{diffs:#?}");
    assert!(diffs[0].starts_with("identities: indexes"), "{diffs:#?}");
    assert!(diffs[1].starts_with("signing_keys: columns"), "{diffs:#?}");
}
