//! Group commit for PostgreSQL: a few writer tasks, each running the
//! payments that arrive while it is busy in one transaction, so BEGIN,
//! COMMIT and the commit's WAL flush are shared by the batch. Nobody hears
//! an answer before the commit that holds it has returned, so durability is
//! the same as one transaction per payment (`synchronous_commit` untouched).
//!
//! Online authorizations (the bulk of the traffic) are pipelined: the
//! batch's first statements go to the server together and their answers
//! come back together, then the same for the second statements, so a batch
//! of any size costs four round trips (BEGIN, firsts, seconds, COMMIT)
//! instead of two per payment. On a 2-core machine each round trip is
//! mostly CPU (system calls, wake-ups on both sides), which is what the
//! payment rate is bounded by. sqlx cannot pipeline, so these go over a
//! `tokio-postgres` connection of the writer's own; everything else (advices,
//! cards that failed their own checks) still goes through the sqlx pool.
//!
//! No savepoint per job (each would cost two more round trips, which is
//! what batching is meant to save). Instead a job that cannot commit (an
//! error, a replayed nonce, a duplicate payment) makes the whole batch roll
//! back, and then every job of that batch is run again alone, in its own
//! transaction: rare cases pay, the common case does not.
//!
//! Jobs are routed to a writer by a key (the card): two payments of one
//! card always share a writer, so no two open batches wait on each other's
//! card rows (locked until COMMIT), which could otherwise deadlock. Within a
//! pipelined batch, two payments of one card go in successive waves, so the
//! second one's statements see the first one's payment, as one by one.

use crate::error::{ApiError, ApiResult};
use sqlx::{Any, AnyPool, Transaction};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

/// Writer tasks, each with one pooled connection while it runs a batch.
/// Enough to keep the server's cores busy while some wait on a commit;
/// few enough to leave most of the pool to everything else.
pub const WRITERS: usize = 4;
/// Most jobs in one transaction: bounds the latency a job can add to the
/// others in its batch.
const MAX_BATCH: usize = 32;
/// Jobs waiting per writer; past this, callers wait for room.
const QUEUE: usize = 1024;

pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A payment for a writer, run through sqlx.
pub trait Job: Send {
    /// Runs the job's statements in `tx` and keeps the result (a re-run
    /// replaces it). `true` if the transaction may commit with them.
    fn run<'a>(&'a mut self, tx: &'a mut Transaction<'static, Any>) -> BoxFut<'a, bool>;
    /// Delivers the kept result, or the commit's error if the transaction
    /// holding a committable result did not commit.
    fn answer(self: Box<Self>, commit: ApiResult<()>);
}

/// Parameters of a pipelined statement.
pub type Params = Vec<Box<dyn ToSql + Sync + Send>>;

/// The two statements of a pipelined job, prepared once per connection.
#[derive(Clone, Copy, Debug)]
pub struct PipelineSql {
    pub first: &'static str,
    pub second: &'static str,
}

/// A payment of two statements with a decision between them, pipelined
/// with the other jobs of its batch. Results are kept as in [`Job`].
pub trait PipelinedJob: Send {
    /// Jobs with the same key go in successive waves.
    fn key(&self) -> &str;
    /// The first statement's parameters.
    fn first(&self) -> Params;
    /// Takes the first statement's row: the second statement's parameters,
    /// or `None` when the job ends here and the transaction must not commit
    /// with it (a replay, an error).
    fn after_first(&mut self, row: Result<Row, tokio_postgres::Error>) -> Option<Params>;
    /// Takes the second statement's answer. The transaction commits if
    /// every second statement of the batch succeeded.
    fn after_second(&mut self, done: Result<u64, tokio_postgres::Error>);
    /// As [`Job::answer`].
    fn answer(self: Box<Self>, commit: ApiResult<()>);
}

enum Work {
    Plain(Box<dyn Job>),
    Pipelined(Box<dyn PipelinedJob>),
}

