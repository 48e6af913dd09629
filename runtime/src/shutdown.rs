//! Stopping the way Kubernetes expects: SIGTERM (or Ctrl-C) starts a graceful drain —
//! readiness turns false, a delay lets load balancers stop sending traffic, then the
//! listener closes and in-flight requests, streams included, finish.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::oneshot;

/// Resolves on SIGTERM (what Kubernetes sends) or Ctrl-C. The SIGTERM handler is
/// installed by this call, not when the future is first polled: a SIGTERM arriving
/// between binding the listener and awaiting would otherwise kill the process undrained.
/// Call it inside the runtime, before starting the server, and await the one future.
pub fn termination_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let sigterm = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(sigterm) => Some(sigterm),
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the process gracefully");
            None
        }
    };
    async move {
        #[cfg(unix)]
        if let Some(mut sigterm) = sigterm {
            tokio::select! {
                _ = sigterm.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// An axum server in its own task that drains on request; `serve`, `gateway` and
/// `desensitize` all stop through it. Dropping it does not stop the server (a handle
/// going out of scope is not a request to stop); [`GracefulServer::drain`] does.
pub struct GracefulServer {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl GracefulServer {
    /// Serves `app` on `listener`, recording each connection's peer address (handlers
    /// that answer loopback peers only read it).
    pub fn spawn(listener: tokio::net::TcpListener, app: axum::Router) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(async move {
                    if stopped.await.is_err() {
                        std::future::pending::<()>().await;
                    }
                })
                .await
        });
        Self { stop: Some(stop), task }
    }

    /// Sets `draining` (so `/ready` turns 503), waits `delay` for load balancers to stop
    /// sending traffic, then closes the listener and waits for in-flight requests, streams
    /// included, to finish.
    pub async fn drain(mut self, draining: &AtomicBool, delay: Duration) -> std::io::Result<()> {
        draining.store(true, Ordering::Release);
        tracing::info!(delay_seconds = delay.as_secs_f64(), "shutting down: readiness is now false");
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tracing::info!("listener closed; waiting for in-flight requests");
        self.wait().await
    }

    /// Waits until the server task ends (after [`GracefulServer::drain`], or an I/O error).
    pub async fn wait(mut self) -> std::io::Result<()> {
        (&mut self.task).await.map_err(|e| std::io::Error::other(format!("server task failed: {e}")))?
    }
}
