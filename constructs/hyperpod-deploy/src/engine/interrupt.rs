//! Ctrl-C and SIGTERM: the first stops the run (no new stack starts, the summary says what
//! was in flight), the second ends the process at once.

use tokio::sync::mpsc;

/// The signals a run listens to, from when it starts.
pub(super) struct Interrupt {
    first: mpsc::UnboundedReceiver<()>,
    received: bool,
}

impl Interrupt {
    /// Listens for SIGINT and SIGTERM. The second signal exits with status 130.
    pub(super) fn listen() -> Interrupt {
        let (sender, first) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let Some(mut signals) = Signals::new() else {
                return;
            };
            signals.next().await;
            println!(
                "stopping: no new stack starts; what CloudFormation is changing goes on there (Ctrl-C again to leave at once)"
            );
            let _ = sender.send(());
            signals.next().await;
            println!("leaving at once");
            std::process::exit(130);
        });
        Interrupt {
            first,
            received: false,
        }
    }

    /// Whether the first signal has arrived, without waiting.
    pub(super) fn stopped(&mut self) -> bool {
        if self.first.try_recv().is_ok() {
            self.received = true;
        }
        self.received
    }

    /// Resolves when the first signal arrives.
    pub(super) async fn first(&mut self) {
        if self.received {
            return;
        }
        if self.first.recv().await.is_none() {
            std::future::pending::<()>().await;
        }
        self.received = true;
    }
}

/// SIGINT and SIGTERM, listened to from when this is made.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// `None` when signals cannot be listened to.
    fn new() -> Option<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Some(Signals {
                interrupt: signal(SignalKind::interrupt()).ok()?,
                terminate: signal(SignalKind::terminate()).ok()?,
            })
        }
        #[cfg(not(unix))]
        {
            Some(Signals {})
        }
    }

    /// The next signal.
    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