/// Handle to the writer tasks; cheap to clone.
#[derive(Clone)]
pub struct PgWriter {
    queues: Vec<mpsc::Sender<Work>>,
}

impl std::fmt::Debug for PgWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgWriter(..)")
    }
}

/// How a writer opens its `tokio-postgres` connection: the store's URL,
/// with TLS as its `sslmode` asks.
struct Connector {
    config: tokio_postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    sql: PipelineSql,
}

/// A writer's connection with its statements prepared.
struct Conn {
    client: Client,
    first: Statement,
    second: Statement,
}

impl Connector {
    fn new(url: &str, sql: PipelineSql) -> Result<Connector, String> {
        let (url, verify) = writer_url(url)?;
        let config: tokio_postgres::Config = url.parse().map_err(|e: tokio_postgres::Error| {
            // The detail (which option) is the error's source.
            let why = std::error::Error::source(&e)
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            format!("the PostgreSQL URL, read for the payment writer's connections: {e}{why}")
        })?;
        let tls = match (config.get_ssl_mode(), verify) {
            (_, Some(ca)) => Some(crate::tls::postgres_verifying_config(&ca)),
            (tokio_postgres::config::SslMode::Disable, None) => None,
            (_, None) => Some(crate::tls::postgres_client_config()),
        }
        .transpose()
        .map_err(|e| format!("TLS for the payment writer's connections: {e}"))?
        .map(tokio_postgres_rustls::MakeRustlsConnect::new);
        Ok(Connector { config, tls, sql })
    }

    async fn connect(&self) -> Result<Conn, tokio_postgres::Error> {
        let client = match &self.tls {
            None => {
                let (client, conn) = self.config.connect(tokio_postgres::NoTls).await?;
                spawn_connection(conn);
                client
            }
            Some(tls) => {
                let (client, conn) = self.config.connect(tls.clone()).await?;
                spawn_connection(conn);
                client
            }
        };
        let first = client.prepare(self.sql.first).await?;
        let second = client.prepare(self.sql.second).await?;
        Ok(Conn {
            client,
            first,
            second,
        })
    }
}

/// Drives a writer connection's I/O until it ends (its client then sees it
/// closed and the writer reconnects before its next batch).
fn spawn_connection(
    conn: impl Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
) {
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::warn!(error = %e, "payment writer's connection ended");
        }
    });
}

/// The store's URL as `tokio-postgres` reads it, and the CA file to check
/// the server's certificate with, if any. sqlx reads `sslmode=verify-ca`/
/// `verify-full` with `sslrootcert`; `tokio-postgres` does not, so those
/// become `sslmode=require` and a CA file (the server's name is checked in
/// both modes). A `host=` socket directory replaces the authority's host.
fn writer_url(url: &str) -> Result<(String, Option<String>), String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), None));
    };
    let (mut kept, mut verify, mut root): (Vec<String>, _, _) = (Vec::new(), false, None);
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("sslmode", "verify-ca" | "verify-full")) => {
                verify = true;
                kept.push("sslmode=require".to_string());
            }
            Some(("sslrootcert", path)) => root = Some(path.to_string()),
            _ => kept.push(pair.to_string()),
        }
    }
    // sqlx wants a host in the authority even when `host=` names a socket
    // directory; tokio-postgres would try that host first, over TCP.
    let mut base = base.to_string();
    if kept.iter().any(|p| p.starts_with("host=")) {
        if let Some((scheme, rest)) = base.split_once("://") {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let (user, hostport) = match authority.rsplit_once('@') {
                Some((u, h)) => (format!("{u}@"), h),
                None => (String::new(), authority),
            };
            if let Some((_, port)) = hostport.rsplit_once(':') {
                kept.push(format!("port={port}"));
            }
            base = format!("{scheme}://{user}{path}");
        }
    }
    let url = format!("{base}?{}", kept.join("&"));
    match (verify, root) {
        (false, _) => Ok((url, None)),
        (true, Some(ca)) => Ok((url, Some(ca))),
        (true, None) => Err(
            "sslmode=verify-ca/verify-full needs sslrootcert=<CA file> in the PostgreSQL URL"
                .into(),
        ),
    }
}

