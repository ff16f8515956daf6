//! Forwarding lanes: one OS thread per core, each running a current-thread tokio runtime with
//! its own upstream connection pool. The accept loop hands each new client connection to the
//! next lane, and everything that connection does (its TLS, hyper's server, the upstream
//! request on a pooled connection of that lane, the body frames both ways) then stays on that
//! one thread: no work stealing, no cross-thread wake-up per request or per body frame. On two
//! cores that took the 64 KiB static path from 0.83–1.03× nginx's pace to 0.95–1.39×
//! (BENCHMARKS.md); the price is that one very busy connection cannot use more than one core.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The running lanes. Dropping it leaves them running; [`Lanes::stop`] ends them.
pub struct Lanes {
    handles: Vec<Handle>,
    next: AtomicUsize,
    stops: Vec<oneshot::Sender<()>>,
}

impl Lanes {
    /// Starts `n` lanes (at least one).
    pub fn start(n: usize) -> std::io::Result<Lanes> {
        let mut handles = Vec::new();
        let mut stops = Vec::new();
        for i in 0..n.max(1) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            handles.push(rt.handle().clone());
            let (stop, stopped) = oneshot::channel::<()>();
            stops.push(stop);
            std::thread::Builder::new().name(format!("oidc-tap-lane-{i}")).spawn(move || {
                // Runs the lane's tasks until told to stop (or the gateway is gone); dropping
                // the runtime here ends whatever is left (idle pooled upstream connections).
                let _ = rt.block_on(stopped);
                rt.shutdown_background();
            })?;
        }
        Ok(Lanes { handles, next: AtomicUsize::new(0), stops })
    }

    /// How many lanes run.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Always false: there is at least one lane.
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// The runtime of lane `i`.
    pub fn handle(&self, i: usize) -> &Handle {
        &self.handles[i % self.handles.len()]
    }

    /// The lane the next connection goes to (in turn: connections are long-lived and alike).
    pub fn pick(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len()
    }

    /// Ends every lane (after the connections were closed or given up on).
    pub fn stop(self) {
        for s in self.stops {
            let _ = s.send(());
        }
    }
}

/// The number of lanes for this machine: one per core the process may use.
pub fn default_count() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_go_to_the_lanes_in_turn_and_run_there() {
        let lanes = Lanes::start(2).unwrap();
        let picks: Vec<usize> = (0..5).map(|_| lanes.pick()).collect();
        assert_eq!(picks, [0, 1, 0, 1, 0]);
        let names: Vec<String> = (0..2)
            .map(|i| {
                let (tx, rx) = std::sync::mpsc::channel();
                lanes.handle(i).spawn(async move {
                    tx.send(std::thread::current().name().unwrap_or("").to_owned()).unwrap();
                });
                rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap()
            })
            .collect();
        assert_eq!(names, ["oidc-tap-lane-0", "oidc-tap-lane-1"]);
        lanes.stop();
    }
}
