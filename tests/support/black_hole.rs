//! A TCP proxy that can black-hole its connections: a test instrument in front of a real server
//! (Postgres). Bytes pass both ways until `black_hole` is called; from then on the connections
//! open at that moment carry nothing either way and are never closed, as when a network path
//! dies (a failover, a dropped NAT entry) and nothing says so. Connections made later pass.
//!
//! Userspace cannot stop the kernel acknowledging what it receives, so TCP keepalives and
//! `tcp_user_timeout` see a live peer here: what this proves is that the code bounds its own
//! waits, whatever TCP notices.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct BlackHoleProxy {
    pub port: u16,
    /// One flag per connection made so far: set, it carries nothing.
    holes: Arc<Mutex<Vec<Arc<AtomicBool>>>>,
}

impl BlackHoleProxy {
    /// Listens on a free local port, forwarding to `upstream` (host:port).
    pub async fn start(upstream: String) -> BlackHoleProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let port = listener.local_addr().unwrap().port();
        let holes = Arc::new(Mutex::new(Vec::new()));
        let registry = holes.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let hole = Arc::new(AtomicBool::new(false));
                registry.lock().unwrap().push(hole.clone());
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else { return };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::join!(pass(client_read, server_write, &hole), pass(server_read, client_write, &hole));
                });
            }
        });
        BlackHoleProxy { port, holes }
    }

    /// From now on the connections open now carry nothing, and stay open.
    pub fn black_hole(&self) {
        for hole in self.holes.lock().unwrap().iter() {
            hole.store(true, Ordering::SeqCst);
        }
    }
}

/// Copies `from` to `to` until the connection ends, or for ever once `hole` is set (holding both
/// halves, so neither end sees it close).
async fn pass(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, hole: &AtomicBool) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        if hole.load(Ordering::SeqCst) {
            // Both halves stay owned by this future, so neither end sees the connection close.
            std::future::pending::<()>().await;
        }
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if hole.load(Ordering::SeqCst) {
            continue; // swallowed: the hole opened while it was on its way
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}