pub fn pg_error(e: tokio_postgres::Error) -> ApiError {
    ApiError::internal(format_args!("database: {e}"))
}

impl PgWriter {
    /// Starts `writers` tasks on the current runtime: plain jobs over
    /// `pool`, pipelined ones over a connection of each task's own to `url`
    /// (opened here, so a bad URL or an unreachable server fails the start).
    pub async fn start(
        pool: AnyPool,
        url: &str,
        sql: PipelineSql,
        writers: usize,
    ) -> Result<PgWriter, String> {
        let connector = Arc::new(Connector::new(url, sql)?);
        let mut queues = Vec::new();
        for _ in 0..writers.max(1) {
            let conn = connector
                .connect()
                .await
                .map_err(|e| format!("payment writer's PostgreSQL connection: {e}"))?;
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(run(pool.clone(), connector.clone(), conn, rx));
            queues.push(tx);
        }
        Ok(PgWriter { queues })
    }

    /// Queues `job` on the writer for `key`.
    pub async fn submit(&self, key: &str, job: Box<dyn Job>) -> ApiResult<()> {
        self.send(key, Work::Plain(job)).await
    }

    /// Queues a pipelined job on the writer for its key.
    pub async fn submit_pipelined(&self, job: Box<dyn PipelinedJob>) -> ApiResult<()> {
        let key = job.key().to_string();
        self.send(&key, Work::Pipelined(job)).await
    }

    async fn send(&self, key: &str, work: Work) -> ApiResult<()> {
        // FNV-1a: stable and cheap; the key is already a keyed hash.
        let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let n = u64::try_from(self.queues.len()).unwrap_or(1).max(1);
        let i = usize::try_from(h % n).unwrap_or(0);
        let q = self
            .queues
            .get(i)
            .ok_or_else(|| ApiError::internal("no postgres writer"))?;
        q.send(work)
            .await
            .map_err(|_| ApiError::internal("postgres writer stopped"))
    }
}

