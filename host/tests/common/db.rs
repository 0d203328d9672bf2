//! Databases for tests: a fresh PostgreSQL database per test (from
//! `TEST_DATABASE_URL`, default the local server on 5432), or SQLite in the
//! app's data directory.
#![allow(dead_code)]

use sqlx::Connection;
use std::time::Duration;

pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// A throwaway PostgreSQL database, dropped when this goes away.
pub struct PgDatabase {
    pub name: String,
    pub url: String,
}

impl PgDatabase {
    pub async fn create() -> Self {
        let admin = admin_url();
        let name = format!("spaceport_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!("cannot reach the test PostgreSQL server (set TEST_DATABASE_URL or run scripts/test.sh): {e}")
        });
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let url = match admin.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("TEST_DATABASE_URL has no database part"),
        };
        Self { name, url }
    }

    /// The same database through another host:port (e.g. a proxy).
    pub fn url_via(&self, host_port: &str) -> String {
        let (scheme, rest) = self.url.split_once("://").expect("scheme");
        let (userinfo, rest) = match rest.split_once('@') {
            Some((u, r)) => (format!("{u}@"), r),
            None => (String::new(), rest),
        };
        let (_, path) = rest.split_once('/').expect("path");
        format!("{scheme}://{userinfo}{host_port}/{path}")
    }

    /// The password in the URL, if any.
    pub fn password(url: &str) -> Option<String> {
        let rest = url.split_once("://")?.1;
        let userinfo = rest.split_once('@')?.0;
        userinfo.split_once(':').map(|(_, p)| p.to_string())
    }

    /// The same database with a password in the URL (trust auth ignores it).
    pub fn url_with_password(&self, password: &str) -> String {
        let (scheme, rest) = self.url.split_once("://").expect("scheme");
        let rest = match rest.split_once('@') {
            Some((user, r)) => format!("{}:{password}@{r}", user.split(':').next().unwrap_or(user)),
            None => format!("postgres:{password}@{rest}"),
        };
        format!("{scheme}://{rest}")
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin = admin_url();
        let name = self.name.clone();
        // Drop runs outside any runtime guarantee: use a private one on a thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .ok()?;
                // The host gave each named database a login role `<db>_<name>`;
                // roles are server-wide, so they go with the test database.
                let roles: Vec<String> = sqlx::query_scalar(
                    "SELECT rolname::text FROM pg_roles WHERE starts_with(rolname, $1)",
                )
                .bind(format!("{name}_"))
                .fetch_all(&mut conn)
                .await
                .ok()?;
                for role in roles {
                    let _ = sqlx::query(&format!("DROP ROLE IF EXISTS \"{role}\""))
                        .execute(&mut conn)
                        .await;
                }
                Some(())
            })
        })
        .join();
    }
}

/// A TCP proxy in front of the database, so a test can cut it off and bring it back.
pub struct Proxy {
    pub addr: std::net::SocketAddr,
    target: String,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    pub async fn start(target: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let mut p = Self {
            addr,
            target: target.to_string(),
            task: None,
        };
        p.task = Some(serve(listener, p.target.clone()));
        p
    }

    /// Close the listener and every proxied connection.
    pub fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// Listen again on the same port.
    pub async fn restart(&mut self) {
        self.stop();
        let mut tries = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("rebind proxy: {e}"),
            }
        };
        self.task = Some(serve(listener, self.target.clone()));
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(listener: tokio::net::TcpListener, target: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            let target = target.clone();
            // Aborting this task drops the JoinSet, which aborts every connection.
            conns.spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    })
}
