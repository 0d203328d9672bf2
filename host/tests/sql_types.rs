//! What a component receives for PostgreSQL column types that WIT has no
//! type for: their text form (timestamps in RFC 3339), and a type mismatch
//! that names the column and the cast for anything else.

mod common;
use common::db::PgDatabase;
use spaceport::services::databases::Databases;
use spaceport::services::db::{Database, DbConfig, SqlError, Value};
use std::time::Duration;

async fn connect(pg: &PgDatabase) -> Database {
    let dir = tempfile::tempdir().unwrap();
    let config = DbConfig {
        url: Some(pg.url.clone()),
        data_dir: dir.path().to_path_buf(),
        pool_size: 2,
        acquire_timeout: Duration::from_secs(5),
        max_rows: 10_000,
        max_bytes: 1 << 20,
        statement_timeout_ms: 30_000,
    };
    Databases::open(&config, &[]).await.unwrap().host
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_only_types_arrive_as_text() {
    let pg = PgDatabase::create().await;
    let db = connect(&pg).await;
    let rows = db
        .query(
            "SELECT '3f2b8a52-9d2e-4c1a-8f00-1b2c3d4e5f60'::uuid AS id, \
                    '{\"a\": [1, 2]}'::jsonb AS doc, \
                    '2026-11-22 17:05:09.25+02'::timestamptz AS at, \
                    '2026-11-22 17:05:09'::timestamp AS local, \
                    '2026-11-22'::date AS day",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.columns, ["id", "doc", "at", "local", "day"]);
    assert_eq!(
        rows.rows[0],
        [
            Value::Text("3f2b8a52-9d2e-4c1a-8f00-1b2c3d4e5f60".into()),
            Value::Text(r#"{"a":[1,2]}"#.into()),
            Value::Text("2026-11-22T15:05:09.250Z".into()),
            Value::Text("2026-11-22T17:05:09".into()),
            Value::Text("2026-11-22".into()),
        ]
    );
    match db.query("SELECT 12.50::numeric AS amount", &[]).await {
        Err(SqlError::TypeMismatch(detail)) => {
            assert!(
                detail.contains("`amount`") && detail.contains("amount::text"),
                "{detail}"
            )
        }
        other => panic!("expected a type mismatch, got {other:?}"),
    }
    let rows = db
        .query("SELECT 12.50::numeric::text AS amount", &[])
        .await
        .unwrap();
    assert_eq!(rows.rows[0], [Value::Text("12.50".into())]);
}