async fn run(pool: AnyPool, connector: Arc<Connector>, conn: Conn, mut rx: mpsc::Receiver<Work>) {
    let mut conn = Some(conn);
    let mut plain: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    let mut piped: Vec<Box<dyn PipelinedJob>> = Vec::with_capacity(MAX_BATCH);
    // No timer: while one batch runs the next one queues up, so under load
    // batches grow by themselves and a lone payment waits for nobody.
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(w) = next {
            match w {
                Work::Plain(j) => plain.push(j),
                Work::Pipelined(j) => piped.push(j),
            }
            next = if plain.len() + piped.len() < MAX_BATCH {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        // Two transactions, one after the other: a card's payments are all
        // on this task, so neither waits on the other's rows.
        match plain.len() {
            0 => {}
            1 => {
                for job in plain.drain(..) {
                    alone(&pool, job).await;
                }
            }
            _ => commit_batch(&pool, &mut plain).await,
        }
        if !piped.is_empty() {
            run_pipelined(&connector, &mut conn, &mut piped).await;
        }
    }
}

async fn run_pipelined(
    connector: &Connector,
    conn: &mut Option<Conn>,
    jobs: &mut Vec<Box<dyn PipelinedJob>>,
) {
    if conn.as_ref().is_none_or(|c| c.client.is_closed()) {
        *conn = None;
        match connector.connect().await {
            Ok(c) => *conn = Some(c),
            Err(e) => {
                let e = pg_error(e);
                for job in jobs.drain(..) {
                    job.answer(Err(e.clone()));
                }
                return;
            }
        }
    }
    let Some(c) = conn.as_ref() else { return };
    if let Some(outcome) = pipeline(c, jobs).await {
        for job in jobs.drain(..) {
            job.answer(outcome.clone());
        }
        return;
    }
    // Nothing of this batch was committed; each job again, on its own,
    // where its own result (a replay, a duplicate, an error) is its answer.
    if jobs.len() == 1 {
        for job in jobs.drain(..) {
            job.answer(Ok(()));
        }
        return;
    }
    for job in jobs.drain(..) {
        let mut one = [job];
        let outcome = pipeline(c, &mut one).await;
        let [job] = one;
        job.answer(outcome.unwrap_or(Ok(())));
    }
}

/// Runs `jobs` in one transaction, wave by wave, BEGIN sent along with the
/// first wave and COMMIT along with the last: the commit's outcome if every
/// statement succeeded, `None` if not (nothing was committed; each job has
/// kept its own result).
///
/// COMMIT can go before the last statements' answers are in because a
/// transaction in which a statement failed cannot commit: PostgreSQL then
/// answers COMMIT with a rollback. BEGIN can go along with the first
/// statements because it fails only with the connection, and they with it.
async fn pipeline(c: &Conn, jobs: &mut [Box<dyn PipelinedJob>]) -> Option<ApiResult<()>> {
    use futures_util::future::{join, join_all};
    // A job's wave: how many earlier jobs of the batch share its key.
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let waves: Vec<usize> = jobs
        .iter()
        .map(|j| {
            let n = seen.entry(j.key().to_string()).or_insert(0);
            *n += 1;
            *n - 1
        })
        .collect();
    let last = waves.iter().copied().max().unwrap_or(0);
    for wave in 0..=last {
        let members: Vec<usize> = (0..jobs.len())
            .filter(|&i| waves.get(i) == Some(&wave))
            .collect();
        let params: Vec<Params> = members
            .iter()
            .filter_map(|&i| jobs.get(i).map(|j| j.first()))
            .collect();
        let bound: Vec<_> = params.iter().map(refs).collect();
        let firsts = join_all(bound.iter().map(|p| c.client.query_one(&c.first, p)));
        let (begun, rows) = if wave == 0 {
            join(c.client.batch_execute("BEGIN"), firsts).await
        } else {
            (Ok(()), firsts.await)
        };
        let mut seconds: Vec<(usize, Params)> = Vec::with_capacity(members.len());
        let mut all = begun.is_ok();
        for (&i, row) in members.iter().zip(rows) {
            match jobs.get_mut(i).and_then(|j| j.after_first(row)) {
                Some(p) => seconds.push((i, p)),
                None => all = false,
            }
        }
        if !all {
            let _ = c.client.batch_execute("ROLLBACK").await;
            return None;
        }
        let bound: Vec<_> = seconds.iter().map(|(_, p)| refs(p)).collect();
        let executed = join_all(bound.iter().map(|p| c.client.execute(&c.second, p)));
        let (done, commit) = if wave == last {
            let (done, commit) = join(executed, c.client.batch_execute("COMMIT")).await;
            (done, Some(commit))
        } else {
            (executed.await, None)
        };
        let all = done.iter().all(Result::is_ok);
        for ((i, _), d) in seconds.iter().zip(done) {
            if let Some(j) = jobs.get_mut(*i) {
                j.after_second(d);
            }
        }
        match (all, commit) {
            (true, Some(commit)) => return Some(commit.map_err(pg_error)),
            (true, None) => {}
            (false, commit) => {
                // Already ended by the COMMIT (as a rollback) if it went.
                if commit.is_none() {
                    let _ = c.client.batch_execute("ROLLBACK").await;
                }
                return None;
            }
        }
    }
    None
}

fn refs(p: &Params) -> Vec<&(dyn ToSql + Sync)> {
    p.iter().map(|b| &**b as &(dyn ToSql + Sync)).collect()
}

async fn commit_batch(pool: &AnyPool, batch: &mut Vec<Box<dyn Job>>) {
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => {
            let e = ApiError::from(e);
            for job in batch.drain(..) {
                job.answer(Err(e.clone()));
            }
            return;
        }
    };
    let mut all = true;
    for job in batch.iter_mut() {
        if !job.run(&mut tx).await {
            all = false;
            break;
        }
    }
    if all {
        let outcome = tx.commit().await.map_err(ApiError::from);
        for job in batch.drain(..) {
            job.answer(outcome.clone());
        }
        return;
    }
    // Nothing of this batch was committed; each job again, on its own.
    let _ = tx.rollback().await;
    for job in batch.drain(..) {
        alone(pool, job).await;
    }
}

