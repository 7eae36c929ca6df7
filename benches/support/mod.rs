//! What the harness benchmarks share: a coordinator served over real gRPC on loopback,
//! in-process workers that call it, and numbers read from the environment.

use std::sync::Arc;

use jianzhen_coordinator::Controller;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A whole number from the environment variable `name`, or `default` when it is unset or
/// not a number.
pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// A coordinator serving `controller` on a loopback port, and the workers started on it.
pub struct LoopbackCluster {
    url: String,
    stop: watch::Sender<bool>,
    coordinator: JoinHandle<()>,
    workers: Vec<JoinHandle<()>>,
}

impl LoopbackCluster {
    /// Serves `controller` over gRPC on 127.0.0.1, on a port of the system's choosing.
    pub async fn serve(controller: &Arc<Controller>) -> LoopbackCluster {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let (stop, stopped) = watch::channel(false);
        let mut server_stopped = stopped;
        let serving = Arc::clone(controller);
        let coordinator = tokio::spawn(async move {
            let _ = jianzhen_coordinator::serve(listener, serving, async move {
                let _ = server_stopped.changed().await;
            })
            .await;
        });
        LoopbackCluster {
            url,
            stop,
            coordinator,
            workers: Vec::new(),
        }
    }

    /// Starts `count` in-process workers named `{name}-{index}` that may reach loopback
    /// endpoints (the scripted server).
    pub fn start_workers(&mut self, count: usize, name: &str) {
        for index in 0..count {
            let mut config =
                jianzhen_worker::WorkerConfig::new(&self.url, &format!("{name}-{index}"));
            config.egress = jianzhen_worker::egress::EgressPolicy::with_loopback();
            let stopped = self.stop.subscribe();
            self.workers.push(tokio::spawn(async move {
                let _ = jianzhen_worker::run_worker(config, stopped).await;
            }));
        }
    }

    /// Stops the workers and the coordinator and waits for them to end.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for worker in self.workers {
            let _ = worker.await;
        }
        let _ = self.coordinator.await;
    }
}