/// One job in a transaction of its own, as without a writer.
async fn alone(pool: &AnyPool, mut job: Box<dyn Job>) {
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => return job.answer(Err(e.into())),
    };
    if job.run(&mut tx).await {
        let outcome = tx.commit().await.map_err(ApiError::from);
        job.answer(outcome);
    } else {
        // The job's own result (a replay, a duplicate, an error) is its
        // answer; a failed rollback loses nothing that was promised.
        let _ = tx.rollback().await;
        job.answer(Ok(()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::any::AnyPoolOptions;
    use tokio::sync::oneshot;

    /// Row `x` as another connection sees it.
    async fn stored(pool: &AnyPool, table: &str, x: i64) -> Option<i64> {
        sqlx::query_scalar(&format!("SELECT x FROM {table} WHERE x = $1"))
            .bind(x)
            .fetch_optional(pool)
            .await
            .unwrap()
    }

    type Answered = tokio::task::JoinHandle<(i64, Result<i64, u16>, Option<i64>)>;

    /// Jobs x % 10 == 3 were refused (409) and 7 failed (500), neither
    /// stored; every other one was answered with its x after it was stored.
    async fn check_answers(tasks: Vec<Answered>) {
        for t in tasks {
            let (x, r, seen) = t.await.unwrap();
            match x % 10 {
                3 => assert_eq!((r, seen), (Err(409), None)),
                7 => assert_eq!((r, seen), (Err(500), None)),
                _ => assert_eq!((r, seen), (Ok(x), Some(x))),
            }
        }
    }

    const UNUSED: PipelineSql = PipelineSql {
        first: "SELECT 1",
        second: "SELECT 1",
    };

    struct Insert {
        table: String,
        x: i64,
        result: Option<ApiResult<i64>>,
        reply: oneshot::Sender<ApiResult<i64>>,
    }

    impl Job for Insert {
        fn run<'a>(&'a mut self, tx: &'a mut Transaction<'static, Any>) -> BoxFut<'a, bool> {
            Box::pin(async move {
                let r = sqlx::query(&format!("INSERT INTO {} (x) VALUES ($1)", self.table))
                    .bind(self.x)
                    .execute(&mut **tx)
                    .await;
                let r = match (r, self.x % 10) {
                    (Err(e), _) => Err(ApiError::from(e)),
                    // Writes, then refuses: its row must not stay.
                    (Ok(_), 3) => Err(ApiError::conflict("test", "refused")),
                    // Writes, then breaks the transaction for the batch.
                    (Ok(_), 7) => sqlx::query("SELECT no_such_column")
                        .execute(&mut **tx)
                        .await
                        .map(|_| self.x)
                        .map_err(ApiError::from),
                    (Ok(_), _) => Ok(self.x),
                };
                let ok = r.is_ok();
                self.result = Some(r);
                ok
            })
        }

        fn answer(self: Box<Self>, commit: ApiResult<()>) {
            let this = *self;
            let r = match this.result {
                Some(r) => commit.and(r),
                None => Err(ApiError::internal("not run")),
            };
            let _ = this.reply.send(r);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_jobs_roll_back_alone_and_answers_follow_commits() {
        let Ok(url) = std::env::var("SOFTPOS_TEST_POSTGRES_URL") else {
            eprintln!("notice: SOFTPOS_TEST_POSTGRES_URL not set; skipped");
            return;
        };
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .connect(&url)
            .await
            .unwrap();
        let table = format!(
            "pg_writer_test_{}",
            hex::encode(crate::util::random_bytes::<6>())
        );
        sqlx::query(&format!("CREATE TABLE {table} (x BIGINT PRIMARY KEY)"))
            .execute(&pool)
            .await
            .unwrap();
        let w = PgWriter::start(pool.clone(), &url, UNUSED, 2)
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for x in 0..300i64 {
            let (w, pool, table) = (w.clone(), pool.clone(), table.clone());
            tasks.push(tokio::spawn(async move {
                let (reply, answer) = oneshot::channel();
                let job = Insert {
                    table: table.clone(),
                    x,
                    result: None,
                    reply,
                };
                // Few keys, so batches hold several jobs.
                w.submit(&format!("k{}", x % 3), Box::new(job))
                    .await
                    .unwrap();
                let r = answer.await.unwrap();
                // Answered: the row is visible to another connection.
                (
                    x,
                    r.map_err(|e| e.status.as_u16()),
                    stored(&pool, &table, x).await,
                )
            }));
        }
        check_answers(tasks).await;
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(n, 240);
        sqlx::query(&format!("DROP TABLE {table}"))
            .execute(&pool)
            .await
            .unwrap();
    }

    /// Inserts a row that records how many rows of its key it saw first.
    struct Counted {
        key: String,
        x: i64,
        seen: Option<i64>,
        result: Option<ApiResult<i64>>,
        reply: Option<oneshot::Sender<ApiResult<i64>>>,
    }

    impl PipelinedJob for Counted {
        fn key(&self) -> &str {
            &self.key
        }
        fn first(&self) -> Params {
            vec![Box::new(self.key.clone())]
        }
        fn after_first(&mut self, row: Result<Row, tokio_postgres::Error>) -> Option<Params> {
            let seen = match row.and_then(|r| r.try_get::<_, i64>(0)) {
                Ok(n) => n,
                Err(e) => {
                    self.result = Some(Err(pg_error(e)));
                    return None;
                }
            };
            if self.x % 10 == 3 {
                // Refused after reading (as a replayed nonce is).
                self.result = Some(Err(ApiError::conflict("test", "refused")));
                return None;
            }
            self.seen = Some(seen);
            // x % 10 == 7: a NULL key breaks the statement, and the batch.
            let key: Option<String> = (self.x % 10 != 7).then(|| self.key.clone());
            Some(vec![Box::new(key), Box::new(self.x), Box::new(seen)])
        }
        fn after_second(&mut self, done: Result<u64, tokio_postgres::Error>) {
            self.result = Some(done.map(|_| self.x).map_err(pg_error));
        }
        fn answer(mut self: Box<Self>, commit: ApiResult<()>) {
            let r = match self.result.take() {
                Some(r) => commit.and(r),
                None => Err(ApiError::internal("not run")),
            };
            if let Some(reply) = self.reply.take() {
                let _ = reply.send(r);
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pipelined_batches_see_earlier_payments_of_their_key_and_fail_alone() {
        let Ok(url) = std::env::var("SOFTPOS_TEST_POSTGRES_URL") else {
            eprintln!("notice: SOFTPOS_TEST_POSTGRES_URL not set; skipped");
            return;
        };
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .connect(&url)
            .await
            .unwrap();
        let table = format!(
            "pg_pipeline_test_{}",
            hex::encode(crate::util::random_bytes::<6>())
        );
        sqlx::query(&format!(
            "CREATE TABLE {table} (k TEXT NOT NULL, x BIGINT PRIMARY KEY, seen BIGINT NOT NULL)"
        ))
        .execute(&pool)
        .await
        .unwrap();
        let sql = PipelineSql {
            first: Box::leak(format!("SELECT COUNT(*) FROM {table} WHERE k = $1").into_boxed_str()),
            second: Box::leak(
                format!("INSERT INTO {table} (k, x, seen) VALUES ($1, $2, $3)").into_boxed_str(),
            ),
        };
        let w = PgWriter::start(pool.clone(), &url, sql, 2).await.unwrap();
        let mut tasks = Vec::new();
        for x in 0..300i64 {
            let (w, pool, table) = (w.clone(), pool.clone(), table.clone());
            tasks.push(tokio::spawn(async move {
                let (reply, answer) = oneshot::channel();
                // Few keys, so batches hold several jobs of one key.
                let job = Counted {
                    key: format!("k{}", x % 4),
                    x,
                    seen: None,
                    result: None,
                    reply: Some(reply),
                };
                w.submit_pipelined(Box::new(job)).await.unwrap();
                let r = answer.await.unwrap();
                (
                    x,
                    r.map_err(|e| e.status.as_u16()),
                    stored(&pool, &table, x).await,
                )
            }));
        }
        check_answers(tasks).await;
        // Each payment saw exactly the committed ones of its key before it:
        // per key, the counts seen are 0, 1, 2, ... with none twice.
        for k in 0..4 {
            let seen: Vec<i64> = sqlx::query_scalar(&format!(
                "SELECT seen FROM {table} WHERE k = $1 ORDER BY seen"
            ))
            .bind(format!("k{k}"))
            .fetch_all(&pool)
            .await
            .unwrap();
            assert_eq!(seen, (0..seen.len() as i64).collect::<Vec<_>>(), "key k{k}");
            let stored = (0..300i64).filter(|x| x % 4 == k && x % 10 != 3 && x % 10 != 7);
            assert_eq!(seen.len(), stored.count());
        }
        sqlx::query(&format!("DROP TABLE {table}"))
            .execute(&pool)
            .await
            .unwrap();
    }

    #[test]
    fn urls_choose_tls_as_their_sslmode_says() {
        let tls = |url: &str| Connector::new(url, UNUSED).map(|c| c.tls.is_some());
        assert_eq!(tls("postgres://u:p@db/x?sslmode=disable"), Ok(false));
        assert_eq!(tls("postgres://u:p@db/x"), Ok(true));
        assert_eq!(tls("postgres://u:p@db/x?sslmode=require"), Ok(true));
        let Err(e) = tls("postgres://u:p@db/x?sslmode=verify-full") else {
            panic!("verify-full without a CA was accepted")
        };
        assert!(e.contains("sslrootcert"), "{e}");
        let Err(e) = tls("postgres://u:p@db/x?sslmode=verify-ca&sslrootcert=/no/such/ca.pem")
        else {
            panic!("a missing CA file was accepted")
        };
        assert!(e.contains("/no/such/ca.pem"), "{e}");
        let ca = rcgen::generate_simple_self_signed(vec!["db".into()]).unwrap();
        let path = std::env::temp_dir().join(format!(
            "softpos-ca-{}.pem",
            hex::encode(crate::util::random_bytes::<6>())
        ));
        std::fs::write(&path, ca.cert.pem()).unwrap();
        let url = format!(
            "postgres://u:p@db/x?sslmode=verify-full&sslrootcert={}&application_name=t",
            path.display()
        );
        assert_eq!(tls(&url), Ok(true));
        let Err(e) = tls("postgres://u:p@db/x?no_such_option=1") else {
            panic!("an unknown option was accepted")
        };
        assert!(e.contains("no_such_option"), "{e}");
        let _ = std::fs::remove_file(path);
        // A socket directory replaces the authority's host, keeping its port.
        let (url, _) =
            writer_url("postgres://u:p@localhost:5433/x?host=/var/run/postgresql").unwrap();
        assert_eq!(url, "postgres://u:p@/x?host=/var/run/postgresql&port=5433");
        let c = Connector::new(&url, UNUSED).unwrap();
        assert_eq!(c.config.get_ports(), &[5433]);
        assert_eq!(
            c.config.get_hosts(),
            &[tokio_postgres::config::Host::Unix(
                "/var/run/postgresql".into()
            )]
        );
    }
}
